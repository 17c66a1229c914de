from django import forms

from customlabels import s3_names
from projects.models import project_name_validator

from .errors import DatasetError
from .imports.format_files import FORMATS, format_location_parse
from .imports.manifest import manifest_location_parse
from .models import Dataset, DatasetExport

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


FORMAT_LOCATION = "Import from COCO, YOLO, Pascal VOC or CSV files"


class FormatFilesMixin(forms.Form):
    """The format and S3 location of COCO, YOLO, Pascal VOC or CSV files, read when the image
    location `FORMAT` is chosen."""

    FORMAT = "format"

    format = forms.ChoiceField(
        label="Format",
        choices=[(key, name) for key, (name, _) in FORMATS.items()],
        initial="COCO",
        required=False,
    )
    format_location = forms.CharField(
        label="S3 location of the files",
        max_length=2048,
        required=False,
        help_text="COCO: the .json file. YOLO: the data.yaml file. Pascal VOC: the folder that holds Annotations/. "
        "CSV: the .csv file (columns image, label and optionally left, top, box_width, box_height). Images are "
        "read where they are: an s3:// URI, or a path relative to the file's folder.",
        widget=forms.TextInput(attrs={"spellcheck": "false", "autocomplete": "off"}),
    )

    def clean_format_location(self):
        if self.data.get("image_location") != self.FORMAT:
            return None
        try:
            return format_location_parse(
                fmt=self.data.get("format", ""), value=self.cleaned_data.get("format_location")
            )
        except DatasetError as exc:
            raise forms.ValidationError(str(exc)) from exc


class AddImagesForm(FormatFilesMixin, S3FolderForm):
    """Add images from S3: an S3 folder, or COCO, YOLO, Pascal VOC or CSV files."""

    S3 = "s3"
    image_location = forms.ChoiceField(
        label="Image location",
        choices=[(S3, "Import images from S3 bucket"), (FormatFilesMixin.FORMAT, FORMAT_LOCATION)],
        initial=S3,
        widget=forms.RadioSelect,
        required=False,
    )
    field_order = ["image_location", "s3_location", "auto_label", "format", "format_location"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["s3_location"].required = self.data.get("image_location") != self.FORMAT

    def clean_s3_location(self):
        if self.data.get("image_location") == self.FORMAT:
            return None
        return super().clean_s3_location()


class DatasetCreateForm(FormatFilesMixin, S3FolderForm):
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
        (FormatFilesMixin.FORMAT, FORMAT_LOCATION),
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

    field_order = [
        "name",
        "image_location",
        "s3_location",
        "auto_label",
        "manifest_location",
        "source_dataset",
        "format",
        "format_location",
    ]

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


class DatasetExportForm(forms.Form):
    """Export dataset: the format, labels only or with the images, a download or an S3 folder."""

    LABELS = "labels"
    IMAGES = "images"
    format = forms.ChoiceField(
        label="Format",
        choices=DatasetExport.Format.choices,
        initial=DatasetExport.Format.COCO,
        widget=forms.RadioSelect,
    )
    contents = forms.ChoiceField(
        label="Contents",
        choices=[
            (LABELS, "Labels only (images referred to by their S3 URIs)"),
            (IMAGES, "Labels and images"),
        ],
        initial=LABELS,
        widget=forms.RadioSelect,
    )
    destination = forms.ChoiceField(
        label="Deliver as",
        choices=DatasetExport.Destination.choices,
        initial=DatasetExport.Destination.DOWNLOAD,
        widget=forms.RadioSelect,
    )
    s3_location = forms.CharField(
        label="S3 folder to write to",
        max_length=2048,
        required=False,
        help_text="A folder you may write to (S3 access page), for example s3://bucket/exports/my-dataset/.",
        widget=forms.TextInput(attrs={"spellcheck": "false", "autocomplete": "off"}),
    )
    val_percent = forms.IntegerField(
        label="Images in the val split (%)",
        min_value=1,
        max_value=50,
        initial=20,
        required=False,
        help_text="YOLO: the project has no training and test dataset pair, so this share of the images "
        "goes to val, the rest to train.",
    )

    def clean_s3_location(self):
        if self.data.get("destination") != DatasetExport.Destination.S3:
            return None
        try:
            return s3_names.parse_location(self.cleaned_data.get("s3_location", ""))
        except s3_names.S3LocationInvalid as exc:
            raise forms.ValidationError(str(exc)) from exc

    def clean_val_percent(self):
        return self.cleaned_data.get("val_percent") or 20


class LabelImportForm(forms.Form):
    source = forms.ModelChoiceField(
        label="Dataset to import labels from", queryset=None, empty_label="Choose a dataset"
    )

    def __init__(self, *args, sources, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["source"].queryset = sources
        self.fields["source"].label_from_instance = lambda d: f"{d.project.name} / {d.name}"


class DatasetUseAsForm(forms.Form):
    dataset_type = forms.ChoiceField(label="Use as", choices=[("TRAIN", "Training dataset"), ("TEST", "Test dataset")])


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
