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
