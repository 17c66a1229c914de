"""Fixtures of the dataset page tests, on top of tests/datasets/conftest.py."""

import pytest

from tests.factories import DatasetFactory, ImageFactory, ImageLabelFactory, LabelFactory


@pytest.fixture
def gallery(project):
    """A finished dataset: echo and echo-dot images, one with both labels, unlabeled ones, two with errors."""
    dataset = DatasetFactory(project=project, name="alexa-devices")
    echo = LabelFactory(dataset=dataset, name="echo")
    echo_dot = LabelFactory(dataset=dataset, name="echo-dot")
    LabelFactory(dataset=dataset, name="echo-show")

    def image(name, *labels, **fields):
        img = ImageFactory(dataset=dataset, file_name=name, is_labeled=bool(labels), **fields)
        for label in labels:
            ImageLabelFactory(image=img, label=label)
        return img

    images = {
        "echo-1.png": image(
            "echo-1.png", echo, thumbnail_key=f"users/{dataset.project.owner_id}/thumbnails/{dataset.pk}/1.jpg"
        ),
        "echo-2.png": image("echo-2.png", echo),
        "dot-1.png": image("dot-1.png", echo_dot),
        "both.png": image("both.png", echo, echo_dot, width=1024, height=768, size=123_456, format="PNG"),
        "x.png": image("x.png"),
        "notes.png": image(
            "notes.png",
            format="",
            width=None,
            height=None,
            error_code="ERROR_INVALID_IMAGE",
            error_message="The image is invalid: the file is not a PNG or JPEG image.",
        ),
        "tiny.png": image(
            "tiny.png",
            echo,
            width=32,
            height=32,
            format="PNG",
            error_code="ERROR_INVALID_IMAGE",
            error_message="The image is invalid: it is 32×32 pixels; each side must be 64 to 4096 pixels.",
        ),
    }
    return dataset, {"echo": echo, "echo-dot": echo_dot}, images
