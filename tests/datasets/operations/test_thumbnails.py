"""The thumbnail encoder checks the bytes it was given before decoding a pixel, whatever an import
read from the object's header earlier (the worker's thumbnails) or the browser said (uploads, which
make theirs in the request), and Pillow itself refuses more pixels than the console takes."""

import os
import resource
import subprocess
import sys

import pytest
from django.conf import settings

from customlabels.s3 import parse_location
from datasets.imports import s3_folder
from datasets.models import Image
from datasets.operations import thumbnails
from tests.factories import DatasetFactory

from ..support import black_png, png_bytes, png_declaring, post_files, seed

pytestmark = pytest.mark.django_db

MB = 1024 * 1024


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux counts kilobytes


def imported(project, bucket: str, key: str) -> Image:
    """The image of `key` as the import leaves it: its header read, its thumbnail still to make."""
    dataset = s3_folder.dataset_create_from_s3(
        project=project, name="swapped", location=parse_location(f"s3://{bucket}/"), auto_label=False
    )
    job = dataset.import_jobs.get()
    s3_folder.import_list(job_id=job.pk)
    for chunk in job.chunks.all():
        s3_folder.import_chunk(chunk_id=chunk.pk)
    image = Image.objects.get(dataset=dataset, file_name=key)
    assert (image.width, image.height, image.error_code, image.needs_thumbnail) == (100, 100, "", True)
    return image


def test_an_object_swapped_for_a_13000_pixel_png_after_its_header_was_read_is_refused_undecoded(
    console_bucket, project, s3, make_bucket
):
    bucket = make_bucket("source")
    seed(s3, bucket, {"photo.png": png_bytes(100, 100)})
    image = imported(project, bucket, "photo.png")
    bomb = black_png(13_000, 13_000)  # half a megabyte; half a gigabyte of pixels once decoded
    assert len(bomb) < MB
    seed(s3, bucket, {"photo.png": bomb})

    before = peak_rss_bytes()
    made = thumbnails.images_thumbnails_make(image_ids=[image.pk])
    grown = peak_rss_bytes() - before

    assert made == 0
    image.refresh_from_db()
    message = "The image is invalid: it is 13000×13000 pixels; each side must be 64 to 4096 pixels."
    assert (image.error_code, image.error_message) == ("ERROR_INVALID_IMAGE", message)
    assert image.problems[0] == {"code": "ERROR_INVALID_IMAGE", "message": message, "level": "error"}
    assert not image.needs_thumbnail and not image.thumbnail_key
    assert grown < 100 * MB, f"making the thumbnail took the process {grown / MB:.0f} MB higher"


def test_an_uploaded_13000_pixel_png_is_refused_with_its_size_and_never_decoded(client_user, user, console_bucket, s3):
    dataset = DatasetFactory(project__owner=user, name="devices")
    bomb = black_png(13_000, 13_000)

    before = peak_rss_bytes()
    response = post_files(client_user, dataset, [("bomb.png", bomb)])
    grown = peak_rss_bytes() - before

    message = "The image is invalid: it is 13000×13000 pixels; each side must be 64 to 4096 pixels."
    assert response.json()["files"] == [{"name": "bomb.png", "ok": False, "message": message, "image_id": None}]
    assert not s3.list_objects_v2(Bucket=console_bucket.name).get("Contents")
    assert grown < 100 * MB, f"the upload took the process {grown / MB:.0f} MB higher"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (png_bytes(100, 100, text="x" * 16 * MB), "The image is invalid: the file is 16.0 MB; the maximum is 15 MB."),
        (png_declaring(5000, 10), "The image is invalid: it is 5000×10 pixels; each side must be 64 to 4096 pixels."),
        (b"Meeting notes, saved over the photo.\n" * 8, "The image is invalid: the file is not a PNG or JPEG image."),
    ],
    ids=["grown past 15 MB", "now 5000x10", "now text"],
)
def test_an_object_changed_after_its_header_was_read_is_checked_as_it_is_now(
    console_bucket, project, s3, make_bucket, body, message
):
    bucket = make_bucket("source")
    seed(s3, bucket, {"photo.png": png_bytes(100, 100)})
    image = imported(project, bucket, "photo.png")
    seed(s3, bucket, {"photo.png": body})

    assert thumbnails.images_thumbnails_make(image_ids=[image.pk]) == 0

    image.refresh_from_db()
    assert (image.error_code, image.error_message) == ("ERROR_INVALID_IMAGE", message)
    assert not image.needs_thumbnail and not image.thumbnail_key


def test_the_other_images_of_the_batch_still_get_their_thumbnails(console_bucket, project, s3, make_bucket):
    bucket = make_bucket("source")
    seed(s3, bucket, {"photo.png": png_bytes(100, 100), "other.png": png_bytes(100, 100, color="green")})
    image = imported(project, bucket, "photo.png")
    other = Image.objects.get(dataset=image.dataset, file_name="other.png")
    seed(s3, bucket, {"photo.png": png_bytes(100, 100, text="x" * 16 * MB)})

    assert thumbnails.images_thumbnails_make(image_ids=[image.pk, other.pk]) == 1

    other.refresh_from_db()
    assert other.thumbnail_key and not other.error_code


def test_a_thumbnail_is_made_with_the_perceptual_hash_of_its_pixels(console_bucket, project, s3, make_bucket):
    bucket = make_bucket("source")
    data = png_bytes(100, 100, color="green", text="hash me")
    seed(s3, bucket, {"photo.png": data})
    image = imported(project, bucket, "photo.png")

    assert thumbnails.images_thumbnails_make(image_ids=[image.pk]) == 1

    image.refresh_from_db()
    assert image.phash == thumbnails.thumbnail_make(data)[1] and len(image.phash) == 16


PILLOW_IN_A_STARTED_PROCESS = """
import io, sys
import django
django.setup()
from PIL import Image
Image.open(io.BytesIO(sys.stdin.buffer.read()))
print(Image.MAX_IMAGE_PIXELS)
"""


def open_after_django_setup(data: bytes) -> subprocess.CompletedProcess:
    """Pillow opening `data` in a fresh process set up as the web server and the workers are (pytest
    itself drops warning filters set while it starts, so this is checked in a process of its own)."""
    return subprocess.run(
        [sys.executable, "-c", PILLOW_IN_A_STARTED_PROCESS],
        input=data,
        cwd=settings.BASE_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "customlabels.settings"},
        capture_output=True,
        timeout=60,
    )


def test_pillow_opens_the_largest_image_the_console_takes():
    result = open_after_django_setup(png_declaring(4096, 4096))

    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode().strip() == str(4096 * 4096)


def test_pillow_refuses_to_open_more_pixels_than_the_console_takes():
    result = open_after_django_setup(png_declaring(4097, 4096))

    assert result.returncode != 0
    assert "DecompressionBombWarning: Image size (16781312 pixels) exceeds limit of 16777216 pixels" in (
        result.stderr.decode()
    )


def test_the_encoder_refuses_a_file_beyond_the_limits_with_its_reason():
    with pytest.raises(thumbnails.ImageUnusable, match="it is 13000×13000 pixels"):
        thumbnails.thumbnail_encode(black_png(13_000, 13_000))


def test_a_thumbnail_keeps_the_aspect_ratio_with_its_longest_side_256_and_never_enlarges():
    assert thumbnails.thumbnail_size(640, 480) == (256, 192)
    assert thumbnails.thumbnail_size(480, 4000) == (31, 256)
    assert thumbnails.thumbnail_size(100, 80) == (100, 80)
    assert thumbnails.thumbnail_size(4096, 205) == (256, 13)
