"""Helpers for the dataset tests: real image files (made with Pillow, or by hand where Pillow
will not), the spec's alexa-devices folder tree, seeding a bucket, waiting for the worker, reading the
dataset pages, building datasets as the services leave them, and posting files to Add images."""

import functools
import io
import struct
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Prefetch
from django.urls import reverse
from PIL import Image as PILImage
from PIL import PngImagePlugin

from datasets import services
from datasets.models import BoundingBox, Dataset, Image, ImageLabel, ImportJob, Label
from projects import console_storage
from tests.factories import DatasetFactory, ImageFactory, ImportJobFactory

from .dom import Node, parse


def png_bytes(width: int, height: int, *, color: str = "red", text: str = "") -> bytes:
    """A PNG of the given size; `text` goes into a tEXt chunk, which Pillow writes before the pixels."""
    info = PngImagePlugin.PngInfo()
    if text:
        info.add_text("comment", text)
    out = io.BytesIO()
    PILImage.new("RGB", (width, height), color).save(out, "PNG", pnginfo=info)
    return out.getvalue()


def jpeg_bytes(width: int, height: int, *, color: str = "blue") -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", (width, height), color).save(out, "JPEG", quality=90)
    return out.getvalue()


def noisy_jpeg_bytes(width: int, height: int) -> bytes:
    """A JPEG whose entropy-coded body is large, so cutting it leaves a valid header and no pixels."""
    img = PILImage.effect_noise((width, height), 80).convert("RGB")
    out = io.BytesIO()
    img.save(out, "JPEG", quality=95)
    return out.getvalue()


def truncated_jpeg_bytes(width: int, height: int) -> bytes:
    """A JPEG with its whole header (up to the start of scan) and only a sliver of its pixel data."""
    data = noisy_jpeg_bytes(width, height)
    start_of_scan = data.index(b"\xff\xda")
    return data[: start_of_scan + 200]


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


def png_declaring(width: int, height: int) -> bytes:
    """A tiny, well-formed PNG file whose header declares `width`×`height` (no real pixels to decode)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b""))
        + _png_chunk(b"IEND", b"")
    )


@functools.cache
def black_png(width: int, height: int) -> bytes:
    """A real RGB PNG of black pixels, made with zlib row by row: every row compresses to almost
    nothing, so a 13,000×13,000 one is half a megabyte to send and half a gigabyte decoded."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    packer = zlib.compressobj(9)
    row = bytes(1 + width * 3)  # filter type 0, then the row's pixels
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


@dataclass(frozen=True)
class SourceObject:
    """An object of the source bucket and what the import should make of it."""

    body: bytes
    label: str | None = None
    width: int | None = None
    height: int | None = None
    format: str = ""
    error_code: str = ""
    error_words: str = ""  # words the image's error message must contain


INVALID = "ERROR_INVALID_IMAGE"

# The example folder tree of spec §3, plus the awkward objects a real bucket holds.
ALEXA_DEVICES = {
    "alexa-devices/echo/": SourceObject(b""),
    "alexa-devices/echo/echo-image-1.png": SourceObject(png_bytes(640, 480), "echo", 640, 480, "PNG"),
    "alexa-devices/echo/echo-image-2.png": SourceObject(png_bytes(300, 200, color="green"), "echo", 300, 200, "PNG"),
    "alexa-devices/echo/truncated-echo.jpg": SourceObject(
        truncated_jpeg_bytes(300, 200), "echo", 300, 200, "JPEG", INVALID, "truncated or corrupt"
    ),
    "alexa-devices/echo/tiny-echo.png": SourceObject(
        png_bytes(32, 32), "echo", 32, 32, "PNG", INVALID, "it is 32×32 pixels; each side must be 64 to 4096 pixels"
    ),
    "alexa-devices/echo/not-an-image.png": SourceObject(
        b"These are meeting notes saved with the wrong extension.\n" * 4,
        "echo",
        error_code=INVALID,
        error_words="not a PNG or JPEG image",
    ),
    "alexa-devices/echo-dot/echo-dot-image-1.png": SourceObject(png_bytes(200, 150), "echo-dot", 200, 150, "PNG"),
    "alexa-devices/echo-dot/echo-dot-image-2.JPG": SourceObject(jpeg_bytes(1000, 500), "echo-dot", 1000, 500, "JPEG"),
    "alexa-devices/echo-dot/banner.png": SourceObject(
        png_bytes(1344, 64), "echo-dot", 1344, 64, "PNG", INVALID, "aspect ratio is 21.0:1; the maximum is 20:1"
    ),
    "alexa-devices/echo-dot/white-echo-dot/white-echo-dot-image-1.png": SourceObject(
        png_bytes(64, 64, color="white"), "echo-dot", 64, 64, "PNG"
    ),
    "alexa-devices/echo-dot/white-echo-dot/white-echo-dot-image-2.jpeg": SourceObject(
        jpeg_bytes(128, 96, color="white"), "echo-dot", 128, 96, "JPEG"
    ),
    "alexa-devices/x.png": SourceObject(png_bytes(100, 100, color="black"), None, 100, 100, "PNG"),
    "alexa-devices/notes.txt": SourceObject(b"Photos of the Alexa devices, by folder.\n"),
    "alexa-devices-2/echo/echo-image-1.png": SourceObject(png_bytes(640, 480), "echo", 640, 480, "PNG"),
}
# What importing s3://bucket/alexa-devices/ should make images of.
ALEXA_IMAGES = {
    key: obj
    for key, obj in ALEXA_DEVICES.items()
    if key.startswith("alexa-devices/") and key.lower().endswith((".png", ".jpg", ".jpeg"))
}


def seed(s3, bucket: str, objects: dict[str, bytes]) -> None:
    """Put each object into the bucket on the moto server, over HTTP."""
    for key, body in objects.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)


def seed_alexa_devices(s3, bucket: str) -> None:
    seed(s3, bucket, {key: obj.body for key, obj in ALEXA_DEVICES.items()})


def wait_until(condition: Callable[[], object], *, timeout: float = 60, what: str = "the condition") -> object:
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds (a bound, not a timing check)."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"Gave up waiting for {what} after {timeout:.0f} s.")
        time.sleep(0.2)


# --- Reading the dataset pages ------------------------------------------------------------------

HTMX_GALLERY = {"HX-Request": "true", "HX-Target": "gallery"}


def page_html(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def page(response) -> Node:
    return parse(page_html(response))


def gallery_of(response) -> Node:
    gallery = page(response).by_id("gallery")
    assert gallery is not None, "The page shows no gallery"
    return gallery


def numbers(response, attribute: str) -> dict[str, int]:
    return {
        node.attrs[attribute]: int(node.text().replace(",", ""))
        for node in page(response).iter()
        if node.tag == "strong" and attribute in node.attrs
    }


def detail_url(dataset) -> str:
    return reverse("datasets:detail", args=[dataset.pk])


# --- Building datasets as the services leave them ----------------------------------------------


def failed_dataset(*, owner) -> Dataset:
    """A dataset named broken whose creation failed: S3 stopped during its import, which can be retried."""
    dataset = DatasetFactory(
        project__owner=owner,
        name="broken",
        status=Dataset.Status.CREATE_FAILED,
        status_message="S3 could not be reached.",
        status_message_code=Dataset.StatusMessageCode.SERVICE_ERROR,
    )
    ImportJobFactory(dataset=dataset, status=ImportJob.Status.FAILED, message="S3 could not be reached.")
    return dataset


def build_images(dataset: Dataset, specs: list[dict]) -> dict[str, Image]:
    """Images as the services leave them. Each spec: key, and optionally labels (image-level), boxes
    ((label, left, top, width, height)), any Image field. Labels are made by name."""
    labels = {}

    def label(name: str) -> Label:
        if name not in labels:
            labels[name] = Label.objects.get_or_create(dataset=dataset, name=name)[0]
        return labels[name]

    made = {}
    for spec in specs:
        spec = dict(spec)
        key, image_labels, boxes = spec.pop("key"), spec.pop("labels", ()), spec.pop("boxes", ())
        spec.setdefault("source_ref", f"s3://flowers-bucket/{key}")
        image = ImageFactory(
            dataset=dataset, file_name=key.rsplit("/", 1)[-1], is_labeled=bool(image_labels or boxes), **spec
        )
        ImageLabel.objects.bulk_create([ImageLabel(image=image, label=label(name)) for name in image_labels])
        BoundingBox.objects.bulk_create(
            [
                BoundingBox(image=image, label=label(name), left=x, top=y, width=w, height=h)
                for name, x, y, w, h in boxes
            ]
        )
        made[key] = image
    services.dataset_changed(dataset_id=dataset.pk)
    return made


def pets(dataset: Dataset, *, reverse: bool = False) -> dict[str, Image]:
    """50 images: cat on 10 (image-level), dog on 20 (boxes), bird on 5, 15 unlabeled."""
    specs = (
        [{"key": f"cats/cat-{i}.jpg", "labels": ["cat"]} for i in range(10)]
        + [{"key": f"dogs/dog-{i}.jpg", "boxes": [("dog", 10, 10, 50, 40)]} for i in range(20)]
        + [{"key": f"birds/bird-{i}.jpg", "labels": ["bird"]} for i in range(5)]
        + [{"key": f"other/other-{i}.jpg"} for i in range(15)]
    )
    return build_images(dataset, specs[::-1] if reverse else specs)


def content(dataset: Dataset) -> dict[str, dict]:
    """Everything a user sees of each image, by source-ref: header fields, errors, labels by name, boxes in order."""
    images = Image.objects.filter(dataset=dataset).prefetch_related(
        "labels", Prefetch("boxes", queryset=BoundingBox.objects.select_related("label").order_by("id"))
    )
    return {
        image.source_ref: {
            "file_name": image.file_name,
            "header": (image.format, image.width, image.height, image.size, image.etag),
            "error": (image.error_code, image.error_message),
            "problems": image.problems,
            "is_labeled": image.is_labeled,
            "labels": sorted(label.name for label in image.labels.all()),
            "boxes": [(b.label.name, b.left, b.top, b.width, b.height) for b in image.boxes.all()],
        }
        for image in images
    }


# --- Posting files to Add images ---------------------------------------------------------------

# The headers of the Add images dialog (static/js/upload.js): JSON back, the CSRF token in a header.
# With a client that enforces CSRF, put the real token in HTTP_X_CSRFTOKEN.
JSON = {"HTTP_ACCEPT": "application/json", "HTTP_X_CSRFTOKEN": "sent-by-the-dialog"}
# A browser posting the form without JavaScript: HTML back, and the page's origin, as browsers send it.
HTML = {
    "HTTP_ACCEPT": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "HTTP_ORIGIN": "http://testserver",
}


def multipart(files: list[tuple[str, bytes]], fields: dict[str, str] | None = None) -> tuple[bytes, str]:
    """A multipart/form-data body with each file under `images`, its name sent as given."""
    boundary = f"upload-test-{uuid.uuid4().hex}"
    body = b""
    for name, value in (fields or {}).items():
        body += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    for file_name, data in files:
        body += (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="images"; filename="{file_name}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            + data
            + b"\r\n"
        )
    body += f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def post_files(client, dataset, files, *, fields=None, headers=JSON, query="", **kwargs):
    body, content_type = multipart(files, fields)
    url = reverse("datasets:upload", args=[dataset.pk]) + query
    return client.post(url, body, content_type=content_type, **headers, **kwargs)


# --- Datasets for copy, split and export -------------------------------------------------------


def put_thumbnail(s3, console_bucket, image: Image) -> str:
    """A thumbnail in the console bucket where the thumbnail task puts it, recorded on the image."""
    key = console_storage.thumbnail_key(image.dataset.project.owner_id, image.dataset_id, image.pk)
    s3.put_object(Bucket=console_bucket.name, Key=key, Body=jpeg_bytes(64, 48), ContentType="image/jpeg")
    Image.objects.filter(pk=image.pk).update(thumbnail_key=key, needs_thumbnail=False)
    return key


def keys_under(s3, bucket: str, prefix: str) -> set[str]:
    return {o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])}


def settled(dataset: Dataset, status: str) -> Dataset:
    """Wait for the worker to bring the dataset to `status` with every thumbnail made or copied."""

    def done():
        dataset.refresh_from_db()
        return dataset.status == status and not Image.objects.filter(dataset=dataset, needs_thumbnail=True).exists()

    wait_until(done, timeout=60, what=f"{dataset.name} to reach {status} with its thumbnails")
    return dataset


BOX_PROBLEM = {"code": "ERROR_INVALID_BOUNDING_BOX", "message": "The bounding box is invalid.", "level": "error"}
INVALID_IMAGE = (
    "ERROR_INVALID_IMAGE",
    "The image is invalid: it is 32×32 pixels; each side must be 64 to 4096 pixels.",
)


def flowers(dataset: Dataset) -> dict[str, Image]:
    """Image-level labels, boxes, a box error, an unusable image and an unlabeled one."""
    return build_images(
        dataset,
        [
            {"key": "roses/rose-1.jpg", "labels": ["rose"], "boxes": [("rose", 10, 20, 100, 80)]},
            {"key": "roses/rose-2.jpg", "labels": ["rose", "red"], "width": 800, "height": 600},
            {
                "key": "tulips/tulip-1.jpg",
                "boxes": [("tulip", 5, 5, 50, 60), ("tulip", 300, 200, 40, 40)],
                "problems": [{**BOX_PROBLEM, "box": 1}],
            },
            {
                "key": "tiny.png",
                "format": "PNG",
                "width": 32,
                "height": 32,
                "error_code": INVALID_IMAGE[0],
                "error_message": INVALID_IMAGE[1],
                "problems": [{"code": INVALID_IMAGE[0], "message": INVALID_IMAGE[1], "level": "error"}],
            },
            {"key": "meadow.jpg"},
        ],
    )
