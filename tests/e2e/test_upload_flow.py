"""A person adds images from their computer in Chromium: "+ Add images", choose or drop files,
watch each file's progress and result, and find the images in the gallery."""

import base64

import pytest
from playwright.sync_api import expect

from datasets.models import Dataset, Image, ImportJob
from tests.datasets.support import jpeg_bytes, png_bytes
from tests.factories import DatasetFactory

pytestmark = pytest.mark.browser


@pytest.fixture
def dataset(user, console_bucket):
    return DatasetFactory(project__owner=user, name="devices")


def write(tmp_path, files: dict[str, bytes]) -> list[str]:
    paths = []
    for name, data in files.items():
        path = tmp_path / name
        path.write_bytes(data)
        paths.append(str(path))
    return paths


def test_add_images_shows_each_files_result_and_the_images_in_the_gallery(page, login, user, dataset, tmp_path):
    paths = write(
        tmp_path,
        {
            "echo-1.jpg": jpeg_bytes(320, 240),
            "echo-2.png": png_bytes(200, 200, color="green"),
            "notes.jpg": b"Meeting notes, saved with the wrong extension.\n",
            "tiny.png": png_bytes(10, 10),
        },
    )
    login(page, user)
    page.goto(f"/datasets/{dataset.pk}/")

    page.get_by_role("link", name="+ Add images").click()
    dialog = page.get_by_role("dialog", name="Add images")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("You can upload up to 30 images at a time.")
    dialog.get_by_label("Choose files").set_input_files(paths)
    expect(dialog.locator(".upload-list li")).to_have_count(4)
    expect(dialog.get_by_role("progressbar", name="Upload progress of echo-1.jpg")).to_be_visible()

    dialog.get_by_role("button", name="Add images").click()

    expect(dialog.get_by_role("status")).to_have_text("2 images added, 2 refused.")

    def result(name: str):
        return dialog.locator(".upload-list li", has_text=name).locator(".file-result")

    expect(result("echo-1.jpg")).to_have_text("Accepted")
    expect(result("echo-2.png")).to_have_text("Accepted")
    expect(result("notes.jpg")).to_have_text("The image is invalid: the file is not a PNG or JPEG image.")
    expect(result("tiny.png")).to_have_text(
        "The image is invalid: it is 10×10 pixels; each side must be 64 to 4096 pixels."
    )
    for name in ("echo-1.jpg", "echo-2.png", "notes.jpg", "tiny.png"):
        expect(dialog.get_by_role("progressbar", name=f"Upload progress of {name}")).to_have_attribute("value", "100")
    # The gallery behind the dialog has been refreshed, thumbnails included.
    cards = page.locator("#gallery .card")
    expect(cards).to_have_count(2)
    expect(cards.locator(".name")).to_have_text(["echo-1.jpg", "echo-2.png"])
    expect(cards.locator("img")).to_have_count(2)

    dialog.get_by_role("button", name="Close").click()
    expect(page.locator("#dataset-status")).to_have_text("UPDATE_COMPLETE")
    expect(page.locator("#status-message")).to_have_text("2 images were added from your computer.")
    expect(page.locator("#status-message-code")).to_have_text("SUCCESS")
    expect(page.locator("#gallery .card img").first).to_be_visible()
    # The four requests of one "Add images" are one import, with the two refused files in its report.
    job = ImportJob.objects.get(dataset=dataset)
    assert (job.source, job.found, job.skipped) == (ImportJob.Source.UPLOAD, 4, 2)
    assert sorted(job.report_items.values_list("key", flat=True)) == ["notes.jpg", "tiny.png"]
    assert sorted(Image.objects.filter(dataset=dataset).values_list("file_name", "width", "height")) == [
        ("echo-1.jpg", 320, 240),
        ("echo-2.png", 200, 200),
    ]


def test_choosing_thirty_one_files_shows_the_limit_and_sends_nothing(page, login, user, dataset, tmp_path):
    paths = write(tmp_path, {f"img-{i:02}.png": png_bytes(64, 64) for i in range(31)})
    uploads = []
    page.on("request", lambda request: uploads.append(request.url) if "/upload/" in request.url else None)
    login(page, user)

    # As after "Upload images from your computer": the dialog opens by itself.
    page.goto(f"/datasets/{dataset.pk}/?mode=label&add_images=1")
    dialog = page.get_by_role("dialog", name="Add images")
    expect(dialog).to_be_visible()
    assert "add_images" not in page.url and "mode=label" in page.url

    dialog.get_by_label("Choose files").set_input_files(paths)
    expect(dialog.get_by_role("alert")).to_have_text("You can upload up to 30 images at a time.")
    expect(dialog.locator(".upload-list li")).to_have_count(0)
    dialog.get_by_role("button", name="Add images").click()
    expect(dialog.get_by_role("alert")).to_have_text("You can upload up to 30 images at a time.")

    assert uploads == []
    assert not ImportJob.objects.exists() and not Image.objects.exists()
    assert Dataset.objects.get(pk=dataset.pk).status == Dataset.Status.CREATE_COMPLETE


def test_a_dropped_file_is_added(page, login, user, dataset):
    login(page, user)
    page.goto(f"/datasets/{dataset.pk}/?mode=label")
    page.get_by_role("link", name="+ Add images").click()
    dialog = page.get_by_role("dialog", name="Add images")

    dropped = page.evaluate_handle(
        """([name, data]) => {
            const transfer = new DataTransfer();
            const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
            transfer.items.add(new File([bytes], name, { type: "image/png" }));
            return transfer;
        }""",
        ["dropped.png", base64.b64encode(png_bytes(128, 96)).decode()],
    )
    dialog.locator(".drop-zone").dispatch_event("drop", {"dataTransfer": dropped})
    expect(dialog.locator(".upload-list li")).to_have_count(1)
    dialog.get_by_role("button", name="Add images").click()

    expect(dialog.locator(".upload-list li", has_text="dropped.png").locator(".file-result")).to_have_text("Accepted")
    expect(page.locator("#gallery .card .name")).to_have_text(["dropped.png"])
    assert Image.objects.get(dataset=dataset).file_name == "dropped.png"


def test_without_javascript_the_form_posts_every_file_and_the_gallery_says_what_became_of_them(
    browser, live_server, transactional_db, login, user, dataset, tmp_path
):
    # The browser's own Origin header is what lets the post through before its files are read.
    paths = write(tmp_path, {"echo.png": png_bytes(120, 90), "notes.jpg": b"Meeting notes.\n"})
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    try:
        login(page, user)
        page.goto(f"/datasets/{dataset.pk}/?add_images=1")
        dialog = page.get_by_role("dialog", name="Add images")
        dialog.get_by_label("Choose files").set_input_files(paths)

        dialog.get_by_role("button", name="Add images").click()

        expect(page.locator("#messages .flash")).to_have_text(
            ["1 image added, 1 refused.", "notes.jpg: The image is invalid: the file is not a PNG or JPEG image."]
        )
        expect(page.locator("#gallery .card .name")).to_have_text(["echo.png"])
    finally:
        context.close()
