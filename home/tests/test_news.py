"""The home page says what is new in each of the person's groups."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from discussions import services as discussion_services
from groups import services as group_services
from groups.models import GroupVisit, Role, WorkingGroup
from home.selectors import group_news
from meetings import services as meeting_services
from tests.fixtures.people import join

from .conftest import add_document, add_version, schedule

pytestmark = pytest.mark.django_db
DASHBOARD = reverse("groups:dashboard")


def news_of(user, group):
    return group_news(user, [group])[group.pk]


def visit(client, user, group):
    client.force_login(user)
    assert client.get(group.get_absolute_url()).status_code == 200


def test_group_page_marks_visit_if_opened(client, member, group):
    visit(client, member, group)
    first = GroupVisit.objects.get(user=member, group=group).seen_at
    visit(client, member, group)
    assert GroupVisit.objects.get(user=member, group=group).seen_at > first
    assert GroupVisit.objects.filter(user=member).count() == 1


def test_news_counts_thread_as_unread_if_never_opened(member, moderator, group):
    discussion_services.thread_create(actor=moderator, group=group, title="Agenda", body="Ideas?")
    news = news_of(member, group)
    assert (news.new_threads, news.unread_replies) == (1, 0)
    assert news_of(moderator, group).new_threads == 0  # one's own thread is read


def test_news_counts_replies_after_read_mark(member, moderator, group):
    thread = discussion_services.thread_create(
        actor=moderator, group=group, title="Agenda", body="Ideas?"
    )
    discussion_services.thread_mark_read(user=member, thread=thread, position=1)
    discussion_services.post_create(actor=moderator, thread=thread, body="One")
    discussion_services.post_create(actor=moderator, thread=thread, body="Two")
    news = news_of(member, group)
    assert (news.new_threads, news.unread_replies) == (0, 2)
    thread.refresh_from_db()
    discussion_services.thread_mark_read(user=member, thread=thread, position=thread.last_position)
    assert not news_of(member, group).anything_new


def test_news_hides_hidden_thread_from_member_but_not_moderator(member, moderator, group):
    thread = discussion_services.thread_create(
        actor=moderator, group=group, title="Hidden", body="x"
    )
    discussion_services.thread_hide(actor=moderator, thread=thread)
    assert news_of(member, group).new_threads == 0


def test_news_counts_documents_and_versions_since_visit(client, member, moderator, group):
    old = add_document(moderator, group, "Old paper")
    visit(client, member, group)
    assert (news_of(member, group).documents, news_of(member, group).versions) == (0, 0)
    add_document(moderator, group, "New paper")
    add_version(moderator, old, "second")
    news = news_of(member, group)
    assert (news.documents, news.versions) == (1, 1)
    visit(client, member, group)
    assert not news_of(member, group).anything_new


def test_news_counts_every_document_if_group_never_visited(member, moderator, group):
    add_document(moderator, group, "One")
    add_document(moderator, group, "Two")
    assert news_of(member, group).documents == 2


def test_news_lists_minutes_published_since_visit(client, member, moderator, group):
    meeting = schedule(moderator, group, "Session 3", starts_in=-datetime.timedelta(days=1))
    visit(client, member, group)
    meeting_services.minutes_save(actor=moderator, meeting=meeting, minutes="Draft")
    assert news_of(member, group).minutes == []  # a draft is not news
    meeting_services.minutes_save(
        actor=moderator, meeting=meeting, minutes="Done", publish=True, before_start_confirmed=True
    )
    news = news_of(member, group)
    assert [m.pk for m in news.minutes] == [meeting.pk]
    assert news.minutes_count == 1
    visit(client, member, group)
    assert news_of(member, group).minutes == []


def test_documents_list_clears_new_documents_but_not_minutes(client, member, moderator, group):
    meeting = schedule(moderator, group, "Session 3", starts_in=-datetime.timedelta(days=1))
    meeting_services.minutes_save(
        actor=moderator, meeting=meeting, minutes="Done", publish=True, before_start_confirmed=True
    )
    add_document(moderator, group, "New paper")
    client.force_login(member)
    assert client.get(reverse("documents:list", args=[group.slug])).status_code == 200
    news = news_of(member, group)
    assert news.documents == 0
    assert [m.pk for m in news.minutes] == [meeting.pk]


def test_meetings_list_clears_new_minutes_but_not_documents(client, member, moderator, group):
    meeting = schedule(moderator, group, "Session 3", starts_in=-datetime.timedelta(days=1))
    meeting_services.minutes_save(
        actor=moderator, meeting=meeting, minutes="Done", publish=True, before_start_confirmed=True
    )
    add_document(moderator, group, "New paper")
    client.force_login(member)
    assert client.get(reverse("meetings:list", args=[group.slug])).status_code == 200
    news = news_of(member, group)
    assert news.minutes == []
    assert news.documents == 1
    # The overview clears both.
    add_document(moderator, group, "Newer paper")
    assert news_of(member, group).documents == 2
    visit(client, member, group)
    assert not news_of(member, group).anything_new


def test_news_shows_next_scheduled_meeting_only(member, moderator, group):
    later = schedule(moderator, group, "Later", starts_in=datetime.timedelta(days=9))
    soon = schedule(moderator, group, "Soon", starts_in=datetime.timedelta(days=2))
    schedule(moderator, group, "Past", starts_in=-datetime.timedelta(days=2))
    assert news_of(member, group).next_meeting == soon
    meeting_services.meeting_update(actor=moderator, meeting=soon, data={"status": "cancelled"})
    assert news_of(member, group).next_meeting == later


def test_dashboard_shows_join_link_if_meeting_room_open(client, member, moderator, group):
    schedule(
        moderator,
        group,
        "Now",
        starts_in=datetime.timedelta(minutes=5),
        video_link="https://meet.example.org/now",
    )
    client.force_login(member)
    page = client.get(DASHBOARD).text
    assert "Next meeting:" in page
    assert 'href="https://meet.example.org/now"' in page


def test_dashboard_hides_join_link_if_meeting_room_not_open(client, member, moderator, group):
    schedule(
        moderator,
        group,
        "Next week",
        starts_in=datetime.timedelta(days=7),
        video_link="https://meet.example.org/later",
    )
    client.force_login(member)
    page = client.get(DASHBOARD).text
    assert "Next week" in page
    assert "https://meet.example.org/later" not in page


def test_dashboard_shows_meeting_time_in_viewers_zone(client, member, moderator, group):
    starts = timezone.now().replace(microsecond=0) + datetime.timedelta(days=3)
    meeting_services.meeting_schedule(
        actor=moderator,
        group=group,
        data={
            "title": "Zoned",
            "starts_at": starts,
            "ends_at": starts + datetime.timedelta(hours=1),
        },
    )
    member.time_zone = "America/New_York"
    member.save()
    client.force_login(member)
    page = client.get(DASHBOARD).text
    from zoneinfo import ZoneInfo

    local = starts.astimezone(ZoneInfo("America/New_York"))
    assert f'datetime="{local.isoformat()}"' in page


def test_dashboard_shows_waiting_work_to_moderator_only(client, member, moderator, group):
    group_services.join_request_create(
        name="Ana",
        email="ana@example.org",
        affiliation="",
        sector="",
        motivation="I work on this.",
        group=group,
        language="en",
    )
    thread = discussion_services.thread_create(actor=member, group=group, title="T", body="Bad")
    discussion_services.report_create(actor=moderator, post=thread.posts.get(), reason="Rude")
    client.force_login(moderator)
    page = client.get(DASHBOARD).text
    assert "1 join request waiting" in page
    assert "1 report waiting" in page
    assert reverse("discussions:report_queue", args=[group.slug]) in page
    assert f'href="{reverse("groups:join_requests")}"' in page
    client.force_login(member)
    page = client.get(DASHBOARD).text
    assert "join request" not in page
    assert "report waiting" not in page
    assert reverse("groups:join_requests") not in page


def test_dashboard_links_join_request_queue_if_moderator_without_requests(client, moderator, group):
    client.force_login(moderator)
    assert f'href="{reverse("groups:join_requests")}"' in client.get(DASHBOARD).text


def test_news_never_counts_other_groups(client, member, other_member, other_group, group):
    thread = discussion_services.thread_create(
        actor=other_member, group=other_group, title="Theirs", body="x"
    )
    add_document(other_member, other_group, "Their paper")
    assert group_news(member, [group, other_group])[other_group.pk].anything_new is False
    client.force_login(member)
    page = client.get(DASHBOARD).text
    assert "Their paper" not in page and thread.title not in page
    assert "Nothing new since your last visit." in page


@pytest.mark.parametrize("who", ["expired_guest", "removed_member", "outsider"])
def test_dashboard_shows_nothing_of_group_if_no_valid_membership(
    request, client, who, member, group
):
    add_document(member, group, "Paper")
    client.force_login(request.getfixturevalue(who))
    page = client.get(DASHBOARD).text
    assert "new document" not in page
    assert group.name not in page


def test_dashboard_is_german_if_viewer_is_german(client, member, moderator, group):
    discussion_services.thread_create(actor=moderator, group=group, title="A", body="x")
    member.language = "de"
    member.save()
    client.force_login(member)
    assert "1 ungelesene Diskussion" in client.get(DASHBOARD).text


def _groups_full_of_news(n, member, moderator):
    for index in range(n):
        group = WorkingGroup.objects.create(name=f"Group {index}", slug=f"group-{index}")
        join(member, group, Role.MODERATOR)
        join(moderator, group, Role.MODERATOR)
        thread = discussion_services.thread_create(
            actor=moderator, group=group, title=f"T{index}", body="x"
        )
        discussion_services.thread_mark_read(user=member, thread=thread, position=1)
        discussion_services.post_create(actor=moderator, thread=thread, body="reply")
        document = add_document(moderator, group, f"Paper {index}")
        add_version(moderator, document, f"v{index}")
        past = schedule(moderator, group, f"Past {index}", starts_in=-datetime.timedelta(days=1))
        meeting_services.minutes_save(actor=moderator, meeting=past, minutes="m", publish=True)
        schedule(
            moderator,
            group,
            f"Next {index}",
            starts_in=datetime.timedelta(minutes=5),
            video_link=f"https://meet.example.org/{index}",
        )
        group_services.join_request_create(
            name="Ana",
            email=f"ana{index}@example.org",
            affiliation="",
            sector="",
            motivation="Please.",
            group=group,
            language="en",
        )
        discussion_services.report_create(actor=member, post=thread.posts.first(), reason="x")


@pytest.mark.parametrize("groups", [1, 5])
def test_dashboard_queries_do_not_grow_with_groups(
    client, make_user, django_assert_num_queries, groups
):
    from tests.fixtures.people import enable_mfa

    member = enable_mfa(make_user("many@example.org"))
    moderator = enable_mfa(make_user("mod@example.org"))
    _groups_full_of_news(groups, member, moderator)
    client.force_login(member)
    client.get(DASHBOARD)  # the session and the language settle
    with django_assert_num_queries(QUERIES):
        page = client.get(DASHBOARD)
    assert page.text.count("1 unread reply") == groups
    assert page.text.count("1 new document, 1 new version") == groups
    assert page.text.count("1 join request waiting") == groups
    assert page.text.count("1 report waiting") == groups
    assert page.text.count('class="video-link"') == groups
    assert page.text.count("Minutes published:") == groups


# The bell: which kinds are unread, then their count; for a moderator, whether 2FA is on.
QUERIES = 15
