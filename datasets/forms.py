from django import forms

from customlabels import s3
from projects.models import project_name_validator

S3_EXAMPLE = "s3://{bucket}/alexa-devices/"


class S3FolderForm(forms.Form):
    s3_location = forms.CharField(
        label="S3 folder location",
        max_length=2048,
        widget=forms.TextInput(attrs={"spellcheck": "false", "autocomplete": "off"}),
    )
    auto_label = forms.BooleanField(
        label="Automatically attach a label to my images based on the folder they're stored in",
        required=False,
    )

    def __init__(self, *args, example_bucket: str = "bucket", **kwargs):
        super().__init__(*args, **kwargs)
        example = S3_EXAMPLE.format(bucket=example_bucket)
        self.fields["s3_location"].help_text = f"For example, {example}"
        self.fields["s3_location"].widget.attrs["placeholder"] = example

    def clean_s3_location(self):
        try:
            return s3.parse_location(self.cleaned_data["s3_location"])
        except s3.S3LocationInvalid as exc:
            raise forms.ValidationError(str(exc)) from exc


class DatasetCreateForm(S3FolderForm):
    IMAGE_LOCATIONS = [("s3", "Import images from S3 bucket")]

    name = forms.CharField(
        label="Dataset name",
        max_length=255,
        validators=[project_name_validator],
        help_text="Up to 255 characters: letters, digits, underscores (_), periods (.) and hyphens (-).",
    )
    image_location = forms.ChoiceField(
        label="Image location", choices=IMAGE_LOCATIONS, initial="s3", widget=forms.RadioSelect
    )

    field_order = ["name", "image_location", "s3_location", "auto_label"]


class LabelImportForm(forms.Form):
    source = forms.ModelChoiceField(
        label="Dataset to import labels from", queryset=None, empty_label="Choose a dataset"
    )

    def __init__(self, *args, sources, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["source"].queryset = sources
        self.fields["source"].label_from_instance = lambda d: f"{d.project.name} / {d.name}"
