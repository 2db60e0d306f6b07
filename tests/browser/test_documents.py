"""Documents in a real browser: a member uploads a file of a few MB through the
picker with the progress bar moving, finds it on the document page and
downloads exactly the same bytes; a file over the limit is refused before
anything is sent; a file dropped on the drop zone is uploaded."""

import hashlib
import os
import re

import pytest
from playwright.sync_api import expect

from documents.models import Document, DocumentVersion

from .helpers import assert_no_browser_errors, login_with_session, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PDF_HEAD = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%"

# Records what the progress bar shows, through a binding that outlives the
# page (the upload ends with a navigation).
WATCH_PROGRESS = """
() => {
  const box = document.querySelector("[data-progress]");
  const bar = box.querySelector("progress");
  new MutationObserver(() => {
    window.recordProgress(Number(bar.value), box.hidden, bar.getBoundingClientRect().width);
  }).observe(bar, { attributes: true, attributeFilter: ["value"] });
}
"""


# Drops a file made in the page on the drop zone, as a drag from the desktop would.
DROP = """
([name, text]) => {
  const transfer = new DataTransfer();
  transfer.items.add(new File([text], name));
  const zone = document.querySelector("[data-dropzone]");
  for (const type of ["dragenter", "dragover", "drop"]) {
    zone.dispatchEvent(
      new DragEvent(type, { dataTransfer: transfer, bubbles: true, cancelable: true })
    );
  }
}
"""
# Chromium logs every 4xx answer, also the ones the page handles on purpose.
BAD_REQUEST = (
    r"console error: Failed to load resource: "
    r"the server responded with a status of 400 \(Bad Request\) .*"
)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_member_uploads_with_progress_bar_and_downloads_the_same_bytes(
    page, server, member, group, tmp_path
):
    content = PDF_HEAD + os.urandom(4 * 1024 * 1024)
    path = tmp_path / "Interim report.pdf"
    path.write_bytes(content)
    login_with_session(page.context, server, member)
    progress = []
    page.expose_function(
        "recordProgress", lambda value, hidden, width: progress.append((value, hidden, width))
    )

    page.goto(f"{server}/groups/{group.slug}/documents/")
    page.get_by_role("link", name="Upload a document").click()
    expect(page.locator("h1")).to_have_text("Upload a document")
    expect(page.get_by_text("Drag a file here, or choose one.")).to_be_visible()
    page.get_by_label("File").set_input_files(path)
    page.get_by_label("Title").fill("Interim report")
    page.get_by_label("Description").fill("Draft for the second session.")
    page.evaluate(WATCH_PROGRESS)

    # Slow the upload down to about 1 MB/s so that the bar visibly moves.
    network = page.context.new_cdp_session(page)
    network.send("Network.enable")
    network.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": 20,
            "downloadThroughput": -1,
            "uploadThroughput": 1024 * 1024,
        },
    )
    page.get_by_role("button", name="Upload", exact=True).click()
    bar = page.locator("form[data-upload] progress")
    expect(bar).to_be_visible()
    shot(page, "documents-upload-progress")
    expect(page).to_have_url(re.compile(r"/documents/\d+/$"), timeout=60_000)
    network.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )

    values = [value for value, _hidden, _width in progress]
    partial = [value for value in values if 0 < value < 100]
    assert len(set(partial)) >= 3, f"the bar did not move during the upload: {progress}"
    assert values == sorted(values), f"the bar went backwards: {values}"
    assert all(not hidden and width > 0 for value, hidden, width in progress if 0 < value < 100)
    assert values[-1] == 100

    document = Document.objects.get()
    version = DocumentVersion.objects.get()
    assert version.sha256 == sha256(content)
    assert version.original_filename == "Interim report.pdf"
    expect(page.locator("h1")).to_have_text("Interim report")
    expect(page.get_by_text("“Interim report” was uploaded.")).to_be_visible()
    expect(page.get_by_text("Draft for the second session.")).to_be_visible()
    row = page.locator("#version-1")
    expect(row).to_contain_text("Interim report.pdf")
    expect(row).to_contain_text("current")
    expect(row).to_contain_text("Mia Member")
    expect(row).to_contain_text("4.0 MB")
    shot(page, "documents-detail")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download", exact=True).click()
    download = download_info.value
    assert download.suggested_filename == "Interim report.pdf"
    assert sha256(open(download.path(), "rb").read()) == sha256(content)  # noqa: SIM115
    assert page.url.endswith(document.get_absolute_url())
    assert_no_browser_errors(page)


def test_file_over_the_limit_is_refused_before_sending(page, server, member, group, tmp_path):
    login_with_session(page.context, server, member)
    page.goto(f"{server}/groups/{group.slug}/documents/upload/")
    limit = int(page.locator("form[data-upload]").get_attribute("data-max-bytes"))
    path = tmp_path / "huge.pdf"
    with path.open("wb") as handle:  # sparse: nothing is written
        handle.truncate(limit + 5 * 1024 * 1024)
    posts = []
    page.on("request", lambda request: posts.append(request) if request.method == "POST" else None)

    page.get_by_label("File").set_input_files(path)
    error = page.locator("[data-errors-for=file]")
    expect(error).to_be_visible()
    expect(error).to_contain_text(re.compile(r"The file is [\d.]+ MB; the largest allowed is"))
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(error).to_be_visible()
    expect(page.get_by_label("File")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("form[data-upload] progress")).to_be_hidden()
    shot(page, "documents-upload-too-large")
    page.wait_for_timeout(300)
    assert posts == []
    assert Document.objects.count() == 0
    assert_no_browser_errors(page)


def test_dropped_file_is_uploaded_and_server_errors_show_at_the_field(page, server, member, group):
    login_with_session(page.context, server, member)
    page.goto(f"{server}/groups/{group.slug}/documents/upload/")

    def drop(name: str, text: str) -> None:
        page.evaluate(DROP, [name, text])

    # HTML dressed up as a PDF: the server reads the content and says no.
    drop("notes.pdf", "<!DOCTYPE html><html><body><script>alert(1)</script></body></html>")
    page.get_by_role("button", name="Upload", exact=True).click()
    error = page.locator("[data-errors-for=file]")
    expect(error).to_contain_text("Files of this type (text/html) cannot be shared here.")
    assert Document.objects.count() == 0

    drop("dropped.pdf", "%PDF-1.4\n%%EOF\n")
    expect(error).to_be_hidden()
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator("h1")).to_have_text("dropped.pdf")
    assert DocumentVersion.objects.get().content_type == "application/pdf"
    assert_no_browser_errors(page, expected=[BAD_REQUEST])
