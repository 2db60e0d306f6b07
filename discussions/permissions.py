"""Who may see and do what in discussions. Built on groups.permissions, the
one place that decides group access."""

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404

from groups import permissions as group_permissions

from .models import Post, Report, Thread


def threads_visible_to(user) -> QuerySet[Thread]:
    """Threads of the user's groups; hidden threads only for their moderators."""
    groups = group_permissions.groups_visible_to(user)
    if user.is_authenticated and user.is_staff:
        return Thread.objects.filter(group__in=groups)
    moderated = group_permissions.valid_memberships(user).filter(role="moderator")
    return Thread.objects.filter(group__in=groups).filter(
        Q(hidden=False) | Q(group_id__in=moderated.values("group_id"))
    )


def access_thread(user, pk) -> Thread:
    """The thread if the user may see it; Http404 otherwise (missing and forbidden alike)."""
    thread = threads_visible_to(user).select_related("group").filter(pk=pk).first()
    if thread is None:
        raise Http404
    return thread


def access_post(user, pk) -> Post:
    """A post of a thread the user may see; Http404 otherwise."""
    post = (
        Post.objects.filter(thread__in=threads_visible_to(user))
        .select_related("thread__group", "author")
        .filter(pk=pk)
        .first()
    )
    if post is None:
        raise Http404
    return post


def can_moderate_thread(user, thread: Thread) -> bool:
    return group_permissions.is_moderator(user, thread.group)


def check_moderate_thread(user, thread: Thread) -> None:
    if not can_moderate_thread(user, thread):
        raise PermissionDenied


def can_start_thread(user, group) -> bool:
    return group_permissions.is_member(user, group) and not group.archived


def check_start_thread(user, group) -> None:
    if not can_start_thread(user, group):
        raise PermissionDenied


def can_reply(user, thread: Thread) -> bool:
    """Members reply while a thread is open; moderators also when it is locked."""
    if thread.group.archived or not group_permissions.is_member(user, thread.group):
        return False
    return not thread.locked or can_moderate_thread(user, thread)


def can_edit_post(user, post: Post) -> bool:
    if post.is_deleted or not group_permissions.is_member(user, post.thread.group):
        return False
    if post.thread.group.archived:
        return False
    return post.author_id == user.pk or can_moderate_thread(user, post.thread)


def can_delete_post(user, post: Post) -> bool:
    return can_edit_post(user, post)


def can_view_history(user, post: Post) -> bool:
    return post.author_id == user.pk or can_moderate_thread(user, post.thread)


def can_react(user, post: Post) -> bool:
    return (
        not post.is_deleted
        and not post.hidden
        and not post.thread.group.archived
        and group_permissions.is_member(user, post.thread.group)
    )


def can_report(user, post: Post) -> bool:
    return can_react(user, post) and post.author_id != user.pk


def reports_visible_to(user, group) -> QuerySet[Report]:
    if not group_permissions.is_moderator(user, group):
        return Report.objects.none()
    return Report.objects.filter(post__thread__group=group)


def thread_stream_access(user, key: str):
    """Socket access to a thread's live updates: whoever may see the thread."""
    from core.streams import Access

    thread = threads_visible_to(user).filter(pk=key).first()
    if thread is None:
        return None
    membership = group_permissions.membership_of(user, thread.group)
    return Access(
        group_id=thread.group_id, expires_at=membership.expires_at if membership else None
    )
