"""discussions.permissions: an allow and a deny case for the rules the pages,
search and services share (hidden posts, move targets, the reply page)."""

import pytest
from django.core.exceptions import PermissionDenied

from discussions import permissions, services
from groups.models import Role, WorkingGroup
from tests.fixtures.people import join

pytestmark = pytest.mark.django_db


@pytest.fixture
def hidden_reply(thread, member, moderator, make_reply):
    post = make_reply(member, body="Off topic.")
    return services.post_set_hidden(actor=moderator, post=post, hidden=True, reason="Off topic")


def test_posts_visible_to_includes_hidden_post_if_author_moderator_or_organiser(
    hidden_reply, member, moderator, organiser
):
    for person in (member, moderator, organiser):
        assert permissions.posts_visible_to(person).filter(pk=hidden_reply.pk).exists()


def test_posts_visible_to_leaves_out_hidden_post_if_other_member_or_guest(
    hidden_reply, make_user, group, guest
):
    colleague = make_user("colleague@example.org")
    join(colleague, group)
    for person in (colleague, guest):
        visible = permissions.posts_visible_to(person)
        assert not visible.filter(pk=hidden_reply.pk).exists()
        assert visible.filter(pk=hidden_reply.thread.posts.get(position=1).pk).exists()


def test_posts_visible_to_leaves_out_other_groups_posts(thread, other_member, outsider):
    for person in (other_member, outsider):
        assert not permissions.posts_visible_to(person).filter(thread=thread).exists()


def test_thread_move_targets_are_other_open_groups_the_user_moderates(
    thread, moderator, other_group
):
    archived = WorkingGroup.objects.create(name="Closed", slug="closed", archived=True)
    join(moderator, other_group, Role.MODERATOR)
    join(moderator, archived, Role.MODERATOR)
    assert list(permissions.thread_move_targets(moderator, thread)) == [other_group]
    assert permissions.can_move_thread(moderator, thread, other_group)
    assert not permissions.can_move_thread(moderator, thread, archived)


def test_thread_move_targets_are_every_other_open_group_if_organiser(
    thread, organiser, other_group
):
    assert list(permissions.thread_move_targets(organiser, thread)) == [other_group]


def test_cannot_move_thread_if_target_only_joined_as_member(thread, moderator, other_group):
    join(moderator, other_group)
    assert not permissions.thread_move_targets(moderator, thread).exists()
    assert not permissions.can_move_thread(moderator, thread, other_group)


def test_thread_move_denied_if_target_is_archived(thread, moderator, group):
    archived = WorkingGroup.objects.create(name="Closed", slug="closed", archived=True)
    join(moderator, archived, Role.MODERATOR)
    with pytest.raises(PermissionDenied):
        services.thread_move(actor=moderator, thread=thread, to_group=archived)
    thread.refresh_from_db()
    assert thread.group == group


def test_reply_form_opens_if_member_or_if_thread_is_locked(thread, member, moderator, guest):
    assert permissions.thread_viewer(member, thread).can_open_reply_form()
    services.thread_lock(actor=moderator, thread=thread, locked=True)
    thread.refresh_from_db()
    for person in (member, guest, moderator):
        assert permissions.thread_viewer(person, thread).can_open_reply_form()
    assert not permissions.thread_viewer(member, thread).can_reply()


def test_reply_form_does_not_open_if_not_a_member(thread, other_member, outsider):
    for person in (other_member, outsider):
        assert not permissions.thread_viewer(person, thread).can_open_reply_form()


def test_reports_moderated_by_are_the_reports_of_the_groups_the_user_moderates(
    thread, member, moderator, other_member, make_reply
):
    post = make_reply(moderator, body="Off topic.")
    report = services.report_create(actor=member, post=post, reason="Off topic")
    assert list(permissions.reports_moderated_by(moderator)) == [report]
    for person in (member, other_member):
        assert not permissions.reports_moderated_by(person).exists()
