"""The documents pages through the real views, without JavaScript: folders,
the list with its filter and sort order, upload, the document page, new
versions, rename and move, delete, and "discuss this document"."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from discussions.models import Thread
from documents import services
from documents.models import Document, Folder
from groups.models import Membership, Role

from .conftest import PDF, png, upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client, member):
    client.force_login(member)
    return client


def titles(response) -> list[str]:
    """The document titles listed on a page, in order."""
    return re.findall(r'<a href="/documents/\d+/">([^<]+)</a>', response.content.decode())


def add(group, actor, title, folder=None, content=None):
    return services.document_upload(
        actor=actor,
        group=group,
        uploaded=upload(f"{title}.pdf", content or PDF + title.encode() + b"\n"),
        title=title,
        folder=folder,
    )


# --- The list -------------------------------------------------------------------------


def test_document_list_shows_folders_and_documents_of_the_folder(signed_in, group, member, folder):
    add(group, member, "Top level paper")
    add(group, member, "Filed paper", folder=folder)
    services.folder_create(actor=member, group=group, name="Inner", parent=folder)

    top = signed_in.get(reverse("documents:list", args=[group.slug]))
    assert top.status_code == 200
    assert titles(top) == ["Top level paper"]
    assert "Reports" in top.text and "Inner" not in top.text
    assert top.text.count("<h1") == 1
    assert 'aria-current="page">Documents</a>' in top.text

    inside = signed_in.get(reverse("documents:folder", args=[group.slug, folder.pk]))
    assert titles(inside) == ["Filed paper"]
    assert "Inner" in inside.text
    breadcrumbs = re.search(r'<nav class="breadcrumbs".*?</nav>', inside.text, re.S).group(0)
    assert "All documents" in breadcrumbs
    assert 'aria-current="page">Reports</a>' in breadcrumbs


def test_document_list_sorts_by_name_and_date(signed_in, group, member):
    for title in ["beta", "Alpha", "Gamma"]:
        add(group, member, title)
    url = reverse("documents:list", args=[group.slug])
    assert titles(signed_in.get(url)) == ["Alpha", "beta", "Gamma"]
    assert titles(signed_in.get(url, {"sort": "-name"})) == ["Gamma", "beta", "Alpha"]
    assert titles(signed_in.get(url, {"sort": "-date"})) == ["Gamma", "Alpha", "beta"]
    assert titles(signed_in.get(url, {"sort": "date"})) == ["beta", "Alpha", "Gamma"]
    assert titles(signed_in.get(url, {"sort": "nonsense"})) == ["Alpha", "beta", "Gamma"]


def test_out_of_range_numbers_are_not_found(signed_in, group):
    huge = "9" * 30
    assert signed_in.get(f"/documents/{huge}/").status_code == 404
    assert signed_in.get(f"/versions/{huge}/download/").status_code == 404
    assert signed_in.get(f"/groups/{group.slug}/documents/folders/{huge}/").status_code == 404
    upload_url = reverse("documents:upload", args=[group.slug])
    assert signed_in.get(upload_url, {"folder": huge}).status_code == 404


def test_document_list_filters_by_title_in_every_folder(signed_in, group, member, folder):
    add(group, member, "Labour migration brief")
    add(group, member, "Climate mobility", folder=folder)
    add(group, member, "Migration and climate", folder=folder)
    response = signed_in.get(reverse("documents:list", args=[group.slug]), {"q": "climate"})
    assert titles(response) == ["Climate mobility", "Migration and climate"]
    assert "Reports" in response.text  # the folder of each result


def test_document_list_shows_nothing_of_other_group(signed_in, group, other_group, other_member):
    add(other_group, other_member, "Their secret")
    response = signed_in.get(reverse("documents:list", args=[group.slug]), {"q": "secret"})
    assert titles(response) == []
    assert "Their secret" not in response.text


def test_document_list_query_count_does_not_grow(signed_in, group, member, folder):
    add(group, member, "First")
    url = reverse("documents:list", args=[group.slug])
    signed_in.get(url)
    with CaptureQueriesContext(connection) as few:
        signed_in.get(url)
    for index in range(8):
        add(group, member, f"Paper {index}", folder=folder if index % 2 else None)
        services.folder_create(actor=member, group=group, name=f"Folder {index}", parent=folder)
    with CaptureQueriesContext(connection) as many:
        response = signed_in.get(url)
    assert len(titles(response)) == 5
    assert len(many) == len(few)


# --- Folders --------------------------------------------------------------------------


def test_folder_is_created_inside_its_parent(signed_in, group, folder):
    url = reverse("documents:folder_create", args=[group.slug])
    page = signed_in.get(url, {"parent": folder.pk})
    assert f'<option value="{folder.pk}" selected>Reports</option>' in page.text
    response = signed_in.post(url, {"name": "  2025  drafts ", "parent": folder.pk})
    created = Folder.objects.get(name="2025 drafts")
    assert created.parent == folder
    assert response["Location"] == created.get_absolute_url()


def test_folder_name_taken_gets_error_at_field(signed_in, group, folder):
    response = signed_in.post(
        reverse("documents:folder_create", args=[group.slug]), {"name": "reports"}
    )
    assert response.status_code == 400
    assert "A folder of this name exists here already." in response.text
    assert Folder.objects.count() == 1


def test_folder_of_other_group_cannot_be_chosen(signed_in, group, other_group, other_member):
    theirs = services.folder_create(actor=other_member, group=other_group, name="Theirs")
    response = signed_in.post(
        reverse("documents:upload", args=[group.slug]),
        {"file": upload("a.pdf", PDF), "folder": theirs.pk},
    )
    assert response.status_code == 400
    assert Document.objects.count() == 0


# --- Upload and the document page -------------------------------------------------------


def test_upload_without_script_leads_to_the_document_page(
    signed_in, group, member, folder, published, django_capture_on_commit_callbacks
):
    page = signed_in.get(reverse("documents:upload", args=[group.slug]), {"folder": folder.pk})
    assert f'<option value="{folder.pk}" selected>Reports</option>' in page.text
    assert 'enctype="multipart/form-data"' in page.text
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in.post(
            reverse("documents:upload", args=[group.slug]),
            {
                "file": upload("Policy brief.pdf", PDF),
                "description": "For the session",
                "folder": folder.pk,
            },
            follow=True,
        )
    document = Document.objects.get()
    assert response.redirect_chain == [(document.get_absolute_url(), 302)]
    assert document.title == "Policy brief.pdf"  # the file name when no title is given
    assert document.folder == folder
    assert document.created_by == member
    assert "“Policy brief.pdf” was uploaded." in response.text
    assert (f"group:{group.pk}", "document.uploaded") in [(s, t) for s, t, _ in published]


def test_document_page_shows_every_version(signed_in, two_versions, member):
    old, current = two_versions
    response = signed_in.get(reverse("documents:detail", args=[old.document_id]))
    html = response.text
    assert response.status_code == 200
    rows = re.findall(r'<tr id="version-(\d+)"( class="version-current")?', html)
    assert rows == [("2", ' class="version-current"'), ("1", "")]
    assert "Comments included" in html
    assert "report-v2.pdf" in html and "report.pdf" in html
    assert "Mia Member" in html
    assert reverse("documents:download", args=[old.pk]) in html
    assert reverse("documents:version_restore", args=[old.pk]) in html
    assert reverse("documents:version_restore", args=[current.pk]) not in html
    assert "PDF" in html


def test_new_version_page_adds_version_with_note(signed_in, document):
    url = reverse("documents:version_upload", args=[document.pk])
    assert signed_in.get(url).status_code == 200
    response = signed_in.post(
        url,
        {"file": upload("v2.pdf", PDF + b"%2\n"), "change_note": "Figures updated"},
        follow=True,
    )
    assert "Version 2 was added." in response.text
    document.refresh_from_db()
    assert document.current_version.number == 2
    assert document.current_version.change_note == "Figures updated"


def test_guest_may_upload_and_add_versions(client, guest, group):
    client.force_login(guest)
    client.post(reverse("documents:upload", args=[group.slug]), {"file": upload("g.pdf", PDF)})
    document = Document.objects.get()
    client.post(
        reverse("documents:version_upload", args=[document.pk]),
        {"file": upload("g.pdf", PDF + b"%2\n")},
    )
    assert document.versions.count() == 2


def test_upload_is_forbidden_but_reading_allowed_if_group_archived(signed_in, group, document):
    group.archived = True
    group.save()
    assert signed_in.get(reverse("documents:upload", args=[group.slug])).status_code == 403
    response = signed_in.post(
        reverse("documents:version_upload", args=[document.pk]),
        {"file": upload("v2.pdf", PDF + b"%2\n")},
    )
    assert response.status_code == 403
    page = signed_in.get(reverse("documents:list", args=[group.slug]))
    assert "This group is archived" in page.text
    assert "Upload a document" not in page.text
    download = signed_in.get(reverse("documents:download", args=[document.current_version_id]))
    assert download.status_code == 200


def test_upload_pages_load_their_script_without_inline_code(signed_in, group, document):
    for url in (
        reverse("documents:upload", args=[group.slug]),
        reverse("documents:detail", args=[document.pk]),
        reverse("documents:version_upload", args=[document.pk]),
    ):
        html = signed_in.get(url).text
        scripts = re.findall(r"<script[^>]*>", html)
        assert '<script type="module" src="/static/js/upload.js"></script>' in html
        assert all("src=" in tag for tag in scripts)
        assert " style=" not in html


# --- Rename, move, delete ----------------------------------------------------------------


def test_uploader_renames_describes_and_moves(signed_in, document, folder, published):
    url = reverse("documents:edit", args=[document.pk])
    response = signed_in.post(
        url, {"title": "Final report", "description": "Adopted.", "folder": folder.pk}
    )
    assert response["Location"] == document.get_absolute_url()
    document.refresh_from_db()
    assert (document.title, document.description, document.folder) == (
        "Final report",
        "Adopted.",
        folder,
    )


def test_edit_without_changes_says_so(signed_in, document):
    response = signed_in.post(
        reverse("documents:edit", args=[document.pk]),
        {"title": document.title, "description": "", "folder": ""},
        follow=True,
    )
    assert "Nothing was changed." in response.text


def test_edit_with_empty_title_gets_error_at_field(signed_in, document):
    response = signed_in.post(reverse("documents:edit", args=[document.pk]), {"title": " "})
    assert response.status_code == 400
    document.refresh_from_db()
    assert document.title == "Interim report"


def test_moderator_manages_document_of_someone_else(client, moderator, document):
    client.force_login(moderator)
    page = client.get(reverse("documents:detail", args=[document.pk]))
    assert reverse("documents:delete", args=[document.pk]) in page.text
    response = client.post(reverse("documents:edit", args=[document.pk]), {"title": "Renamed"})
    assert response.status_code == 302


def test_moderator_without_mfa_is_led_to_turn_it_on_before_managing(
    client, make_user, group, document
):
    moderator = make_user("nomfa@example.org")
    Membership.objects.create(user=moderator, group=group, role=Role.MODERATOR)
    client.force_login(moderator)
    response = client.post(reverse("documents:delete", args=[document.pk]))
    assert response["Location"] == reverse("mfa_index")
    assert Document.objects.filter(pk=document.pk).exists()


def test_member_sees_no_manage_links_on_document_of_someone_else(client, guest, document):
    client.force_login(guest)
    page = client.get(reverse("documents:detail", args=[document.pk]))
    assert reverse("documents:delete", args=[document.pk]) not in page.text
    assert reverse("documents:edit", args=[document.pk]) not in page.text


def test_delete_asks_for_confirmation_first(signed_in, two_versions):
    document = two_versions[0].document
    page = signed_in.get(reverse("documents:delete", args=[document.pk]))
    assert "all its 2 versions" in page.text
    assert Document.objects.filter(pk=document.pk).exists()
    response = signed_in.post(reverse("documents:delete", args=[document.pk]), follow=True)
    assert response.redirect_chain == [(reverse("documents:list", args=["fair-migration"]), 302)]
    assert "“Interim report” was deleted." in response.text


def test_delete_returns_to_the_folder(signed_in, group, member, folder):
    document = add(group, member, "Filed", folder=folder)
    response = signed_in.post(reverse("documents:delete", args=[document.pk]))
    assert response["Location"] == folder.get_absolute_url()


# --- Discuss ----------------------------------------------------------------------------------


def test_discuss_starts_one_thread_in_the_group_and_then_opens_it(
    signed_in, document, group, member
):
    url = reverse("documents:discuss", args=[document.pk])
    response = signed_in.post(url, follow=True)
    thread = Thread.objects.get()
    assert response.redirect_chain == [(thread.get_absolute_url(), 302)]
    assert response.status_code == 200
    assert "Interim report" in response.text
    assert (thread.group, thread.title, thread.author) == (group, "Interim report", member)
    assert document.get_absolute_url() in thread.posts.get().body
    document.refresh_from_db()
    assert document.thread == thread

    assert signed_in.post(url)["Location"] == thread.get_absolute_url()
    assert Thread.objects.count() == 1
    page = signed_in.get(document.get_absolute_url())
    assert "Open the discussion" in page.text
    assert f'href="{thread.get_absolute_url()}"' in page.text


def test_discuss_is_offered_once_on_the_page(signed_in, document):
    page = signed_in.get(document.get_absolute_url())
    assert "Discuss this document" in page.text


def test_hidden_discussion_is_not_linked_for_members(signed_in, document, member):
    thread = services.document_discuss(actor=member, document=document)
    Thread.objects.filter(pk=thread.pk).update(hidden=True)
    page = signed_in.get(document.get_absolute_url())
    assert thread.get_absolute_url() not in page.text
    assert "Discuss this document" not in page.text


def test_image_version_offers_preview(signed_in, group, member):
    document = services.document_upload(
        actor=member, group=group, uploaded=upload("photo.png", png())
    )
    page = signed_in.get(document.get_absolute_url())
    assert reverse("documents:view", args=[document.current_version_id]) in page.text
    assert "Image" in page.text
