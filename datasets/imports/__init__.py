"""Every way images come into a dataset: one module per source on the pipeline of jobs.py.

The views call only dataset_create and images_add. A new source is a module here whose job starts
with jobs.job_start (its first task named in jobs.START_TASKS) and a branch in each function below.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.core.files.uploadedfile import UploadedFile

from customlabels import s3_names
from projects.models import Project
from projects.s3_access import UserS3

from .. import services
from ..errors import DatasetError
from ..models import Dataset, ImportJob
from . import copy, format_files, manifest, s3_folder, upload

# Where the images of a new dataset come from (the create form's choices).
S3 = "s3"
UPLOAD = "upload"
MANIFEST = "manifest"
COPY = "copy"
FORMAT = "format"


def dataset_create(
    *,
    project: Project,
    user,
    name: str,
    source: str,
    s3_location: s3_names.S3Location | None = None,
    auto_label: bool = False,
    manifest_location: manifest.ManifestLocation | None = None,
    source_dataset: Dataset | None = None,
    format_location: format_files.FormatLocation | None = None,
    **fields,
) -> Dataset:
    """Check the source as the console does before creating anything, then create the dataset and
    queue its import once the transaction commits (an upload's dataset is empty and complete at once).
    `fields` are more of the new dataset's (its dataset_type, whether it is the project's, its tags).

    Raises s3_names.S3Error (the user has no access to the location — S3AccessRefused —, or the folder's or
    the manifest's bucket or object can't be read) or DatasetError
    with the form field it concerns (s3_location, manifest_location, format_location, source, name).
    """
    if source == S3:
        s3_folder.s3_folder_check(location=s3_location, reader=UserS3(user.pk))
        return s3_folder.dataset_create_from_s3(
            project=project, name=name, location=s3_location, auto_label=auto_label, **fields
        )
    if source == UPLOAD:
        return upload.dataset_create_empty(project=project, name=name, **fields)
    if source == MANIFEST:
        manifest.manifest_check(location=manifest_location, reader=UserS3(user.pk))
        return manifest.dataset_create_from_manifest(project=project, name=name, location=manifest_location, **fields)
    if source == FORMAT:
        format_files.format_check(location=format_location, reader=UserS3(user.pk))
        return format_files.dataset_create_from_format(project=project, name=name, location=format_location, **fields)
    return copy.dataset_create_copy(project=project, name=name, source=source_dataset, user=user, **fields)


def images_add(
    *,
    dataset: Dataset,
    user,
    source: str,
    s3_location: s3_names.S3Location | None = None,
    auto_label: bool = False,
    manifest_location: manifest.ManifestLocation | None = None,
    files: Sequence[UploadedFile] = (),
    batch: str = "",
    format_location: format_files.FormatLocation | None = None,
) -> ImportJob | upload.UploadResult:
    """Add images to the dataset: queue the import of an S3 folder's new keys or of a manifest's new
    source-refs (the ImportJob), or store uploaded files at once (the UploadResult, file by file).

    Raises s3_names.S3Error or DatasetError (on s3_location or manifest_location for the source's check;
    without a field while the dataset is being created or updated or was never created, before S3 is
    asked anything, or for refused uploads).
    """
    if source == UPLOAD:
        return upload.images_upload(dataset=dataset, user=user, files=files, batch=batch)
    if refusal := services.dataset_update_refusal(dataset=Dataset.objects.get(pk=dataset.pk)):
        raise DatasetError(refusal)
    reader = UserS3(user.pk)
    if source == MANIFEST:
        manifest.manifest_check(location=manifest_location, reader=reader)
        return manifest.dataset_add_images_from_manifest(dataset=dataset, location=manifest_location)
    if source == FORMAT:
        format_files.format_check(location=format_location, reader=reader)
        return format_files.dataset_add_images_from_format(dataset=dataset, location=format_location)
    s3_folder.s3_folder_check(location=s3_location, reader=reader)
    return s3_folder.dataset_add_images_from_s3(dataset=dataset, location=s3_location, auto_label=auto_label)
