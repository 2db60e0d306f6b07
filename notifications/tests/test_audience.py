"""discussions.permissions.post_audience: the rule of posts_visible_to, for many people at once."""

from discussions import permissions
from discussions import services as discussions


def test_post_audience_agrees_with_posts_visible_to(
    thread, opening_post, member, guest, moderator, organiser, expired_guest, removed_member,
    outsider, other_member,
):  # fmt: skip
    people = [member, guest, moderator, organiser, expired_guest, removed_member, outsider]
    people.append(other_member)
    ids = {person.pk for person in people}

    def expected(post):
        return {p.pk for p in people if permissions.posts_visible_to(p).filter(pk=post.pk).exists()}

    reply = discussions.post_create(actor=guest, thread=thread, body="A reply")
    assert permissions.post_audience(reply, ids) == {
        member.pk,
        guest.pk,
        moderator.pk,
        organiser.pk,
    }
    discussions.post_set_hidden(actor=moderator, post=reply, hidden=True, reason="Off topic")
    reply.refresh_from_db()
    assert permissions.post_audience(reply, ids) == expected(reply)
    assert permissions.post_audience(reply, ids) == {guest.pk, moderator.pk, organiser.pk}
    discussions.thread_hide(actor=moderator, thread=thread)
    opening_post.refresh_from_db()
    assert permissions.post_audience(opening_post, ids) == expected(opening_post)
    assert permissions.post_audience(opening_post, ids) == {moderator.pk, organiser.pk}


def test_groups_and_meetings_audience_agree_with_the_rules_for_one(
    group, other_group, member, guest, moderator, organiser, expired_guest, removed_member,
    outsider, other_member,
):  # fmt: skip
    import datetime

    from django.utils import timezone

    from groups import permissions as group_permissions
    from meetings import permissions as meeting_permissions
    from meetings.models import Meeting

    people = [member, guest, moderator, organiser, expired_guest, removed_member, outsider]
    people.append(other_member)
    ids = {person.pk for person in people}
    groups = [group, other_group]
    assert group_permissions.groups_audience([g.pk for g in groups], ids) == {
        (g.pk, p.pk) for g in groups for p in people
        if group_permissions.groups_visible_to(p).filter(pk=g.pk).exists()
    }  # fmt: skip
    assert group_permissions.groups_audience([group.pk], ids, moderators=True) == {
        (group.pk, moderator.pk),
        (group.pk, organiser.pk),
    }
    starts = timezone.now() + datetime.timedelta(days=1)
    meetings = [
        Meeting.objects.create(
            group=g, title=g.name, starts_at=starts, ends_at=starts + datetime.timedelta(hours=1)
        )
        for g in groups
    ]
    Meeting.objects.filter(pk=meetings[1].pk).update(minutes_published_at=timezone.now())
    meetings = list(Meeting.objects.filter(pk__in=[m.pk for m in meetings]))
    assert meeting_permissions.meetings_audience(meetings, ids) == {
        (m.pk, p.pk) for m in meetings for p in people
        if meeting_permissions.meetings_visible_to(p).filter(pk=m.pk).exists()
    }  # fmt: skip
    assert meeting_permissions.minutes_audience(meetings, ids) == {
        (m.pk, p.pk) for m in meetings for p in people
        if meeting_permissions.meetings_visible_to(p).filter(pk=m.pk).exists()
        and meeting_permissions.can_read_minutes(p, m)
    }  # fmt: skip
    assert (meetings[0].pk, member.pk) not in meeting_permissions.minutes_audience(meetings, ids)
    assert (meetings[1].pk, other_member.pk) in meeting_permissions.minutes_audience(meetings, ids)


def test_notifications_visible_among_agrees_with_notifications_visible_to(
    thread, opening_post, group, member, guest, moderator, organiser, expired_guest,
    removed_member, outsider, media_root, django_assert_max_num_queries,
):  # fmt: skip
    """Every kind of object, hidden, deleted and moved included, for people
    with every kind of access: the batch answer is the one-person answer."""
    import datetime

    from django.utils import timezone

    from documents import services as documents
    from documents.tests.conftest import PDF, upload
    from groups.models import JoinRequest, Membership
    from meetings.models import ChatMessage, ChatRoom, Meeting
    from notifications import selectors
    from notifications.models import Kind, Notification, TargetType

    people = [member, guest, moderator, organiser, expired_guest, removed_member, outsider]
    hidden = discussions.post_create(actor=guest, thread=thread, body="Hidden")
    discussions.post_set_hidden(actor=moderator, post=hidden, hidden=True, reason="x")
    deleted = discussions.post_create(actor=member, thread=thread, body="Deleted")
    discussions.post_delete(actor=member, post=deleted)
    report = discussions.report_create(actor=guest, post=opening_post, reason="Check")
    starts = timezone.now() + datetime.timedelta(days=1)
    meeting = Meeting.objects.create(
        group=group, title="M", starts_at=starts, ends_at=starts + datetime.timedelta(hours=1)
    )
    join_request = JoinRequest.objects.create(
        group=group, name="Applicant", email="a@example.org", motivation="Hi"
    )
    membership = Membership.objects.get(user=guest, group=group)
    room = ChatRoom.objects.create(group=group)
    said, unsaid = (
        ChatMessage.objects.create(room=room, author=member, body=body, body_html=body, seq=seq)
        for seq, body in enumerate(["Hello", "Gone"], start=1)
    )
    ChatMessage.objects.filter(pk=unsaid.pk).update(deleted_at=timezone.now())
    document = documents.document_upload(
        actor=member, group=group, uploaded=upload("plan.pdf", PDF), title="Plan"
    )
    targets = [
        (Kind.MENTION, TargetType.POST, opening_post.pk),
        (Kind.REPLY, TargetType.POST, hidden.pk),
        (Kind.WATCHED_POST, TargetType.POST, deleted.pk),
        (Kind.REPORT, TargetType.REPORT, report.pk),
        (Kind.MEETING_SOON, TargetType.MEETING, meeting.pk),
        (Kind.MINUTES_PUBLISHED, TargetType.MEETING, meeting.pk),
        (Kind.JOIN_REQUEST, TargetType.JOIN_REQUEST, join_request.pk),
        (Kind.GUEST_EXPIRING, TargetType.MEMBERSHIP, membership.pk),
        (Kind.MENTION, TargetType.CHAT_MESSAGE, said.pk),
        (Kind.MENTION, TargetType.CHAT_MESSAGE, unsaid.pk),
        (Kind.MENTION, TargetType.AGENDA, meeting.pk),
        (Kind.MENTION, TargetType.MINUTES, meeting.pk),
        (Kind.DOCUMENT_NEW, TargetType.VERSION, document.current_version_id),
    ]
    Notification.objects.bulk_create(
        (
            Notification(
                recipient=person,
                kind=kind,
                group=group,
                target_type=target_type,
                target_id=target_id,
                url="/",
                subject="s",
            )
            for person in people
            for kind, target_type, target_id in targets
        ),
        ignore_conflicts=True,  # the services wrote some of them already
    )
    expected = set()
    for person in people:
        expected |= set(selectors.notifications_visible_to(person).values_list("pk", flat=True))
    every = list(Notification.objects.all())
    # Per kind of object, the objects and the people of their groups: a
    # number of queries that does not grow with the people.
    with django_assert_max_num_queries(25):
        assert selectors.notifications_visible_among(every) == expected
    assert expected  # some are visible, and not all
    assert len(expected) < len(people) * len(targets)
    # The bell's count asks the rules of the unread kinds only: the same answer.
    Notification.objects.filter(target_type=TargetType.REPORT).update(read_at=timezone.now())
    for person in people:
        full = selectors.notifications_visible_to(person).filter(read_at__isnull=True)
        assert selectors.unread_count(person) == full.count()


def test_unread_count_asks_only_the_rules_of_the_kinds_unread(
    thread, opening_post, group, member, moderator, django_assert_num_queries
):
    """The bell's count is on every page: with nothing unread it is one
    query on the recipient's notifications; with unread replies only, the
    posts' rule is asked and no other."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from notifications import selectors
    from notifications.models import Notification

    Notification.objects.filter(recipient=moderator).update(read_at=timezone.now())
    with django_assert_num_queries(1):
        assert selectors.unread_count(moderator) == 0

    discussions.post_create(actor=member, thread=thread, body=f"Look, @{moderator.mention_handle}")
    assert Notification.objects.filter(recipient=moderator, read_at__isnull=True).count() == 1
    with CaptureQueriesContext(connection) as queries:
        assert selectors.unread_count(moderator) == 1
    counted = queries.captured_queries[-1]["sql"]
    assert "discussions_post" in counted
    for table in ("meetings_meeting", "meetings_chatmessage", "documents_documentversion"):
        assert table not in counted, table


def test_posts_audience_agrees_with_posts_visible_to(
    thread, opening_post, member, guest, moderator, organiser, expired_guest, removed_member,
    outsider, other_member,
):  # fmt: skip
    from discussions.models import Post

    people = [member, guest, moderator, organiser, expired_guest, removed_member, outsider]
    people.append(other_member)
    ids = {person.pk for person in people}
    visible_reply = discussions.post_create(actor=member, thread=thread, body="Seen")
    hidden_reply = discussions.post_create(actor=guest, thread=thread, body="Hidden")
    discussions.post_set_hidden(actor=moderator, post=hidden_reply, hidden=True, reason="x")

    def expected(posts):
        return {
            (post.pk, p.pk) for post in posts for p in people
            if permissions.posts_visible_to(p).filter(pk=post.pk).exists()
        }  # fmt: skip

    def posts():
        return list(Post.objects.filter(thread=thread).select_related("thread"))

    assert permissions.posts_audience(posts(), ids) == expected(posts())
    assert (hidden_reply.pk, guest.pk) in permissions.posts_audience(posts(), ids)
    assert (hidden_reply.pk, member.pk) not in permissions.posts_audience(posts(), ids)
    assert (visible_reply.pk, member.pk) in permissions.posts_audience(posts(), ids)
    discussions.thread_hide(actor=moderator, thread=thread)
    assert permissions.posts_audience(posts(), ids) == expected(posts())
    assert {user_id for _post, user_id in permissions.posts_audience(posts(), ids)} == {
        moderator.pk,
        organiser.pk,
    }
