from django import forms

from .models import project_name_validator


class ProjectCreateForm(forms.Form):
    name = forms.CharField(
        label="Project name",
        max_length=255,
        validators=[project_name_validator],
        help_text="Up to 255 characters: letters, digits, underscores (_), periods (.) and hyphens (-).",
        widget=forms.TextInput(attrs={"autofocus": True, "placeholder": "my-project"}),
    )


class ConfirmDeleteForm(forms.Form):
    confirm = forms.CharField(label="To confirm deletion, type delete in the field.", max_length=16)

    def clean_confirm(self):
        value = self.cleaned_data["confirm"].strip()
        if value != "delete":
            raise forms.ValidationError("Type delete to confirm.")
        return value
