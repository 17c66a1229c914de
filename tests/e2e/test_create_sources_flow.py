"""A person picks each image location on the Create dataset page in Chromium: only that location's
fields show, and copying a labeled dataset through the worker gives a gallery with its labels and boxes."""

import pytest
from playwright.sync_api import expect

from datasets.models import BoundingBox, ImageLabel
from tests.factories import DatasetFactory, ImageFactory, LabelFactory, ProjectFactory

pytestmark = [pytest.mark.browser, pytest.mark.worker]

FIELDS = {
    "Import images from S3 bucket": "S3 folder location",
    "Import images labeled by SageMaker Ground Truth": ".manifest file location",
    "Copy an existing Amazon Rekognition Custom Labels dataset": "Dataset",
}


def test_each_image_location_shows_only_its_fields_and_a_copy_arrives_with_labels_and_boxes(
    page, login, user, console_bucket, celery_worker_proc
):
    project = ProjectFactory(owner=user, name="pets")
    source = DatasetFactory(project=project, name="cats-and-dogs")
    cat, dog = LabelFactory(dataset=source, name="cat"), LabelFactory(dataset=source, name="dog")
    for i, label in enumerate([cat, cat, dog]):
        image = ImageFactory(dataset=source, file_name=f"pet-{i}.jpg", is_labeled=True)
        ImageLabel.objects.create(image=image, label=label)
    BoundingBox.objects.create(image=image, label=dog, left=10, top=10, width=100, height=80)

    login(page, user)
    page.get_by_role("link", name="pets").click()
    page.get_by_role("link", name="Create dataset").first.click()

    for source_name, field in FIELDS.items():
        page.get_by_role("radio", name=source_name).check()
        expect(page.get_by_label(field, exact=True)).to_be_visible()
        for other_source, other in FIELDS.items():
            if other_source != source_name:
                expect(page.get_by_label(other, exact=True)).to_be_hidden()
    page.get_by_role("radio", name="Upload images from your computer").check()
    expect(page.get_by_text("You can upload up to 30 images at a time.")).to_be_visible()
    for field in FIELDS.values():
        expect(page.get_by_label(field, exact=True)).to_be_hidden()

    page.get_by_role("radio", name="Copy an existing Amazon Rekognition Custom Labels dataset").check()
    page.get_by_label("Dataset name").fill("pets-copy")
    page.get_by_label("Dataset", exact=True).select_option(label="cats-and-dogs (project pets)")
    page.get_by_role("button", name="Submit").click()

    expect(page.get_by_role("heading", name="pets-copy", exact=True)).to_be_visible()
    expect(page.locator("#dataset-status")).to_have_text("CREATE_COMPLETE", timeout=60_000)
    gallery = page.locator("#gallery")
    expect(gallery.locator("[data-stat=total]")).to_have_text("3")
    expect(gallery.locator("[data-stat=labels]")).to_have_text("2")
    expect(gallery.get_by_label("cat", exact=True)).to_be_visible()
    gallery.get_by_label("dog", exact=True).check()
    expect(gallery.get_by_text("pet-2.jpg")).to_be_visible()
    expect(gallery.get_by_text("pet-0.jpg")).to_be_hidden()
