"""The public home and the groups' public pages: what visitors see, what
they never see, and the cache that serves them."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts import services as accounts
from discussions import services as discussions
from documents import services as documents
from documents.tests.conftest import PDF, upload
from groups import services as groups
from groups.models import Role
from meetings.models import Meeting
from tests.fixtures.people import join

pytestmark = pytest.mark.django_db

SECTIONS = [
    "public_pages.tests.sections.upcoming",
    "public_pages.tests.sections.nothing",
    "public_pages.tests.sections.published",
]


def list_publicly(user, **choices):
    for name in ("public_name", *choices):
        setattr(user, name, choices.get(name, True))
    user.save()
    return user


@pytest.fixture
def summary(group):
    group.public_summary = "Fair labour migration, in the open."
    group.save()
    return group.public_summary


def group_url(group):
    return reverse("public:group", kwargs={"slug": group.slug})


# --- The home ----------------------------------------------------------------------


def test_home_shows_groups_with_summary_and_join_link_if_visitor(client, group, summary):
    response = client.get("/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Working groups" in page  # the introduction's default name
    assert group.name in page and summary in page
    assert group_url(group) in page
    assert f"{reverse('groups:join')}?group={group.pk}" in page


def test_home_is_in_german_if_visitor_asks_for_it(client, group, summary):
    page = client.get("/", headers={"accept-language": "de"}).content.decode()
    assert '<html lang="de">' in page
    assert "Arbeitsgruppen" in page and "Mitwirken" in page
    assert summary in page
    english = client.get("/", headers={"accept-language": "en"}).content.decode()
    assert "Take part" in english and "Mitwirken" not in english


def test_home_is_own_dashboard_if_signed_in(client, member, group):
    client.force_login(member)
    response = client.get("/")
    assert response.status_code == 200
    assert "groups/dashboard.html" in [t.name for t in response.templates]
    assert reverse("groups:dashboard") == "/"


def test_about_shows_public_home_if_signed_in(client, member, group, summary):
    client.force_login(member)
    response = client.get(reverse("public:about"))
    assert "public_pages/home.html" in [t.name for t in response.templates]
    assert summary in response.content.decode()


def test_home_shows_sections_in_their_order_if_provided(client, settings, group):
    settings.PUBLIC_SECTIONS = SECTIONS
    page = client.get("/").content.decode()
    assert page.index("Interim results") < page.index("Webinar for everywhere")


def test_group_page_shows_the_group_s_sections(client, settings, group):
    settings.PUBLIC_SECTIONS = SECTIONS
    page = client.get(group_url(group)).content.decode()
    assert f"Webinar for {group.name}" in page and "Interim results" in page


def test_group_page_404_if_unknown(client, group):
    assert client.get(reverse("public:group", kwargs={"slug": "nope"})).status_code == 404


# --- Who is listed, with what ------------------------------------------------------------


def test_group_page_lists_only_the_fields_each_person_chose(client, group, member, make_user):
    member.country, member.bio, member.sector = "Spain", "Works on labour law.", "academia"
    member.save()
    list_publicly(member, public_country=True)
    quiet = make_user("quiet@example.org", display_name="Quinn Quiet", affiliation="Uni Q")
    join(quiet, group)
    page = client.get(group_url(group)).content.decode()
    assert "Mia Member" in page and "Spain" in page
    assert "Uni A" not in page  # affiliation not chosen
    assert "Works on labour law." not in page  # bio not chosen
    assert "Academia</dd>" not in page  # her sector is counted, not listed beside her
    assert "Quinn Quiet" not in page and "Uni Q" not in page  # chose nothing
    assert "member@example.org" not in page and "quiet@example.org" not in page


def test_group_page_lists_every_chosen_field(client, group, member):
    member.sector, member.country, member.bio = "policy", "Spain", "Works on labour law."
    member.save()
    list_publicly(
        member, public_affiliation=True, public_sector=True, public_country=True, public_bio=True
    )
    page = client.get(group_url(group)).content.decode()
    assert "Uni A · Policymaking and administration · Spain" in page
    assert "Works on labour law." in page


def test_group_page_lists_guest_only_while_access_lasts(client, group, guest, expired_guest):
    list_publicly(guest)
    list_publicly(expired_guest)
    page = client.get(group_url(group)).content.decode()
    assert "Gina Guest" in page
    assert "Ex Guest" not in page


def test_group_page_lists_no_removed_member_nor_other_group_s(
    client, group, removed_member, other_member
):
    list_publicly(removed_member)
    list_publicly(other_member)
    page = client.get(group_url(group)).content.decode()
    assert "Rem Oved" not in page and "Otto Other" not in page


def test_sector_mix_counts_every_valid_member_listed_or_not(
    client, group, member, guest, expired_guest, removed_member, make_user
):
    for user, sector in [(member, "academia"), (guest, "business"), (expired_guest, "business")]:
        user.sector = sector
        user.save()
    join(make_user(sector="business"), group)
    response = client.get(group_url(group))
    mix = {row.label: row.count for row in response.context["mix"].sectors}
    assert response.context["mix"].total == 3  # member, guest, the new one
    assert mix["Academia"] == 1 and mix["Business"] == 2
    assert mix["Civil society"] == 0 and mix["Other or not given"] == 0
    assert "3 people take part in this group." in response.content.decode()


def test_group_page_cached_until_the_first_guest_s_access_ends(client, group, guest, settings):
    settings.PUBLIC_CACHE_SECONDS = 3600
    end = timezone.now() + datetime.timedelta(seconds=90)
    guest.memberships.update(expires_at=end)
    from public_pages import selectors

    assert 60 < selectors.seconds_until_next_change(group) <= 90


# --- The cache ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/public/", "/public/groups/fair-migration/"])
def test_public_page_costs_no_query_if_cached(
    client, group, member, path, django_assert_num_queries
):
    list_publicly(member)
    client.get(path)
    with django_assert_num_queries(0):
        second = client.get(path)
    assert second.status_code == 200
    assert group.name in second.content.decode()
    if path == group_url(group):
        assert "Mia Member" in second.content.decode()


def test_public_page_cached_per_language(client, group):
    assert "Take part" in client.get("/", headers={"accept-language": "en"}).content.decode()
    assert "Mitwirken" in client.get("/", headers={"accept-language": "de"}).content.decode()
    assert "Take part" in client.get("/", headers={"accept-language": "en"}).content.decode()


def test_cache_dropped_if_group_summary_changes(
    client, group, moderator, django_capture_on_commit_callbacks
):
    client.get("/")
    client.get(group_url(group))
    with django_capture_on_commit_callbacks(execute=True):
        groups.group_update(actor=moderator, group=group, data={"public_summary": "Now public."})
    assert "Now public." in client.get("/").content.decode()
    assert "Now public." in client.get(group_url(group)).content.decode()


def test_cache_kept_if_change_rolled_back(
    client, group, moderator, django_capture_on_commit_callbacks
):
    """A hook called in a transaction that rolls back drops nothing (and the
    page would show nothing new)."""
    client.get(group_url(group))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        groups.group_update(actor=moderator, group=group, data={"public_summary": "Now public."})
    assert callbacks  # registered for after commit, not run before
    assert "Now public." not in client.get(group_url(group)).content.decode()


def test_cache_dropped_if_membership_changes(
    client, group, moderator, make_user, django_capture_on_commit_callbacks
):
    newcomer = list_publicly(make_user(display_name="Nora Newcomer"))
    assert "Nora Newcomer" not in client.get(group_url(group)).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        membership = groups.membership_create(
            actor=moderator, group=group, user=newcomer, role=Role.MEMBER
        )
    assert "Nora Newcomer" in client.get(group_url(group)).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        groups.membership_revoke(actor=moderator, membership=membership)
    assert "Nora Newcomer" not in client.get(group_url(group)).content.decode()


def test_cache_dropped_if_person_opts_in_or_out(
    client, group, member, django_capture_on_commit_callbacks
):
    assert "Mia Member" not in client.get(group_url(group)).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        accounts.profile_update(actor=member, user=member, data={"public_name": True})
    assert "Mia Member" in client.get(group_url(group)).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        accounts.profile_update(actor=member, user=member, data={"public_name": False})
    assert "Mia Member" not in client.get(group_url(group)).content.decode()


def test_profile_change_not_shown_publicly_drops_nothing(
    client, group, member, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        accounts.profile_update(actor=member, user=member, data={"time_zone": "Europe/Berlin"})
    assert not callbacks


# --- No session for visitors -------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/public/", "/public/groups/fair-migration/"])
def test_public_page_sets_no_session_cookie_and_varies_if_visitor(client, group, path, settings):
    for _attempt in ("miss", "hit"):
        response = client.get(path)
        assert response.status_code == 200
        assert "sessionid" not in response.cookies
        vary = {v.strip().lower() for v in response["Vary"].split(",")}
        assert {"accept-language", "cookie"} <= vary
    assert settings.SESSION_COOKIE_NAME not in client.cookies


def test_cached_page_carries_each_visitor_s_own_csrf_token(client, group):
    from django.test import Client

    from core.public_cache import CSRF_PLACEHOLDER

    first = client.get("/")
    other = Client()
    second = other.get("/")
    for response in (first, second):
        assert CSRF_PLACEHOLDER not in response.content.decode()
    # The language switch still works for the visitor served from the cache.
    switched = other.post(
        reverse("accounts:set_language"), {"language": "de", "next": "/"}, enforce_csrf_checks=True
    )
    assert switched.status_code == 302


def test_logout_message_not_cached_into_public_home(client, member, group):
    client.force_login(member)
    client.post(reverse("account_logout"))
    page = client.get("/").content.decode()
    assert "You have signed out" not in page


# --- No member-only text on any public page ------------------------------------------------


def test_public_pages_show_no_member_only_text(
    client, settings, group, member, moderator, media_root, summary
):
    settings.PUBLIC_SECTIONS = SECTIONS
    list_publicly(member, public_affiliation=True)
    thread = discussions.thread_create(
        actor=member, group=group, title="Secret strategy thread", body="Confidential post body."
    )
    discussions.post_create(
        actor=moderator, thread=thread, body="A confidential reply.", parent=thread.posts.get()
    )
    documents.document_upload(
        actor=member, group=group, uploaded=upload("draft.pdf", PDF), title="Internal draft memo"
    )
    starts = timezone.now() + datetime.timedelta(days=2)
    Meeting.objects.create(
        group=group,
        title="Closed session on funding",
        starts_at=starts,
        ends_at=starts + datetime.timedelta(hours=1),
        video_link="https://video.example.org/secret-room",
        agenda="Members-only agenda",
    )
    secret = [
        "Secret strategy thread",
        "Confidential post body.",
        "A confidential reply.",
        "Internal draft memo",
        "draft.pdf",
        "Closed session on funding",
        "video.example.org",
        "Members-only agenda",
        "Rights and work",  # the group's description, for its people
        "member@example.org",
        "moderator@example.org",
    ]
    urls = ["/", reverse("public:about"), group_url(group)]
    for language in ("en", "de"):
        for url in urls:
            response = client.get(url, headers={"accept-language": language})
            assert response.status_code == 200
            page = response.content.decode()
            assert summary in page  # the pages did render
            assert url != group_url(group) or "Mia Member" in page
            leaked = [text for text in secret if text in page]
            assert not leaked, (url, language, leaked)


# --- The introduction ------------------------------------------------------------------------


def test_organiser_edits_introduction_per_language(
    client, organiser, group, django_capture_on_commit_callbacks
):
    client.force_login(organiser)
    url = reverse("public:introduction_edit")
    assert client.get(url).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url,
            {
                "name_en": "Migration 2027",
                "text_en": "**Open** process.",
                "name_de": "",
                "text_de": "",
            },
        )
    assert response.status_code == 302
    visitor = client.__class__()
    assert "Migration 2027" in visitor.get("/").content.decode()
    assert "<strong>Open</strong> process." in visitor.get("/").content.decode()
    # No German text yet: the default language's.
    german = visitor.get("/", headers={"accept-language": "de"}).content.decode()
    assert "Migration 2027" in german
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            url,
            {
                "name_en": "Migration 2027",
                "text_en": "Open process.",
                "name_de": "Migration 2027 (de)",
                "text_de": "Offener Prozess.",
            },
        )
    german = visitor.get("/", headers={"accept-language": "de"}).content.decode()
    assert "Offener Prozess." in german


def test_introduction_edit_refused_if_member(client, member):
    client.force_login(member)
    url = reverse("public:introduction_edit")
    assert client.get(url).status_code == 403
    assert client.post(url, {"name_en": "Mine", "text_en": ""}).status_code == 403
    from public_pages.models import Introduction

    assert not Introduction.objects.exists()


def test_introduction_edit_changes_nothing_if_default_name_missing(client, organiser):
    from public_pages.models import Introduction

    client.force_login(organiser)
    response = client.post(
        reverse("public:introduction_edit"),
        {"name_en": "", "text_en": "Text", "name_de": "Name", "text_de": ""},
    )
    assert response.status_code == 400
    assert not Introduction.objects.exists()


def test_introduction_edit_link_on_public_home_only_for_organisers(client, organiser, member):
    assert reverse("public:introduction_edit") not in client.get("/").content.decode()
    client.force_login(member)
    assert reverse("public:introduction_edit") not in client.get("/public/").content.decode()
    client.force_login(organiser)
    assert reverse("public:introduction_edit") in client.get("/public/").content.decode()


# --- The profile's choices ---------------------------------------------------------------------


def test_profile_listing_choices_off_by_default_and_saved_by_the_form(client, member, group):
    assert not any(
        getattr(member, f)
        for f in (
            "public_name",
            "public_affiliation",
            "public_sector",
            "public_country",
            "public_bio",
        )
    )
    client.force_login(member)
    form = client.get(reverse("accounts:profile_edit")).content.decode()
    assert 'name="public_name"' in form and 'name="public_bio"' in form
    response = client.post(
        reverse("accounts:profile_edit"),
        {"display_name": "Mia Member", "affiliation": "Uni A", "public_name": "on"},
    )
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.public_name and not member.public_affiliation


def test_cached_page_carries_no_visitor_s_nonce(client, group):
    client.get("/")
    assert "nonce=" not in client.get("/").content.decode()


def test_group_page_queries_do_not_grow_with_its_people(client, settings, group, make_user):
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.PUBLIC_SECTIONS = SECTIONS

    def queries() -> int:
        cache.clear()
        with CaptureQueriesContext(connection) as captured:
            assert client.get(group_url(group)).status_code == 200
        return len(captured)

    join(list_publicly(make_user(sector="academia")), group)
    few = queries()
    for sector in ["policy", "business", "civil_society", "", "academia", "policy"]:
        join(list_publicly(make_user(sector=sector, public_sector=True)), group, Role.GUEST)
    assert queries() == few


@pytest.mark.parametrize(
    "sections, error",
    [
        (["public_pages.tests.sections.missing"], "public_pages.E002"),
        (["nowhere.section"], "public_pages.E002"),
        (["public_pages.tests.sections.CALLS"], "public_pages.E003"),
        ("public_pages.tests.sections.upcoming", "public_pages.E001"),
    ],
)
def test_check_reports_public_sections_that_are_no_functions(settings, sections, error):
    from public_pages.checks import check_public_sections

    settings.PUBLIC_SECTIONS = sections
    assert [found.id for found in check_public_sections()] == [error]


def test_check_accepts_section_functions(settings):
    from public_pages.checks import check_public_sections

    settings.PUBLIC_SECTIONS = SECTIONS
    assert check_public_sections() == []
