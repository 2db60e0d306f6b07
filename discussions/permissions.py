"""Who may see and do what in discussions. Built on groups.permissions, the
one place that decides group access."""

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.http import Http404

from groups import permissions as group_permissions
from groups.models import Membership, Role, WorkingGroup

from .models import Post, Report, Thread


def threads_visible_to(user) -> QuerySet[Thread]:
    """Threads of the user's groups; hidden threads only for their moderators."""
    threads = Thread.objects.filter(group_permissions.in_groups_visible_to(user))
    if group_permissions.is_organiser(user):
        return threads
    return threads.filter(Q(hidden=False) | group_permissions.in_groups_moderated_by(user))


def posts_visible_to(user) -> QuerySet[Post]:
    """Posts of the threads the user sees, deleted ones included; hidden posts
    only for their author and the group's moderators (organisers see all):
    for many posts, the rule ``ThreadViewer.can_view_history`` states for one."""
    posts = Post.objects.filter(thread__in=threads_visible_to(user))
    if group_permissions.is_organiser(user):
        return posts
    return posts.filter(
        Q(hidden=False)
        | Q(author_id=user.pk)
        | group_permissions.in_groups_moderated_by(user, "thread__group")
    )


def post_audience(post: Post, user_ids) -> set[int]:
    """Of ``user_ids``, those who may see ``post`` now, in one query: for many
    people, the rule ``posts_visible_to`` states for one (organisers; the
    group's valid members, only its moderators for a hidden thread; a hidden
    post only its author and the moderators). ``post.thread`` is loaded."""
    thread = post.thread
    memberships = Membership.objects.valid().filter(group_id=thread.group_id)
    if thread.hidden or post.hidden:
        moderators = memberships.filter(role=Role.MODERATOR)
        if thread.hidden or post.author_id is None:
            memberships = moderators
        else:
            memberships = memberships.filter(Q(role=Role.MODERATOR) | Q(user_id=post.author_id))
    people = get_user_model().objects.filter(pk__in=list(user_ids), is_active=True)
    return set(
        people.filter(Q(is_staff=True) | Q(pk__in=memberships.values("user_id"))).values_list(
            "pk", flat=True
        )
    )


def posts_audience(posts, user_ids) -> set[tuple[int, int]]:
    """``post_audience`` for many posts at once: the pairs (post id, user id)
    of ``posts`` (with ``thread`` loaded) and ``user_ids`` where that person
    may see that post now, in the queries of ``groups.permissions.groups_audience``
    (twice if a post or thread is hidden): a group's people (organisers
    included) see its posts; a hidden thread only its moderators; a hidden
    post only its author (while they take part) and the moderators."""
    posts = list(posts)
    if not posts:
        return set()
    user_ids = list(user_ids)
    seeing: dict[int, set[int]] = {}
    for group_id, user_id in group_permissions.groups_audience(
        {post.thread.group_id for post in posts}, user_ids
    ):
        seeing.setdefault(group_id, set()).add(user_id)
    restricted = {post.thread.group_id for post in posts if post.thread.hidden or post.hidden}
    moderating: dict[int, set[int]] = {}
    if restricted:
        for group_id, user_id in group_permissions.groups_audience(
            restricted, user_ids, moderators=True
        ):
            moderating.setdefault(group_id, set()).add(user_id)
    pairs = set()
    for post in posts:
        group_id = post.thread.group_id
        people = seeing.get(group_id, set())
        if post.thread.hidden or post.hidden:
            allowed = moderating.get(group_id, set())
            if not post.thread.hidden and post.author_id in people:
                allowed = allowed | {post.author_id}
        else:
            allowed = people
        pairs.update((post.pk, user_id) for user_id in allowed)
    return pairs


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


def thread_move_targets(user, thread: Thread) -> QuerySet[WorkingGroup]:
    """The groups ``user`` may move ``thread`` to: the other groups they
    moderate (organisers: every other group) that are not archived."""
    return (
        group_permissions.groups_moderated_by(user)
        .exclude(pk=thread.group_id)
        .filter(archived=False)
    )


def can_move_thread(user, thread: Thread, to_group: WorkingGroup) -> bool:
    """Moderators of the thread's group move it to one of ``thread_move_targets``."""
    return (
        can_moderate_thread(user, thread)
        and thread_move_targets(user, thread).filter(pk=to_group.pk).exists()
    )


def check_move_thread(user, thread: Thread, to_group: WorkingGroup) -> None:
    if not can_move_thread(user, thread, to_group):
        raise PermissionDenied


def can_start_thread(user, group) -> bool:
    return group_permissions.is_member(user, group) and not group.archived


def check_start_thread(user, group) -> None:
    if not can_start_thread(user, group):
        raise PermissionDenied


@dataclass(frozen=True)
class ThreadViewer:
    """What one person may do in one thread, worked out once (one query), so
    that a page of posts asks nothing more per post. The ``can_*`` functions
    below delegate to it: this is the one statement of the rules."""

    user_id: int | None
    member: bool
    moderator: bool
    archived: bool
    locked: bool
    hidden: bool = False  # the thread is hidden from members

    def can_see_thread(self) -> bool:
        """For one thread, the rule ``threads_visible_to`` states for many:
        its group's people (organisers: everyone's), a hidden thread only
        its group's moderators."""
        return self.member and (not self.hidden or self.moderator)

    def is_author(self, post: Post) -> bool:
        return self.user_id is not None and post.author_id == self.user_id

    def can_reply(self) -> bool:
        """Members reply while a thread is open; moderators also when it is locked."""
        if self.archived or not self.member:
            return False
        return not self.locked or self.moderator

    def can_open_reply_form(self) -> bool:
        """The reply page: for those who may reply, and for the members of a
        locked thread (it tells them why it takes no reply)."""
        return self.member and (self.can_reply() or self.locked)

    def can_edit_post(self, post: Post) -> bool:
        if post.is_deleted or not self.member or self.archived:
            return False
        return self.is_author(post) or self.moderator

    def can_delete_post(self, post: Post) -> bool:
        return self.can_edit_post(post)

    def can_view_history(self, post: Post) -> bool:
        """The author and moderators (they also read a hidden post's text)."""
        return self.is_author(post) or self.moderator

    def can_react(self, post: Post) -> bool:
        return not post.is_deleted and not post.hidden and not self.archived and self.member

    def can_report(self, post: Post) -> bool:
        return self.can_react(post) and not self.is_author(post)

    def post_actions(self, post: Post) -> dict[str, bool]:
        """Everything the page offers on ``post``, for templates."""
        return {
            "reply": self.can_reply(),
            "edit": self.can_edit_post(post),
            "delete": self.can_delete_post(post),
            "history": self.can_view_history(post),
            "see_hidden": self.can_view_history(post),
            "react": self.can_react(post),
            "report": self.can_report(post),
            "moderate": self.moderator,
        }


def thread_viewer(user, thread: Thread) -> ThreadViewer:
    """The user's rights in ``thread`` (whose group is loaded)."""
    membership = None
    if not group_permissions.is_organiser(user):
        membership = group_permissions.membership_of(user, thread.group)
    return _viewer(user, thread, membership.role if membership else None)


def _viewer(user, thread: Thread, role: str | None) -> ThreadViewer:
    """``role``: that of the user's valid membership of the thread's group
    (None: none)."""
    if group_permissions.is_organiser(user):
        member = moderator = True
    else:
        member = role is not None
        moderator = role == Role.MODERATOR
    return ThreadViewer(
        user_id=user.pk if user.is_authenticated else None,
        member=member,
        moderator=moderator,
        archived=thread.group.archived,
        locked=thread.locked,
        hidden=thread.hidden,
    )


def access_thread_as_viewer(user, pk, **annotations) -> tuple[Thread, ThreadViewer]:
    """``access_thread`` and ``thread_viewer`` in one query: the thread if the
    user may see it (Http404 otherwise), with ``annotations`` (expressions on
    the thread, e.g. the user's read mark), and the user's rights in it.

    The thread comes with the role of the user's valid membership of its
    group, and ``ThreadViewer.can_see_thread`` decides: cheaper to build and
    run than ``threads_visible_to``'s subqueries, for one thread."""
    if not group_permissions.is_organiser(user):
        role = (
            group_permissions.valid_memberships(user)
            .filter(group=OuterRef("group_id"))
            .values("role")[:1]
        )
        annotations["viewer_role"] = Subquery(role)
    threads = Thread.objects.select_related("group").annotate(**annotations).filter(pk=pk)
    thread = threads.order_by("pk").first()
    if thread is None:
        raise Http404
    viewer = _viewer(user, thread, getattr(thread, "viewer_role", None))
    if not viewer.can_see_thread():
        raise Http404
    return thread, viewer


def can_reply(user, thread: Thread) -> bool:
    """Members reply while a thread is open; moderators also when it is locked."""
    return thread_viewer(user, thread).can_reply()


def can_edit_post(user, post: Post) -> bool:
    return thread_viewer(user, post.thread).can_edit_post(post)


def can_delete_post(user, post: Post) -> bool:
    return can_edit_post(user, post)


def can_view_history(user, post: Post) -> bool:
    return thread_viewer(user, post.thread).can_view_history(post)


def can_react(user, post: Post) -> bool:
    return thread_viewer(user, post.thread).can_react(post)


def can_report(user, post: Post) -> bool:
    return thread_viewer(user, post.thread).can_report(post)


def reports_visible_to(user, group) -> QuerySet[Report]:
    if not group_permissions.is_moderator(user, group):
        return Report.objects.none()
    return Report.objects.filter(post__thread__group=group)


def reports_moderated_by(user) -> QuerySet[Report]:
    """``reports_visible_to`` for every group at once: the reports on posts of
    the groups the user moderates."""
    return Report.objects.filter(
        group_permissions.in_groups_moderated_by(user, "post__thread__group")
    )


def reports_audience(reports, user_ids) -> set[tuple[int, int]]:
    """``reports_moderated_by`` for many people and reports at once: the
    pairs (report id, user id) where that person moderates the group the
    reported post is in now (``reports``: Report objects with
    ``post__thread`` loaded), in the queries of
    ``groups.permissions.groups_audience``."""
    return group_permissions.objects_audience(
        [(report.pk, report.post.thread.group_id) for report in reports],
        user_ids,
        moderators=True,
    )


def access_report(user, pk) -> Report:
    """A report on a post the user may see; Http404 otherwise. Whether they may
    handle it is ``check_moderate_thread``'s question."""
    report = (
        Report.objects.filter(post__thread__in=threads_visible_to(user))
        .select_related("post__thread__group")
        .filter(pk=pk)
        .first()
    )
    if report is None:
        raise Http404
    return report


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
