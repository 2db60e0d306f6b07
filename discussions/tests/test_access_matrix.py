"""Every discussions URL (search aside) × every kind of person: the status each gets.

Missing and forbidden look the same (404) to anyone outside a group, and a
hidden thread is missing for everyone but the group's moderators and the
organisers. People who may see a thing but not do it get 403; POST-only
actions answer GET with 405 to those who may see them.
"""

import re

import pytest
from django.urls import reverse

from discussions import services
from discussions.models import Post, Reaction, ReadState, Report, Subscription, Thread
from groups.models import AuditEntry
from tests.matrix import ACTORS, LOGIN, assert_matrix, expect, without_tokens

pytestmark = pytest.mark.django_db

OUTSIDE = ["outsider", "other_member", "other_moderator", "expired_guest", "removed_member"]
REDIRECT = 302


def people_get(status):
    """The same status for everyone of the group."""
    return expect(guest=status, member=status, moderator=status, organiser=status)


GROUP_PAGE = expect()
REDIRECTS = people_get(REDIRECT)
POST_ONLY = people_get(405)
MODERATOR_PAGE = expect(guest=403, member=403)
MODERATOR_POST_ONLY = MODERATOR_PAGE | {"moderator": 405, "organiser": 405}
# The member wrote the posts used below.
AUTHOR_OR_MODERATOR = expect(guest=403)
NOT_AUTHOR = expect(member=403)
# A hidden thread: missing for members and guests.
HIDDEN = {"guest": 404, "member": 404}


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
    thread = services.thread_create(
        actor=member, group=group, title="Labour pathways", body="What works?"
    )
    post = thread.posts.get()
    report = services.report_create(actor=guest, post=post, reason="Vague.")
    hidden_thread = services.thread_create(
        actor=member, group=group, title="Quiet corner", body="Psst."
    )
    hidden_post = hidden_thread.posts.get()
    hidden_report = services.report_create(actor=guest, post=hidden_post, reason="Odd.")
    services.thread_hide(actor=moderator, thread=hidden_thread)
    return {
        "group": group,
        "other_group": other_group,
        "thread": thread,
        "post": post,
        "report": report,
        "hidden_thread": hidden_thread,
        "hidden_post": hidden_post,
        "hidden_report": hidden_report,
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
    t = world["thread"].pk
    p = world["post"].pk
    r = world["report"].pk
    ht = world["hidden_thread"].pk
    hp = world["hidden_post"].pk
    hr = world["hidden_report"].pk
    return [
        (reverse("discussions:thread_list", args=[slug]), GROUP_PAGE),
        (reverse("discussions:thread_list", args=[slug]) + "?show=unread&page=2", GROUP_PAGE),
        (reverse("discussions:thread_create", args=[slug]), GROUP_PAGE),
        (reverse("discussions:report_queue", args=[slug]), MODERATOR_PAGE),
        (reverse("discussions:thread", args=[t]), GROUP_PAGE),
        (reverse("discussions:thread", args=[t]) + "?page=99", GROUP_PAGE),
        (reverse("discussions:thread_unread", args=[t]), REDIRECTS),
        (reverse("discussions:reply", args=[t]), GROUP_PAGE),
        (reverse("discussions:reply", args=[t]) + f"?quote={p}", GROUP_PAGE),
        (reverse("discussions:mark_read", args=[t]), POST_ONLY),
        (reverse("discussions:watch", args=[t]), POST_ONLY),
        (reverse("discussions:thread_moderate", args=[t]), MODERATOR_POST_ONLY),
        (reverse("discussions:thread_move", args=[t]), MODERATOR_PAGE),
        (reverse("discussions:post", args=[p]), REDIRECTS),
        (reverse("discussions:post_fragment", args=[p]), GROUP_PAGE),
        (reverse("discussions:post_edit", args=[p]), AUTHOR_OR_MODERATOR),
        (reverse("discussions:post_delete", args=[p]), AUTHOR_OR_MODERATOR),
        (reverse("discussions:post_history", args=[p]), AUTHOR_OR_MODERATOR),
        (reverse("discussions:post_react", args=[p]), POST_ONLY),
        (reverse("discussions:post_report", args=[p]), NOT_AUTHOR),
        (reverse("discussions:post_hide", args=[p]), MODERATOR_PAGE),
        (reverse("discussions:thread_split", args=[p]), MODERATOR_PAGE),
        (reverse("discussions:report_close", args=[r]), MODERATOR_POST_ONLY),
        (reverse("discussions:preview"), dict.fromkeys(ACTORS[1:], 405) | {"anonymous": LOGIN}),
        # The hidden thread: only its group's moderators and the organisers.
        (reverse("discussions:thread", args=[ht]), GROUP_PAGE | HIDDEN),
        (reverse("discussions:thread_unread", args=[ht]), REDIRECTS | HIDDEN),
        (reverse("discussions:reply", args=[ht]), GROUP_PAGE | HIDDEN),
        (reverse("discussions:mark_read", args=[ht]), POST_ONLY | HIDDEN),
        (reverse("discussions:watch", args=[ht]), POST_ONLY | HIDDEN),
        (reverse("discussions:thread_moderate", args=[ht]), MODERATOR_POST_ONLY | HIDDEN),
        (reverse("discussions:thread_move", args=[ht]), MODERATOR_PAGE | HIDDEN),
        (reverse("discussions:post", args=[hp]), REDIRECTS | HIDDEN),
        (reverse("discussions:post_fragment", args=[hp]), GROUP_PAGE | HIDDEN),
        (reverse("discussions:post_edit", args=[hp]), AUTHOR_OR_MODERATOR | HIDDEN),
        (reverse("discussions:post_delete", args=[hp]), AUTHOR_OR_MODERATOR | HIDDEN),
        (reverse("discussions:post_history", args=[hp]), AUTHOR_OR_MODERATOR | HIDDEN),
        (reverse("discussions:post_react", args=[hp]), POST_ONLY | HIDDEN),
        (reverse("discussions:post_report", args=[hp]), NOT_AUTHOR | HIDDEN),
        (reverse("discussions:post_hide", args=[hp]), MODERATOR_PAGE | HIDDEN),
        (reverse("discussions:thread_split", args=[hp]), MODERATOR_PAGE | HIDDEN),
        (reverse("discussions:report_close", args=[hr]), MODERATOR_POST_ONLY | HIDDEN),
        # Missing objects: 404 for everyone signed in.
        (reverse("discussions:thread_list", args=["no-such-group"]), people_get(404)),
        (reverse("discussions:report_queue", args=["no-such-group"]), people_get(404)),
        (reverse("discussions:thread", args=[999999]), people_get(404)),
        (reverse("discussions:post_fragment", args=[999999]), people_get(404)),
        (reverse("discussions:post_edit", args=[999999]), people_get(404)),
        (reverse("discussions:report_close", args=[999999]), people_get(404)),
    ]


def test_access_matrix(client, world):
    assert_matrix(client, world["people"], urls(world))


def test_every_discussions_url_is_in_the_matrix(world):
    from discussions.urls import urlpatterns

    covered = {
        re.sub(r"\d+", "<int>", url.split("?")[0]).replace("fair-migration", "<slug>")
        for url, _ in urls(world)
    }
    for pattern in urlpatterns:
        if pattern.name == "search":
            continue
        route = str(pattern.pattern).replace("<int:pk>", "<int>").replace("<slug:slug>", "<slug>")
        assert "/" + route in covered, f"{pattern.name} is missing from the matrix"


def _snapshot(world):
    thread = Thread.objects.get(pk=world["thread"].pk)
    post = Post.objects.get(pk=world["post"].pk)
    return {
        "threads": Thread.objects.count(),
        "thread": (thread.group_id, thread.pinned, thread.locked, thread.hidden, thread.title),
        "posts": Post.objects.count(),
        "post": (post.body, post.hidden, post.deleted_at, post.thread_id),
        "reactions": Reaction.objects.count(),
        "reports": list(Report.objects.order_by("pk").values_list("status", flat=True)),
        "audit": AuditEntry.objects.count(),
        "subscriptions": Subscription.objects.count(),
        "read": ReadState.objects.count(),
    }


MODERATOR_ACTIONS = [
    ("discussions:thread_moderate", "thread", {"action": "lock"}),
    ("discussions:thread_moderate", "thread", {"action": "hide"}),
    ("discussions:thread_move", "thread", {"group": "other_group"}),
    ("discussions:post_hide", "post", {"action": "hide", "reason": "Mine"}),
    ("discussions:thread_split", "post", {"title": "Taken away"}),
    ("discussions:report_close", "report", {"decision": "dismiss"}),
]


@pytest.mark.parametrize(("name", "target", "data"), MODERATOR_ACTIONS)
@pytest.mark.parametrize(
    ("actor", "status"),
    [
        ("outsider", 404),
        ("other_moderator", 404),
        ("expired_guest", 404),
        ("removed_member", 404),
        ("guest", 403),
        ("member", 403),
    ],
)
def test_moderator_action_changes_nothing_if_not_moderator(
    client, world, name, target, data, actor, status
):
    data = {key: world[value].pk if value in world else value for key, value in data.items()}
    before = _snapshot(world)
    client.force_login(world["people"][actor])
    response = client.post(reverse(name, args=[world[target].pk]), data)
    assert response.status_code == status
    assert _snapshot(world) == before


MEMBER_ACTIONS = [
    ("discussions:reply", "thread", {"body": "Sneaking in"}),
    ("discussions:mark_read", "thread", {}),
    ("discussions:watch", "thread", {"watching": "on"}),
    ("discussions:post_edit", "post", {"body": "Hijacked"}),
    ("discussions:post_delete", "post", {}),
    ("discussions:post_react", "post", {"kind": "heart"}),
    ("discussions:post_report", "post", {"reason": "Because"}),
]


@pytest.mark.parametrize(("name", "target", "data"), MEMBER_ACTIONS)
@pytest.mark.parametrize("actor", OUTSIDE)
def test_member_action_changes_nothing_if_outside_the_group(
    client, world, name, target, data, actor
):
    before = _snapshot(world)
    client.force_login(world["people"][actor])
    response = client.post(reverse(name, args=[world[target].pk]), data)
    assert response.status_code == 404
    assert _snapshot(world) == before


@pytest.mark.parametrize("actor", OUTSIDE)
def test_thread_create_and_preview_refused_if_outside_the_group(client, world, actor):
    client.force_login(world["people"][actor])
    group = world["group"]
    response = client.post(
        reverse("discussions:thread_create", args=[group.slug]), {"title": "T", "body": "B"}
    )
    assert response.status_code == 404
    assert Thread.objects.count() == 2
    for data in ({"thread": world["thread"].pk}, {"group": group.pk}):
        response = client.post(reverse("discussions:preview"), {"body": "Hi", **data})
        assert response.status_code == 404


@pytest.mark.parametrize(
    ("name", "target", "actor"),
    [
        ("discussions:thread", "thread", "outsider"),
        ("discussions:thread", "thread", "other_moderator"),
        ("discussions:thread", "hidden_thread", "member"),
        ("discussions:post_fragment", "post", "other_member"),
        ("discussions:post_edit", "hidden_post", "member"),
        ("discussions:post_history", "post", "expired_guest"),
    ],
)
def test_missing_and_forbidden_look_identical(client, world, name, target, actor):
    client.force_login(world["people"][actor])
    pk = world[target].pk
    forbidden = client.get(reverse(name, args=[pk]))
    missing = client.get(reverse(name, args=[999999]))
    assert forbidden.status_code == missing.status_code == 404
    # Identical but for the address itself (the language switch returns to it).
    forbidden_page = without_tokens(forbidden.text).replace(f"/{pk}/", "/<id>/")
    assert forbidden_page == without_tokens(missing.text).replace("/999999/", "/<id>/")


def test_guest_of_one_group_reaches_no_thread_of_another(
    client, world, guest, other_group, other_member
):
    elsewhere = services.thread_create(
        actor=other_member, group=other_group, title="Elsewhere", body="Not yours."
    )
    post = elsewhere.posts.get()
    client.force_login(guest)
    for url in [
        reverse("discussions:thread_list", args=[other_group.slug]),
        reverse("discussions:thread_create", args=[other_group.slug]),
        elsewhere.get_absolute_url(),
        reverse("discussions:post_fragment", args=[post.pk]),
        reverse("discussions:reply", args=[elsewhere.pk]),
    ]:
        assert client.get(url).status_code == 404, url
    own = client.get(reverse("discussions:thread_list", args=[world["group"].slug])).text
    assert "Elsewhere" not in own and "Labour pathways" in own
