"""The public side of results: every public address, as a visitor, shows
nothing of the group's members-only objects and sets no session cookie."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from discussions import services as discussions
from documents import services as documents
from documents.tests.conftest import PDF, upload
from meetings.models import Meeting
from results import services

pytestmark = pytest.mark.django_db

SECRETS = [
    "Members-only thread title",
    "A members-only post body",
    "Confidential memo name",
    "Closed-door meeting title",
    "https://video.example.org/secret-room",
    "Unpublished draft title",
    "Unpublished draft text",
    "Unpublished change of a published result",
]


@pytest.fixture
def world(group, member, moderator, media_root):
    thread = discussions.thread_create(actor=member, group=group, title=SECRETS[0], body=SECRETS[1])
    document = documents.document_upload(
        actor=member, group=group, uploaded=upload("memo.pdf", PDF), title=SECRETS[2]
    )
    starts = timezone.now() + datetime.timedelta(days=2)
    meeting = Meeting.objects.create(
        group=group,
        title=SECRETS[3],
        video_link=SECRETS[4],
        starts_at=starts,
        ends_at=starts + datetime.timedelta(hours=1),
    )
    services.result_create(
        actor=moderator, group=group, kind="interim", title=SECRETS[5], body=SECRETS[6]
    )
    public = services.result_create(
        actor=moderator, group=group, kind="interim", title="Public result", body="Version one."
    )
    services.result_publish(actor=moderator, result=public, change_summary="First")
    services.result_update(
        actor=moderator, result=public, kind="interim", title="Public result", body="Version 2."
    )
    services.result_publish(actor=moderator, result=public, change_summary="Second")
    services.result_update(
        actor=moderator,
        result=public,
        kind="interim",
        title="Public result",
        body=SECRETS[7],
        sources={"thread": [thread.pk], "document": [document.pk], "meeting": [meeting.pk]},
    )
    return public


def public_urls(result) -> list[str]:
    kwargs = {"group": result.group.slug, "slug": result.slug}
    return [
        reverse("results:site_list"),
        reverse("results:site_feed"),
        reverse("results:list", kwargs={"group": result.group.slug}),
        reverse("results:feed", kwargs={"group": result.group.slug}),
        reverse("results:detail", kwargs=kwargs),
        reverse("results:version", kwargs={**kwargs, "number": 1}),
        reverse("results:version", kwargs={**kwargs, "number": 2}),
        reverse("results:diff", kwargs=kwargs),
        reverse("results:diff", kwargs=kwargs) + "?from=1&to=2",
    ]


@pytest.mark.parametrize("viewer", [None, "other_member"])
def test_public_pages_show_no_members_only_content(client, world, viewer, request):
    if viewer:
        client.force_login(request.getfixturevalue(viewer))
    for url in public_urls(world):
        response = client.get(url)
        assert response.status_code == 200, url
        text = response.content.decode()
        assert "Public result" in text, url
        leaked = [secret for secret in SECRETS if secret in text]
        assert not leaked, f"{url} shows {leaked}"


def test_the_group_sees_its_sources_and_draft_on_the_same_pages(client, world, member):
    client.force_login(member)
    page = client.get(world.get_absolute_url()).text
    for secret in (SECRETS[0], SECRETS[2], SECRETS[3]):
        assert secret in page
    assert "The draft has changes not yet published." in page
    assert (
        SECRETS[5] in client.get(reverse("results:list", kwargs={"group": world.group.slug})).text
    )


def test_public_pages_set_no_session_cookie_for_visitors(client, world):
    for url in public_urls(world):
        response = client.get(url)
        assert "sessionid" not in response.cookies, url
    assert "sessionid" not in client.cookies


def test_result_page_queries_do_not_grow_with_versions_and_sources(
    client, group, moderator, member, world
):
    def count(url):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    client.force_login(member)
    before = count(world.get_absolute_url())
    sources = {"thread": [], "document": [], "meeting": []}
    for source in world.sources.all():
        sources[source.kind].append(source.object_id)
    for n in range(3):
        thread = discussions.thread_create(actor=member, group=group, title=f"T{n}", body="x")
        sources["thread"].append(thread.pk)
        services.result_update(
            actor=moderator,
            result=world,
            kind="interim",
            title="Public result",
            body=f"Version {n + 3}.",
            sources=sources,
        )
        services.result_publish(actor=moderator, result=world, change_summary=f"v{n + 3}")
    assert count(world.get_absolute_url()) == before
