"""Every documents URL × every kind of person: the status each gets.

Old versions are as protected as current ones. Missing and forbidden look the
same (404) to anyone outside the group, including a guest whose access expired
and a member who was removed; the group's people who may see a document but
not manage it get 403.
"""

import pytest
from django.urls import resolve, reverse

from discussions.models import Thread
from documents import services
from documents.models import Document, DocumentVersion, Folder
from tests.matrix import assert_matrix, expect

from .conftest import PDF, stored_files, upload

pytestmark = pytest.mark.django_db

GROUP_PEOPLE = ["guest", "member", "moderator", "organiser"]


GROUP_PAGE = expect()
# Rename, move, delete: the uploader (``member``) and the moderators.
MANAGE_PAGE = expect(guest=403)
# POST-only actions answer GET with 405 to those who may see them.
POST_ONLY = expect(**dict.fromkeys(GROUP_PEOPLE, 405))
NOWHERE = expect(**dict.fromkeys(GROUP_PEOPLE, 404))


@pytest.fixture
def world(
    group,
    other_group,
    member,
    moderator,
    guest,
    expired_guest,
    removed_member,
    other_member,
    other_moderator,
    outsider,
    organiser,
):
    """Everyone, and a document of ``member`` in a folder with two versions;
    a folder of the other group."""
    folder = services.folder_create(actor=member, group=group, name="Reports")
    document = services.document_upload(
        actor=member, group=group, uploaded=upload("report.pdf", PDF), folder=folder
    )
    old = document.current_version
    current = services.version_add(
        actor=member, document=document, uploaded=upload("report.pdf", PDF + b"%v2\n")
    )
    other_folder = services.folder_create(actor=other_member, group=other_group, name="Theirs")
    return {
        "group": group,
        "folder": folder,
        "document": document,
        "old": old,
        "current": current,
        "other_folder": other_folder,
        "people": {
            "outsider": outsider,
            "other_member": other_member,
            "other_moderator": other_moderator,
            "guest": guest,
            "expired_guest": expired_guest,
            "removed_member": removed_member,
            "member": member,
            "moderator": moderator,
            "organiser": organiser,
        },
    }


def urls(world):
    slug = world["group"].slug
    folder = world["folder"].pk
    document = world["document"].pk
    old, current = world["old"].pk, world["current"].pk
    other_folder = world["other_folder"].pk
    upload_url = reverse("documents:upload", args=[slug])
    return [
        (reverse("documents:list", args=[slug]), GROUP_PAGE),
        (reverse("documents:list", args=[slug]) + "?q=report&sort=-date", GROUP_PAGE),
        (reverse("documents:folder", args=[slug, folder]), GROUP_PAGE),
        (reverse("documents:folder", args=[slug, other_folder]), NOWHERE),
        (
            reverse("documents:folder", args=["future", other_folder]),
            NOWHERE | {"other_member": 200, "other_moderator": 200, "organiser": 200},
        ),
        (reverse("documents:folder_create", args=[slug]), GROUP_PAGE),
        (reverse("documents:folder_create", args=[slug]) + f"?parent={folder}", GROUP_PAGE),
        (reverse("documents:folder_create", args=[slug]) + f"?parent={other_folder}", NOWHERE),
        (upload_url, GROUP_PAGE),
        (upload_url + f"?folder={folder}", GROUP_PAGE),
        (upload_url + f"?folder={other_folder}", NOWHERE),
        (reverse("documents:detail", args=[document]), GROUP_PAGE),
        (reverse("documents:version_upload", args=[document]), GROUP_PAGE),
        (reverse("documents:edit", args=[document]), MANAGE_PAGE),
        (reverse("documents:delete", args=[document]), MANAGE_PAGE),
        (reverse("documents:discuss", args=[document]), POST_ONLY),
        (reverse("documents:version_restore", args=[old]), POST_ONLY),
        (reverse("documents:version_restore", args=[current]), POST_ONLY),
        (reverse("documents:download", args=[old]), GROUP_PAGE),
        (reverse("documents:download", args=[current]), GROUP_PAGE),
        (reverse("documents:view", args=[old]), GROUP_PAGE),
        (reverse("documents:view", args=[current]), GROUP_PAGE),
        (reverse("documents:detail", args=[999_999]), NOWHERE),
        (reverse("documents:download", args=[999_999]), NOWHERE),
    ]


def test_access_matrix(client, world):
    def downloads_sandboxed(url, actor, response):
        if response.status_code == 200 and url.startswith("/versions/"):
            assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"

    assert_matrix(client, world["people"], urls(world), on_response=downloads_sandboxed)


def test_access_matrix_covers_every_documents_url(world):
    """A new documents URL must be added to the matrix above."""
    from documents.urls import urlpatterns

    covered = {resolve(url.split("?")[0]).url_name for url, _ in urls(world)}
    assert covered == {pattern.name for pattern in urlpatterns}


OUTSIDE = ["outsider", "other_member", "other_moderator", "expired_guest", "removed_member"]


def _state(world) -> dict:
    document = Document.objects.filter(pk=world["document"].pk).first()
    return {
        "documents": Document.objects.count(),
        "versions": DocumentVersion.objects.count(),
        "folders": Folder.objects.count(),
        "threads": Thread.objects.count(),
        "title": document.title if document else None,
        "current": document.current_version_id if document else None,
    }


def _actions(world):
    """(url, data, who gets 403 rather than 404) for every documents action."""
    slug = world["group"].slug
    document = world["document"].pk
    return [
        (
            reverse("documents:upload", args=[slug]),
            {"file": upload("new.pdf", PDF + b"%new\n"), "title": "Sneaked in"},
            [],
        ),
        (
            reverse("documents:version_upload", args=[document]),
            {"file": upload("v3.pdf", PDF + b"%v3\n")},
            [],
        ),
        (reverse("documents:folder_create", args=[slug]), {"name": "Sneaky"}, []),
        (reverse("documents:edit", args=[document]), {"title": "Hijacked"}, ["guest"]),
        (reverse("documents:delete", args=[document]), {}, ["guest"]),
        (reverse("documents:version_restore", args=[world["old"].pk]), {}, []),
        (reverse("documents:discuss", args=[document]), {}, []),
    ]


@pytest.mark.parametrize("actor", [*OUTSIDE, "guest"])
def test_document_actions_change_nothing_if_not_allowed(client, world, media_root, actor):
    before, files_before = _state(world), stored_files(media_root)
    client.force_login(world["people"][actor])
    for url, data, forbidden in _actions(world):
        if actor == "guest" and not forbidden:
            continue  # guests may upload, restore and discuss
        response = client.post(url, data)
        expected = 403 if actor in forbidden else 404
        assert response.status_code == expected, f"{url} as {actor}"
    assert _state(world) == before
    assert stored_files(media_root) == files_before


@pytest.mark.parametrize("actor", ["anonymous", *OUTSIDE])
def test_old_version_download_is_refused_if_outside_group(client, world, actor):
    """The old version's bytes never leave the server for anyone outside."""
    if actor != "anonymous":
        client.force_login(world["people"][actor])
    for name in ("documents:download", "documents:view"):
        response = client.get(reverse(name, args=[world["old"].pk]))
        assert response.status_code in (302, 404)
        assert not response.streaming
        assert b"%PDF" not in response.content
