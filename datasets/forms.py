from django import forms

from customlabels import s3_names
from projects.models import project_name_validator

from .errors import DatasetError
from .imports.manifest import manifest_location_parse
from .models import Dataset

S3_EXAMPLE = "s3://{bucket}/alexa-devices/"

# Far past any image side (4096 px), and small enough that left + width stays a finite number.
MAX_PIXELS = 1_000_000


def _dataset_name(label: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=255,
        validators=[project_name_validator],
        help_text="Up to 255 characters: letters, digits, underscores (_), periods (.) and hyphens (-).",
    )


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
            return s3_names.parse_location(self.cleaned_data["s3_location"])
        except s3_names.S3LocationInvalid as exc:
            raise forms.ValidationError(str(exc)) from exc


class DatasetCreateForm(S3FolderForm):
    """The Create dataset page: a name and one of the four image locations of the console (spec §2.3).

    Only the chosen location's fields are required; the others are ignored, so a browser without
    JavaScript (which shows every section) submits the same form.
    """

    S3 = "s3"
    UPLOAD = "upload"
    MANIFEST = "manifest"
    COPY = "copy"
    IMAGE_LOCATIONS = [
        (S3, "Import images from S3 bucket"),
        (UPLOAD, "Upload images from your computer"),
        (MANIFEST, "Import images labeled by SageMaker Ground Truth"),
        (COPY, "Copy an existing Amazon Rekognition Custom Labels dataset"),
    ]

    name = _dataset_name("Dataset name")
    image_location = forms.ChoiceField(
        label="Image location", choices=IMAGE_LOCATIONS, initial=S3, widget=forms.RadioSelect
    )
    manifest_location = forms.CharField(
        label=".manifest file location",
        max_length=2048,
        required=False,
        help_text="The S3 URI of the manifest file, for example s3://bucket/Ground-Truth-Job-Name/manifests/output/output.manifest",
        widget=forms.TextInput(attrs={"spellcheck": "false", "autocomplete": "off"}),
    )
    source_dataset = forms.ModelChoiceField(
        label="Dataset",
        queryset=None,
        required=False,
        empty_label="Choose a dataset",
        help_text="The dataset to copy: its images, labels and bounding boxes.",
    )

    field_order = ["name", "image_location", "s3_location", "auto_label", "manifest_location", "source_dataset"]

    def __init__(self, *args, copyable, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["s3_location"].required = False
        self.fields["source_dataset"].queryset = copyable
        self.fields["source_dataset"].label_from_instance = lambda d: f"{d.name} (project {d.project.name})"

    def clean_s3_location(self):
        if self.data.get("image_location", self.S3) != self.S3:
            return None
        if not self.cleaned_data.get("s3_location", "").strip():
            raise forms.ValidationError("Enter the S3 folder location of your images.")
        return super().clean_s3_location()

    def clean_manifest_location(self):
        if self.data.get("image_location") != self.MANIFEST:
            return None
        try:
            return manifest_location_parse(self.cleaned_data.get("manifest_location", ""))
        except DatasetError as exc:
            raise forms.ValidationError(str(exc)) from exc

    def clean_source_dataset(self):
        source = self.cleaned_data.get("source_dataset")
        if self.data.get("image_location") == self.COPY and source is None:
            raise forms.ValidationError("Choose the dataset to copy.")
        return source


class LabelImportForm(forms.Form):
    source = forms.ModelChoiceField(
        label="Dataset to import labels from", queryset=None, empty_label="Choose a dataset"
    )

    def __init__(self, *args, sources, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["source"].queryset = sources
        self.fields["source"].label_from_instance = lambda d: f"{d.project.name} / {d.name}"


class DatasetSplitForm(forms.Form):
    name = _dataset_name("Test dataset name")


def _pixels() -> forms.FloatField:
    return forms.FloatField(
        min_value=-MAX_PIXELS,
        max_value=MAX_PIXELS,
        error_messages={
            "min_value": "must be at least %(limit_value)s pixels.",
            "max_value": "must be at most %(limit_value)s pixels.",
        },
    )


class BoxForm(forms.Form):
    """A box as posted by the box editor, in image pixels. `partial` leaves out what is not changing."""

    label = forms.ModelChoiceField(
        queryset=None,
        error_messages={
            "required": "Choose a label for the bounding box.",
            "invalid_choice": "Choose a label of this dataset.",
        },
    )
    left = _pixels()
    top = _pixels()
    width = _pixels()
    height = _pixels()

    def __init__(self, *args, dataset: Dataset, partial: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["label"].queryset = dataset.labels.all()
        for field in self.fields.values():
            field.required = not partial

    def first_error(self) -> str:
        name, errors = next(iter(self.errors.items()))
        message = errors[0]
        return message if name in ("label", "__all__") else f"{name}: {message}"


class VersionCreateForm(forms.Form):
    name = forms.CharField(
        label="Version name",
        max_length=255,
        help_text="Up to 255 characters, for example v1 or before-relabeling.",
    )

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if not name or any(ord(c) < 0x20 for c in name):
            raise forms.ValidationError("Enter a version name of visible characters.")
        return name


class VersionRestoreForm(forms.Form):
    name = _dataset_name("New dataset name")


class VersionCompareForm(forms.Form):
    """Two sides to compare: versions of the dataset by id, or "now" for the dataset as it is."""

    before = forms.ChoiceField(label="Compare")
    after = forms.ChoiceField(label="with")

    def __init__(self, *args, versions, **kwargs):
        super().__init__(*args, **kwargs)
        choices = [(str(v.pk), v.name) for v in versions] + [("now", "Now (the dataset as it is)")]
        self.fields["before"].choices = choices
        self.fields["after"].choices = choices
