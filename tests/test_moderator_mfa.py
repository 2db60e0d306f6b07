"""Every moderator action is refused without two-factor authentication.

Every URL the resolver knows is either a moderator action (and walked here
as a moderator and as an organiser who have not turned on two-factor
authentication: GET and POST, plain and htmx; each must lead to the
enrolment page or answer 403, and the database must stay as it was) or named
in ``NOT_MODERATOR_ACTIONS`` with the reason. A new URL fails
``test_every_url_is_classified`` until it is one or the other.

The socket's frames are walked by ``tests/test_socket_frames.py`` (its
``moderator_without_mfa`` column).
"""

import datetime
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.core import mail
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from discussions import services as discussions
from documents import services as documents
from documents.tests.conftest import PDF, upload
from groups import services as groups
from groups.models import Membership, Role
from meetings.models import Meeting
from results import services as results
from tests.fixtures.people import join
from webinars.models import Registration, Webinar

pytestmark = pytest.mark.django_db

NEXT_WEEK = (timezone.localdate() + datetime.timedelta(days=7)).isoformat()

# name -> (the URL's arguments from the world below, what a POST sends (or a
# function of the world giving it): what the action would need to be carried
# out, so that a missing gate shows in the database too).
MODERATOR_ACTIONS = {
    "groups:create": (lambda w: {}, {"name": "New", "slug": "new", "description": "x"}),
    "groups:settings": (
        lambda w: {"slug": w.group.slug},
        {"name": "Renamed", "description": "changed"},
    ),
    "groups:audit": (lambda w: {"slug": w.group.slug}, {}),
    "groups:manage": (lambda w: {"slug": w.group.slug}, {}),
    "groups:invite": (
        lambda w: {"slug": w.group.slug},
        {"email": "newcomer@example.org", "role": Role.MEMBER, "language": "en"},
    ),
    "groups:invite_many": (
        lambda w: {"slug": w.group.slug},
        {"emails": "a@example.org\nb@example.org", "role": Role.MEMBER, "language": "en"},
    ),
    "groups:membership_role": (
        lambda w: {"slug": w.group.slug, "pk": w.membership.pk},
        {"role": Role.GUEST, "access_until": NEXT_WEEK},
    ),
    "groups:membership_extend": (
        lambda w: {"slug": w.group.slug, "pk": w.guest_membership.pk},
        {"access_until": NEXT_WEEK},
    ),
    "groups:membership_remove": (lambda w: {"slug": w.group.slug, "pk": w.membership.pk}, {}),
    "groups:invitation_resend": (
        lambda w: {"slug": w.group.slug, "pk": w.invitation.pk},
        {},
    ),
    "groups:invitation_revoke": (
        lambda w: {"slug": w.group.slug, "pk": w.invitation.pk},
        {},
    ),
    "groups:join_requests": (lambda w: {}, {}),
    "groups:join_request_detail": (
        lambda w: {"pk": w.join_request.pk},
        {"decision": "decline", "message": "Not now."},
    ),
    "public:introduction_edit": (
        lambda w: {},
        {"name_en": "The process", "text_en": "Why we meet.", "name_de": "", "text_de": ""},
    ),
    "discussions:report_queue": (lambda w: {"slug": w.group.slug}, {}),
    "discussions:thread_moderate": (lambda w: {"pk": w.thread.pk}, {"action": "lock"}),
    "discussions:thread_move": (
        lambda w: {"pk": w.thread.pk},
        lambda w: {"group": w.other_group.pk},
    ),
    "discussions:post_hide": (lambda w: {"pk": w.reply.pk}, {"reason": "Off topic."}),
    "discussions:thread_split": (lambda w: {"pk": w.reply.pk}, {"title": "A new thread"}),
    "discussions:report_close": (lambda w: {"pk": w.report.pk}, {"decision": "resolve"}),
    # Someone else's post and document: acting on them is moderating.
    "discussions:post_edit": (lambda w: {"pk": w.reply.pk}, {"body": "Rewritten."}),
    "discussions:post_delete": (lambda w: {"pk": w.reply.pk}, {}),
    "documents:edit": (lambda w: {"pk": w.document.pk}, {"title": "Renamed"}),
    "documents:delete": (lambda w: {"pk": w.document.pk}, {}),
    "meetings:schedule": (
        lambda w: {"slug": w.group.slug},
        {
            "title": "Extra session",
            "kind": Meeting.Kind.SESSION,
            "starts_at": f"{NEXT_WEEK} 10:00",
            "ends_at": f"{NEXT_WEEK} 11:00",
        },
    ),
    "meetings:edit": (
        lambda w: {"pk": w.meeting.pk},
        {
            "title": "Moved",
            "kind": Meeting.Kind.SESSION,
            "starts_at": f"{NEXT_WEEK} 12:00",
            "ends_at": f"{NEXT_WEEK} 13:00",
        },
    ),
    "meetings:cancel": (lambda w: {"pk": w.meeting.pk}, {}),
    "meetings:minutes": (
        lambda w: {"pk": w.meeting.pk},
        {"minutes": "Decided.", "action": "publish_anyway"},
    ),
    "meetings:transcript": (lambda w: {"pk": w.meeting.pk}, {"minutes": "Notes."}),
    "webinars:publish": (
        lambda w: {"pk": w.webinar_meeting.pk},
        {"abstract": "About it.", "presenters": "Ada; Uni A", "capacity": "40"},
    ),
    "webinars:unpublish": (lambda w: {"pk": w.webinar_meeting.pk}, {}),
    # Registrants' names and addresses: moderators' data, behind the gate.
    "webinars:registrations": (lambda w: {"pk": w.webinar_meeting.pk}, {}),
    "webinars:export": (lambda w: {"pk": w.webinar_meeting.pk}, {}),
    "webinars:attendance": (lambda w: {"pk": w.registration.pk}, {"attended": "yes"}),
    "results:create": (
        lambda w: {"group": w.group.slug},
        {"kind": "interim", "title": "A new result", "body": "Text."},
    ),
    "results:edit": (
        lambda w: {"group": w.group.slug, "slug": w.result.slug},
        {"kind": "recommendation", "title": "Renamed", "body": "Changed."},
    ),
    "results:publish": (
        lambda w: {"group": w.group.slug, "slug": w.result.slug},
        {"change_summary": "First version."},
    ),
    "results:withdraw": (
        lambda w: {"group": w.group.slug, "slug": w.published_result.slug},
        {"reason": "Superseded."},
    ),
    "results:delete": (lambda w: {"group": w.group.slug, "slug": w.result.slug}, {}),
}

# name -> why it is not a moderator action.
NOT_MODERATOR_ACTIONS = {
    "core:health": "the load balancer's health check, public",
    "groups:dashboard": "the person's own groups",
    "groups:mfa_resume": "back to one's own page once two-factor authentication is on",
    "groups:detail": "a group page for its people",
    "groups:members": "the member list, the same for every member of the group",
    "groups:leave": "leaving a group one belongs to",
    "groups:invitation": "accepting an invitation sent to oneself",
    "groups:join": "the public's join form",
    "groups:join_thanks": "the public's thank-you page",
    "public:home": "the public home (the person's own home once signed in)",
    "public:about": "the public home, for everyone",
    "public:group": "a group's public page",
    "discussions:thread_list": "threads of the person's group",
    "discussions:thread_create": "members start threads",
    "discussions:thread": "reading a thread",
    "discussions:thread_unread": "jumps to the first unread post",
    "discussions:reply": "members reply",
    "discussions:mark_read": "the person's own read mark",
    "discussions:watch": "the person's own notification choice",
    "discussions:post": "a post's address, redirecting to its thread",
    "discussions:post_fragment": "one post as this person sees it",
    "discussions:post_history": (
        "reading a post's revisions, its author's page too; whether moderators "
        "need two-factor authentication to read hidden posts is decided in "
        "discussions.permissions for the thread page and this one alike"
    ),
    "discussions:post_react": "members react",
    "discussions:post_report": "members report a post to the moderators",
    "discussions:preview": "renders the person's own Markdown",
    "home:search": "searches everything the person may read",
    "notifications:list": "the person's own notifications",
    "notifications:count": "the person's own unread count",
    "notifications:mark_read": "marks the person's own notifications read",
    "notifications:mark_all_read": "marks the person's own notifications read",
    "notifications:open": "opens one of the person's own notifications",
    "notifications:group_level": (
        "the person's own level for a group; the group's default set on the same page is a "
        "moderator action behind mfa_gate (notifications/tests/test_levels.py)"
    ),
    "notifications:thread_level": "the person's own level for a thread",
    "notifications:preferences": "the person's own levels and email settings",
    "documents:list": "the group's documents",
    "documents:folder": "a folder of the group's documents",
    "documents:folder_create": "members make folders",
    "documents:upload": "members upload",
    "documents:detail": "a document's page",
    "documents:discuss": "members start a document's discussion",
    "documents:version_upload": "members add versions",
    "documents:version_restore": "members restore a version (it is added as a new one)",
    "documents:download": "reading a document",
    "documents:view": "reading a document",
    "meetings:list": "the group's meetings",
    "meetings:group_chat": "the group's chat (its moderator controls: the socket's frames)",
    "meetings:detail": "a meeting's page",
    "meetings:ics": "a meeting's calendar file",
    "meetings:calendar": "the person's own calendar feed",
    "meetings:feed": "the person's own calendar feed, by its secret address",
    "notifications:unsubscribe": "a person stops their own emails, by a signed link",
    "accounts:profile": "a profile, for the people who share a group",
    "accounts:profile_edit": "the person's own profile",
    "accounts:set_language": "the person's own language",
    "webinars:detail": "a public webinar's page and registration form, for everyone",
    "webinars:registered": "the public's page after registering",
    "webinars:privacy": "the public privacy notice for registrations",
    "webinars:join": "a registrant's own join link, by its secret token",
    "webinars:confirm": "a registrant confirms their own registration, by its secret token",
    "webinars:cancel": "a registrant cancels their own registration, by its secret token",
    "webinars:calendar": "a registrant's own calendar file, by its secret token",
    "results:site_list": "the public list of published results",
    "results:site_feed": "the public feed of published results",
    "results:list": "a group's results: public ones, drafts for its people",
    "results:feed": "a group's public feed of published results",
    "results:detail": "reading a result",
    "results:version": "reading a published version",
    "results:diff": "comparing published versions",
    "results:draft": "the group's people read a draft",
}

# Whole families of URLs that are no moderator action.
NOT_MODERATOR_FAMILIES = {
    "allauth": "allauth's pages: signing in and the person's own account (and its 2FA)",
    "admin": (
        "the Django admin: staff only; organisers pass it with two-factor "
        "authentication only (groups.middleware.OrganiserMFAMiddleware)"
    ),
}


def _walk(patterns, namespace=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = namespace
            if pattern.namespace:
                inner = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
            yield from _walk(pattern.url_patterns, inner)
        elif isinstance(pattern, URLPattern):
            yield namespace, pattern


def url_names() -> dict[str, str | None]:
    """Every URL pattern the resolver knows, by name (``namespace:name``;
    the route for an unnamed one), with the family it belongs to or None."""
    names = {}
    for namespace, pattern in _walk(get_resolver().url_patterns):
        name = pattern.name or str(pattern.pattern)
        key = f"{namespace}:{name}" if namespace else name
        module = getattr(pattern.callback, "__module__", "") or ""
        if namespace.split(":")[0] == "admin":
            names[key] = "admin"
        elif module.startswith("allauth."):
            names[key] = "allauth"
        else:
            names[key] = None
    return names


def test_every_url_is_classified():
    """A URL added without saying whether it is a moderator action fails here."""
    ours = {name for name, family in url_names().items() if family is None}
    unclassified = ours - set(MODERATOR_ACTIONS) - set(NOT_MODERATOR_ACTIONS)
    assert not unclassified, f"classify these URLs: {sorted(unclassified)}"
    gone = (set(MODERATOR_ACTIONS) | set(NOT_MODERATOR_ACTIONS)) - ours
    assert not gone, f"no longer URLs: {sorted(gone)}"
    assert not set(MODERATOR_ACTIONS) & set(NOT_MODERATOR_ACTIONS)
    families = {family for family in url_names().values() if family is not None}
    assert families <= set(NOT_MODERATOR_FAMILIES)


# --- The world -------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _media(media_root):
    """Uploaded files go to a fresh folder (tests.fixtures.media)."""


@pytest.fixture
def world(group, other_group, member, moderator, guest, make_user):
    """A group with something of every kind for a moderator to act on, each
    made by someone else than the moderators below."""
    author = make_user("author@example.org", display_name="Ada Author")
    join(author, group)
    join(moderator, other_group, Role.MODERATOR)  # a target for thread_move
    thread = discussions.thread_create(
        actor=member, group=group, title="Pathways", body="What works?"
    )
    reply = discussions.post_create(
        actor=author, thread=thread, body="Skills partnerships.", parent=thread.posts.get()
    )
    starts = timezone.now() + datetime.timedelta(days=3)
    webinar_meeting = Meeting.objects.create(
        group=group,
        title="Webinar",
        kind=Meeting.Kind.WEBINAR,
        starts_at=starts,
        ends_at=starts + datetime.timedelta(hours=1),
    )
    webinar = Webinar.objects.create(
        meeting=webinar_meeting, abstract="A", capacity=10, published_at=timezone.now()
    )
    registration = Registration.objects.create(
        webinar=webinar,
        name="Rita",
        email="rita@example.org",
        language="en",
        token=Registration.new_token(),
        state=Registration.State.CONFIRMED,
    )
    return SimpleNamespace(
        group=group,
        other_group=other_group,
        thread=thread,
        reply=reply,
        report=discussions.report_create(actor=member, post=reply, reason="Spam?"),
        document=documents.document_upload(
            actor=author, group=group, uploaded=upload("report.pdf", PDF), title="Report"
        ),
        meeting=Meeting.objects.create(
            group=group,
            title="Session",
            starts_at=starts,
            ends_at=starts + datetime.timedelta(hours=1),
        ),
        membership=Membership.objects.get(user=author, group=group),
        guest_membership=Membership.objects.get(user=guest, group=group),
        invitation=groups.invitation_send(
            actor=moderator, group=group, email="invitee@example.org", role=Role.MEMBER
        ),
        webinar_meeting=webinar_meeting,
        registration=registration,
        result=results.result_create(
            actor=moderator, group=group, kind="interim", title="Draft result", body="Text."
        ),
        published_result=_published_result(moderator, group),
        join_request=groups.join_request_create(
            name="Jo Applicant",
            email="jo@example.org",
            affiliation="Uni B",
            sector="",
            motivation="I work on this.",
            group=group,
            language="en",
        ),
    )


def _published_result(moderator, group):
    result = results.result_create(
        actor=moderator, group=group, kind="interim", title="Published result", body="Text."
    )
    results.result_publish(actor=moderator, result=result, change_summary="First.")
    return result


@pytest.fixture
def moderator_without_mfa(make_user, group):
    user = make_user("nomfa@example.org", display_name="Nomfa Moderator")
    join(user, group, Role.MODERATOR)
    return user


@pytest.fixture
def organiser_without_mfa(make_user):
    return make_user("nomfa-staff@example.org", display_name="Nomfa Organiser", is_staff=True)


def snapshot() -> dict:
    """Every row of the project's apps, and the email sent."""
    rows = {}
    for label in (
        "accounts",
        "groups",
        "discussions",
        "documents",
        "meetings",
        "results",
        "notifications",
        "home",
        "webinars",
        "public_pages",
        "core",
    ):
        for model in apps.get_app_config(label).get_models():
            rows[model._meta.label] = list(model.objects.order_by("pk").values())
    rows["mail"] = [(message.subject, message.to) for message in mail.outbox]
    return rows


def refused(response) -> bool:
    """Led to turn on two-factor authentication, or forbidden."""
    if response.status_code == 403:
        return True
    return response.status_code == 302 and response["Location"] == reverse("mfa_index")


# --- Without two-factor authentication: refused, nothing changed -------------------------


@pytest.mark.parametrize("actor", ["moderator_without_mfa", "organiser_without_mfa"])
def test_moderator_urls_refused_and_change_nothing_if_no_mfa(client, world, actor, request):
    person = request.getfixturevalue(actor)
    client.force_login(person)
    failures = []
    for name, (arguments, data) in MODERATOR_ACTIONS.items():
        url = reverse(name, kwargs=arguments(world))
        data = data(world) if callable(data) else data
        for method in ("get", "post"):
            for htmx in (False, True):
                before = snapshot()
                headers = {"HX-Request": "true"} if htmx else {}
                if method == "get":
                    response = client.get(url, headers=headers)
                else:
                    response = client.post(url, data, headers=headers)
                label = f"{method.upper()} {url} ({name}{', htmx' if htmx else ''})"
                if not refused(response):
                    failures.append(f"{label}: answered {response.status_code}")
                if snapshot() != before:
                    failures.append(f"{label}: changed the database or sent email")
    assert not failures, "\n".join(failures)


# --- The same URLs with two-factor authentication: carried out (so the walk above
# reaches the views it means to) ----------------------------------------------------------


@pytest.mark.parametrize("name", sorted(MODERATOR_ACTIONS))
def test_moderator_urls_reach_the_action_if_mfa(client, world, moderator, name):
    arguments, data = MODERATOR_ACTIONS[name]
    url = reverse(name, kwargs=arguments(world))
    data = data(world) if callable(data) else data
    client.force_login(moderator)
    if name in ("groups:create", "public:introduction_edit"):  # organisers' actions
        moderator.is_staff = True
        moderator.save(update_fields=["is_staff"])
    before = snapshot()
    get = client.get(url)
    assert not refused(get) and get.status_code in (200, 405), (name, get.status_code)
    post = client.post(url, data)
    assert not refused(post) and post.status_code < 400, (name, post.status_code)
    if name not in ("groups:audit", "groups:manage", "groups:join_requests",
                    "discussions:report_queue", "webinars:registrations",
                    "webinars:export",
                    # Refused, as it should be: the world's webinar has a registrant.
                    "webinars:unpublish"):  # fmt: skip
        assert snapshot() != before, f"{name}: the POST changed nothing"


def test_join_request_queue_shows_no_applicant_if_moderator_has_no_mfa(
    client, world, moderator_without_mfa, moderator
):
    client.force_login(moderator_without_mfa)
    response = client.get(reverse("groups:join_requests"), follow=True)
    assert response.redirect_chain[0] == (reverse("mfa_index"), 302)
    assert "Jo Applicant" not in response.text and "jo@example.org" not in response.text
    client.force_login(moderator)
    assert "Jo Applicant" in client.get(reverse("groups:join_requests")).text
