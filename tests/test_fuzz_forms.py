"""Every form of the workspace, fuzzed: hostile bodies get no 500, log no
traceback, and change nothing when they are refused.

Every URL the resolver knows (the Django admin's aside: staff only, Django's
own forms) is POSTed to by the person who may use it (``ROLES``): a moderator
with two-factor authentication for moderator actions (an organiser for the
organisers' ones), a member of the group for the rest, and a visitor too for
the public ones. A URL that answers a POST with 405 takes none and is left.

The field names are the forms' own: every page of the world is read as a
moderator and as a member, and each ``<form method="post">`` (and ``hx-post``)
gives the names it sends to its address; the values that work (from
tests/test_moderator_mfa.py) are among those tried. Hypothesis builds the
bodies: hostile values (huge, NUL bytes, lists where one value is expected,
negative and huge numbers, dates that do not exist, unknown choices), fields
left out, unknown fields, raw bodies that are not UTF-8, the wrong content
type, multipart with bogus files.

Each body is sent inside a transaction rolled back afterwards, so the next
starts from the same world. It must answer below 500 with no error logged,
and when it is refused (4xx, or the form shown again with its errors) the
database, the email sent and the media folder must be as they were.

``FUZZ_EXAMPLES`` (tests/fuzzing.py) sets the examples per URL and person.
"""

import contextlib
import copy
import html.parser
import itertools
import json
from types import SimpleNamespace
from typing import NamedTuple

import pytest
from django import forms
from django.core import mail
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client
from django.urls import NoReverseMatch, Resolver404, resolve, reverse
from hypothesis import example, given
from hypothesis import strategies as st

from core.tests.test_access import PUBLIC_URL_NAMES
from documents.tests.conftest import PDF
from groups.models import Invitation, Role
from meetings.models import CalendarFeed
from notifications import unsubscribe
from notifications.models import Notification
from tests import fuzzing
from tests.test_moderator_mfa import (  # noqa: F401  (world: a fixture)
    MODERATOR_ACTIONS,
    NOT_MODERATOR_ACTIONS,
    snapshot,
    url_names,
    world,
)

pytestmark = pytest.mark.django_db

ORGANISER_ACTIONS = {"groups:create", "public:introduction_edit"}

# name -> the URL's arguments, from the fuzz world (moderator actions: their
# arguments in tests/test_moderator_mfa.py).
ARGUMENTS = {
    "core:health": lambda w: {},
    "groups:dashboard": lambda w: {},
    "groups:detail": lambda w: {"slug": w.group.slug},
    "groups:members": lambda w: {"slug": w.group.slug},
    "groups:leave": lambda w: {"slug": w.group.slug},
    "groups:invitation": lambda w: {"token": w.invitation_token},
    "groups:join": lambda w: {},
    "groups:join_thanks": lambda w: {},
    "public:home": lambda w: {},
    "public:about": lambda w: {},
    "public:group": lambda w: {"slug": w.group.slug},
    "discussions:thread_list": lambda w: {"slug": w.group.slug},
    "discussions:thread_create": lambda w: {"slug": w.group.slug},
    "discussions:thread": lambda w: {"pk": w.thread.pk},
    "discussions:thread_unread": lambda w: {"pk": w.thread.pk},
    "discussions:reply": lambda w: {"pk": w.thread.pk},
    "discussions:mark_read": lambda w: {"pk": w.thread.pk},
    "discussions:watch": lambda w: {"pk": w.thread.pk},
    "discussions:post": lambda w: {"pk": w.reply.pk},
    "discussions:post_fragment": lambda w: {"pk": w.reply.pk},
    "discussions:post_history": lambda w: {"pk": w.reply.pk},
    "discussions:post_react": lambda w: {"pk": w.reply.pk},
    "discussions:post_report": lambda w: {"pk": w.reply.pk},
    "discussions:preview": lambda w: {},
    "home:search": lambda w: {},
    "notifications:list": lambda w: {},
    "notifications:count": lambda w: {},
    "notifications:mark_read": lambda w: {},
    "notifications:mark_all_read": lambda w: {},
    "notifications:open": lambda w: {"pk": w.notification_pk},
    "notifications:group_level": lambda w: {"slug": w.group.slug},
    "notifications:thread_level": lambda w: {"pk": w.thread.pk},
    "notifications:preferences": lambda w: {},
    "notifications:unsubscribe": lambda w: {"token": w.unsubscribe_token},
    "documents:list": lambda w: {"slug": w.group.slug},
    "documents:folder": lambda w: {"slug": w.group.slug, "pk": w.folder.pk},
    "documents:folder_create": lambda w: {"slug": w.group.slug},
    "documents:upload": lambda w: {"slug": w.group.slug},
    "documents:detail": lambda w: {"pk": w.document.pk},
    "documents:discuss": lambda w: {"pk": w.document.pk},
    "documents:version_upload": lambda w: {"pk": w.document.pk},
    "documents:version_restore": lambda w: {"pk": w.version.pk},
    "documents:download": lambda w: {"pk": w.version.pk},
    "documents:view": lambda w: {"pk": w.version.pk},
    "meetings:list": lambda w: {"slug": w.group.slug},
    "meetings:group_chat": lambda w: {"slug": w.group.slug},
    "meetings:detail": lambda w: {"pk": w.meeting.pk},
    "meetings:ics": lambda w: {"pk": w.meeting.pk},
    "meetings:calendar": lambda w: {},
    "meetings:feed": lambda w: {"token": w.feed_token},
    "accounts:profile": lambda w: {"pk": w.member.pk},
    "accounts:profile_edit": lambda w: {},
    "accounts:set_language": lambda w: {},
    "webinars:detail": lambda w: {"pk": w.registration.webinar.pk},
    "webinars:registered": lambda w: {"pk": w.registration.webinar.pk},
    "webinars:privacy": lambda w: {},
    "webinars:join": lambda w: {"token": w.registration.token},
    "webinars:confirm": lambda w: {"token": w.registration.token},
    "webinars:cancel": lambda w: {"token": w.registration.token},
    "webinars:calendar": lambda w: {"token": w.registration.token},
    "results:site_list": lambda w: {},
    "results:site_feed": lambda w: {},
    "results:list": lambda w: {"group": w.group.slug},
    "results:feed": lambda w: {"group": w.group.slug},
    "results:detail": lambda w: {"group": w.group.slug, "slug": w.published_result.slug},
    "results:version": lambda w: {
        "group": w.group.slug,
        "slug": w.published_result.slug,
        "number": 1,
    },
    "results:diff": lambda w: {"group": w.group.slug, "slug": w.published_result.slug},
    "results:draft": lambda w: {"group": w.group.slug, "slug": w.result.slug},
    # allauth's pages with arguments: links from emails, here made up.
    "account_confirm_email": lambda w: {"key": "made-up-key"},
    "account_reset_password_from_key": lambda w: {"uidb36": "1", "key": "set-password"},
}
for _name, (_arguments, _data) in MODERATOR_ACTIONS.items():
    ARGUMENTS[_name] = _arguments


def roles(name: str) -> list[str]:
    """Who POSTs to the URL: the person who may use it, and a visitor where
    it is public."""
    if name in ORGANISER_ACTIONS:
        people = ["organiser"]
    elif name in MODERATOR_ACTIONS:
        people = ["moderator"]
    else:
        people = ["member"]
    if name in PUBLIC_URL_NAMES or name.split(":")[-1] in PUBLIC_URL_NAMES:
        people.append("visitor")
    return people


def fuzzed_urls() -> list[str]:
    """Every URL name but the Django admin's (staff only: Django's own forms)."""
    return sorted(name for name, family in url_names().items() if family != "admin")


CASES = [(name, role) for name in fuzzed_urls() for role in roles(name)]


def test_every_url_has_its_arguments():
    """A new URL fails here until ARGUMENTS says what to fill it with."""
    missing = []
    for name in fuzzed_urls():
        if name in ARGUMENTS:
            continue
        try:
            reverse(name)
        except NoReverseMatch:
            missing.append(name)
    assert not missing, f"add these URLs' arguments to ARGUMENTS: {missing}"


# --- The world -------------------------------------------------------------------------


@pytest.fixture
def fuzz_world(world, member, moderator, organiser):  # noqa: F811
    """tests/test_moderator_mfa.py's world, with the secret links and the
    objects the other URLs need."""
    from documents.models import Folder

    extra = SimpleNamespace(**vars(world))
    extra.member = member
    invitation = Invitation.objects.get(pk=world.invitation.pk)
    extra.invitation_token = invitation.set_new_token()
    invitation.save(update_fields=["token_hash"])
    feed = CalendarFeed(user=member)
    extra.feed_token = feed.set_new_token()
    feed.save()
    extra.unsubscribe_token = unsubscribe.token(member.pk, "all")
    extra.folder = Folder.objects.create(group=world.group, name="Reports")
    extra.version = world.document.versions.order_by("pk").first()
    notification = Notification.objects.filter(recipient=member).order_by("pk").first()
    extra.notification_pk = notification.pk if notification else 1
    extra.people = {"member": member, "moderator": moderator, "organiser": organiser}
    join_staff(organiser, world.group)
    return extra


def join_staff(organiser, group):
    from tests.fixtures.people import join

    join(organiser, group, Role.MODERATOR)


@pytest.fixture(autouse=True)
def _media(media_root):
    """Uploaded files go to a fresh folder (tests.fixtures.media)."""


# --- The forms' field names ------------------------------------------------------------


class FormFields(html.parser.HTMLParser):
    """The names each POST form (and hx-post element) of a page sends, by the
    address it sends them to."""

    def __init__(self, page: str):
        super().__init__()
        self.page = page
        self.found: dict[str, set[str]] = {}
        self.open: list[str] = []  # the addresses of the forms being read

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and (attrs.get("method") or "").lower() == "post":
            self.open.append(attrs.get("action") or self.page)
            self.found.setdefault(self.open[-1], set())
        elif tag == "form":
            self.open.append("")  # a GET form: not ours
        if attrs.get("hx-post"):
            names = self.found.setdefault(attrs["hx-post"], set())
            if attrs.get("name"):
                names.add(attrs["name"])
            with contextlib.suppress(ValueError):
                names.update(json.loads(attrs.get("hx-vals") or "{}"))
        named = tag in ("input", "select", "textarea", "button") and attrs.get("name")
        if named and self.open and self.open[-1]:
            self.found[self.open[-1]].add(attrs["name"])

    def handle_endtag(self, tag):
        if tag == "form" and self.open:
            self.open.pop()


def url_of(name: str, w) -> str | None:
    try:
        return reverse(name, kwargs=ARGUMENTS[name](w) if name in ARGUMENTS else None)
    except NoReverseMatch:
        return None


def form_fields(w) -> dict[str, set[str]]:
    """The field names of every POST form on every page of the world, read
    as a moderator, an organiser and a member, by the URL name they go to."""
    fields: dict[str, set[str]] = {}
    for role, person in w.people.items():
        client = Client()
        client.force_login(person)
        for name in fuzzed_urls():
            if role not in roles(name) and role != "moderator":
                continue  # the moderator's pages have the members' forms too
            url = url_of(name, w)
            if url is None:
                continue
            response = client.get(url, headers={"Accept-Language": "en"})
            if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
                continue
            parser = FormFields(url)
            parser.feed(response.content.decode(errors="replace"))
            for action, names in parser.found.items():
                try:
                    match = resolve(action.split("?")[0].split("#")[0])
                except Resolver404:
                    continue
                fields.setdefault(match.view_name, set()).update(names)
    return fields


def good_values(name: str, w) -> dict[str, list[str]]:
    """What works in each field (tests/test_moderator_mfa.py's bodies)."""
    if name not in MODERATOR_ACTIONS:
        return {}
    data = MODERATOR_ACTIONS[name][1]
    data = data(w) if callable(data) else data
    return {key: [str(value)] for key, value in data.items()}


# --- The bodies ------------------------------------------------------------------------

CONTENT_TYPES = [
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=latin-1",
    "application/x-www-form-urlencoded; charset=made-up",
    "application/json",
    "text/plain",
    "multipart/form-data",  # no boundary
    "multipart/form-data; boundary=",
    "multipart/form-data; boundary=zzz",
    "",
]
RAW_BODIES = st.one_of(
    st.binary(max_size=200),
    st.sampled_from(
        [
            b"\xff\xfe\xfd",
            b"body=%FF%FE&title=%C3",
            b"body=\xed\xa0\x80&title=\xc3\x28",
            b'--zzz\r\nContent-Disposition: form-data; name="file"; filename="a\x00.pdf"\r\n\r\n',
            b'--zzz\r\nContent-Disposition: form-data; name="title"\r\n\r\nx\r\n--zzz--\r\n',
            b'{"title": "x", "body": ["a"]}',
            b"=&=&&==",
            b"a=" + b"%00" * 1000,
        ]
    ),
)


class File(NamedTuple):
    """A file to upload, made into an UploadedFile when the body is sent
    (one is read empty by its first request)."""

    name: str
    content: bytes
    content_type: str

    def upload(self):
        return SimpleUploadedFile(self.name or "blank", self.content, self.content_type)


files = st.builds(
    File,
    st.sampled_from(
        ["report.pdf", "", "../../evil.pdf", "a\x00b.pdf", "x" * 300 + ".pdf", ".pdf", "ä.PDF"]
    ),
    st.sampled_from([b"", PDF, b"%PDF-1.4 broken", b"\x00" * 1000, b"MZ\x90\x00"]),
    st.sampled_from(["application/pdf", "text/html", "", "image/png"]),
)


@st.composite
def bodies(draw, names: list[str], good: dict[str, list[str]]):
    """(keyword arguments for Client.post, a label)."""
    kind = draw(st.sampled_from(["form", "form", "form", "multipart", "raw"]))
    htmx = draw(st.booleans())
    headers = {"HX-Request": "true"} if htmx else {}
    if kind == "raw":
        body = draw(RAW_BODIES)
        content_type = draw(st.sampled_from(CONTENT_TYPES))
        # Client.generic sends the bytes as they are (Client.post would
        # encode them again for the declared charset).
        return {"data": body, "content_type": content_type, "headers": headers}, kind
    chosen = draw(st.lists(st.sampled_from(names), unique=True)) if names else []
    chosen += draw(st.lists(st.sampled_from(["unknown", "csrfmiddlewaretoken", "", "x" * 500])))
    data = {name: draw(fuzzing.field_values(good.get(name))) for name in chosen}
    if kind == "multipart":
        for name in draw(st.lists(st.sampled_from(names or ["file"]), max_size=2)):
            data[name] = draw(files)
    return {"data": data, "headers": headers}, kind


def corpus(names: list[str], good: dict[str, list[str]]) -> list[tuple[dict, str]]:
    """The bodies every URL gets before Hypothesis's own: each kind of
    hostility in every field at once."""
    names = names or ["unknown"]
    hostile = itertools.cycle(["-1", "9" * 40, "2026-02-30", "made-up", "1e309", "NaN", "0"])
    htmx = {"HX-Request": "true"}
    return [
        ({"data": dict.fromkeys(names, "x" * fuzzing.HUGE), "headers": {}}, "every field huge"),
        (
            {"data": {name: ["\x00", "a\x00b", *good.get(name, [])] for name in names},
             "headers": htmx},
            "NUL bytes, several values each",
        ),
        (
            {"data": {name: next(hostile) for name in names} | {
                name: good[name][0] for name in names[:-1] if name in good
            }, "headers": {}},
            "numbers, dates, choices that do not exist (the other fields good)",
        ),
        (
            {"data": "&".join(f"{name}=%FF%ED%A0%80" for name in names).encode() + b"\xff\xfe",
             "content_type": "application/x-www-form-urlencoded", "headers": htmx},
            "raw: not UTF-8",
        ),
        (
            {"data": json.dumps({name: [1, {"a": None}] for name in names}).encode(),
             "content_type": "application/json", "headers": {}},
            "raw: JSON",
        ),
        (
            {"data": {name: File("../x\x00.pdf", b"MZ\x00" * 100, "application/pdf")
                      for name in names}, "headers": {}},
            "multipart: bogus files in every field",
        ),
    ]  # fmt: skip


# --- The test --------------------------------------------------------------------------


def media_files(root) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


def shown_with_errors(response) -> bool:
    """The form came back with its errors (a refusal answered 200 or 4xx)."""
    if response.streaming:
        return False  # a file
    text = response.content.decode(errors="replace")
    return 'aria-invalid="true"' in text or "errorlist" in text


def fuzz(name: str, role: str, w, media_root) -> str | None:
    """Sends ``name``'s URL hostile bodies as ``role``; what went wrong (with
    Hypothesis's smallest failing body), or None."""
    url = url_of(name, w)
    person = w.people.get(role)
    with transaction.atomic():
        probe = Client(raise_request_exception=False)
        if person is not None:
            probe.force_login(person)
        takes_post = probe.post(url).status_code != 405
        transaction.set_rollback(True)
    if not takes_post:
        return None  # this URL takes no POST: nothing to fuzz
    good = good_values(name, w)
    names = sorted(form_fields_cached(w).get(name, set()) | set(good))
    # Signed in once (a sign-in writes last_login); each body goes with a
    # copy of this session cookie.
    signed_in = Client()
    if person is not None:
        signed_in.force_login(person)
    mail.outbox = []
    # Every body's writes are undone: each starts from this.
    before = snapshot()
    files_before = media_files(media_root)

    def survives(body):
        arguments, kind = body
        arguments = dict(arguments)
        if isinstance(arguments["data"], dict):
            arguments["data"] = {
                key: value.upload() if isinstance(value, File) else value
                for key, value in arguments["data"].items()
            }
        mail.outbox = []
        cache.clear()  # no rate limit reached by the bodies before
        client = Client(raise_request_exception=False)
        client.cookies = copy.copy(signed_in.cookies)
        with transaction.atomic():
            with fuzzing.watching_logs() as logs:
                if "content_type" in arguments:
                    # The bytes as they are (Client.post would encode them
                    # again for the declared charset).
                    response = client.generic("POST", url, **arguments)
                else:
                    response = client.post(url, **arguments)
            label = f"POST {url} ({name}, {role}, {kind}) answered {response.status_code}"
            assert response.status_code < 500, f"{label}; logged: {logs.lines()}"
            assert not logs.records, f"{label}; logged: {logs.lines()}"
            if response.status_code >= 400 or shown_with_errors(response):
                assert snapshot() == before, f"{label}: refused, yet the database changed"
                assert media_files(media_root) == files_before, f"{label}: files left"
            transaction.set_rollback(True)

    test = given(body=bodies(names, good))(survives)
    for body in corpus(names, good):
        test = example(body=body)(test)
    try:
        fuzzing.FUZZ_SETTINGS(test)()
    except Exception as error:
        return fuzzing.described(error)
    return None


def cases_of(role: str) -> list[str]:
    return [name for name, who in CASES if who == role]


@pytest.mark.parametrize("role", ["member", "moderator", "organiser", "visitor"])
def test_forms_survive_hostile_bodies(role, fuzz_world, media_root):
    """One world per person (it takes seconds to build; each body's writes are
    undone), every URL of theirs fuzzed in turn."""
    failures = []
    for name in cases_of(role):
        failure = fuzz(name, role, fuzz_world, media_root)
        if failure:
            failures.append(f"--- {name} as {role}:\n{failure}")
    assert not failures, "\n".join(failures)


_FIELDS: dict[str, set[str]] = {}


def form_fields_cached(w) -> dict[str, set[str]]:
    """The world is made afresh for each case, alike each time: its pages are
    read once per run."""
    if not _FIELDS:
        _FIELDS.update(form_fields(w))
    return _FIELDS


def test_form_fields_found_for_the_main_forms(fuzz_world):
    """The pages' forms are read: the reply form, the upload form, the
    meeting form have their fields (else the fuzzing above sends no names)."""
    fields = form_fields(fuzz_world)
    assert "body" in fields["discussions:reply"]
    assert "file" in fields["documents:upload"]
    assert "starts_at" in fields["meetings:schedule"]


def test_fuzzing_finds_a_500_and_a_write_on_refusal(fuzz_world, media_root, monkeypatch):
    """The harness itself: a reply form that crashes on a NUL byte, and one
    that writes before refusing, are both reported (with the body)."""
    from discussions.forms import ReplyForm
    from discussions.models import Post

    def crashes(form):
        if "\x00" in str(form.data.get("body", "")):
            raise ValueError("NUL")
        return form.cleaned_data

    monkeypatch.setattr(ReplyForm, "clean", crashes)
    found = fuzz("discussions:reply", "member", fuzz_world, media_root)
    assert found and "answered 500" in found and "ValueError" in found

    def writes_then_refuses(form):
        Post.objects.filter(pk=fuzz_world.reply.pk).update(body="changed")
        raise forms.ValidationError("no")

    monkeypatch.setattr(ReplyForm, "clean", writes_then_refuses)
    found = fuzz("discussions:reply", "member", fuzz_world, media_root)
    assert found and "refused, yet the database changed" in found
