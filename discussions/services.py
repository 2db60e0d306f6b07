"""Writes to discussions. Each checks permission, runs in one transaction,
records moderator actions in the group's audit log, and emits its event on
the thread's stream (``thread:<id>``) after commit, numbered:

- ``post.created`` {post, parent, position}
- ``post.edited`` {post}, ``post.deleted`` {post}, ``post.hidden`` / ``post.unhidden`` {post}
- ``post.reactions`` {post, counts: {kind: n}}
- ``thread.updated`` {thread, pinned, locked, hidden, title}
- ``thread.moved`` {thread, group} followed by ``access.changed`` (sockets re-check access)
- ``posts.split`` {posts: [ids], to_thread}

Payloads carry ids, never per-viewer HTML: each page fetches what it shows.
"""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, F
from django.utils import timezone
from django.utils.translation import gettext as _

from core import hooks
from core.realtime import emit
from groups import permissions as group_permissions
from groups.mentions import render_post
from groups.models import WorkingGroup
from groups.services import audit

from . import permissions
from .models import (
    MAX_DEPTH,
    POSITION_WIDTH,
    Post,
    PostRevision,
    Reaction,
    ReactionKind,
    ReadState,
    Report,
    Subscription,
    Thread,
)

MAX_BODY = 20_000
MAX_TITLE = 200


def _clean_body(body: str) -> str:
    body = (body or "").strip()
    if not body:
        raise ValidationError(_("Please write something."), code="empty")
    if len(body) > MAX_BODY:
        raise ValidationError(
            _("A post can be at most %(max)d characters long.") % {"max": MAX_BODY}, code="long"
        )
    if "\x00" in body:
        raise ValidationError(_("The text contains characters that are not allowed."))
    return body


def _clean_title(title: str) -> str:
    title = " ".join((title or "").split())
    if not title:
        raise ValidationError(_("Please give the thread a title."), code="empty")
    if len(title) > MAX_TITLE:
        raise ValidationError(_("The title is too long."), code="long")
    return title


def _check_sees_thread(user, thread: Thread) -> None:
    """Writing into a thread needs sight of it: a hidden thread belongs to its
    group's moderators alone, whatever else a member may do there."""
    if not permissions.threads_visible_to(user).filter(pk=thread.pk).exists():
        raise PermissionDenied


def _watch(user, thread) -> None:
    Subscription.objects.get_or_create(user=user, thread=thread)


def _search_text(title: str, body: str) -> str:
    return f"{title}\n{body}"


def _add_post(*, actor, thread: Thread, body: str, parent: Post | None) -> tuple[Post, list]:
    """Adds a post to a thread locked FOR UPDATE by the caller; returns it
    and the people it mentions."""
    html, mentioned = render_post(body, thread.group)
    position = thread.last_position + 1
    if parent is not None and parent.depth + 1 < MAX_DEPTH:
        path, depth = parent.path, parent.depth + 1
    elif parent is not None:  # too deep: shown beside its parent, "in reply to"
        path, depth = parent.path[:-POSITION_WIDTH], parent.depth
    else:
        path, depth = "", 0
    post = Post.objects.create(
        thread=thread,
        parent=parent,
        author=actor,
        position=position,
        path=path + f"{position:0{POSITION_WIDTH}d}",
        depth=depth,
        body=body,
        body_html=html,
        search_text=_search_text(thread.title, body),
    )
    PostRevision.objects.create(post=post, number=1, body=body, editor=actor)
    Thread.objects.filter(pk=thread.pk).update(
        last_position=position, post_count=F("post_count") + 1, last_activity_at=post.created_at
    )
    thread.last_position = position
    _watch(actor, thread)
    ReadState.objects.update_or_create(
        user=actor, thread=thread, defaults={"last_read_position": position}
    )
    return post, mentioned


def thread_create(*, actor, group: WorkingGroup, title: str, body: str) -> Thread:
    """Starts a thread with its first post. Members of the group (guests too),
    not in archived groups; PermissionDenied otherwise. Sends
    ``thread.created`` {thread} on the group's stream, and calls the hook
    ``discussions.post_created`` (post, mentioned, new_thread=True) in its
    transaction."""
    permissions.check_start_thread(actor, group)
    title = _clean_title(title)
    body = _clean_body(body)
    with transaction.atomic():
        thread = Thread.objects.create(group=group, title=title, author=actor)
        thread = Thread.objects.select_for_update().get(pk=thread.pk)
        post, mentioned = _add_post(actor=actor, thread=thread, body=body, parent=None)
        emit(f"group:{group.pk}", "thread.created", {"thread": thread.pk})
        hooks.call("discussions.post_created", post=post, mentioned=mentioned, new_thread=True)
    return thread


def post_create(*, actor, thread: Thread, body: str, parent: Post | None = None) -> Post:
    """Replies in ``thread`` (to ``parent`` if given). PermissionDenied unless
    the actor takes part in the group and may see the thread (a hidden one:
    moderators only); ValidationError if the thread is locked (moderators may
    still write) or the parent is elsewhere. Calls the hook
    ``discussions.post_created`` (post, mentioned, new_thread=False) in its
    transaction."""
    body = _clean_body(body)
    with transaction.atomic():
        thread = (
            Thread.objects.select_for_update(of=("self",)).select_related("group").get(pk=thread.pk)
        )
        if not group_permissions.is_member(actor, thread.group):
            raise PermissionDenied
        _check_sees_thread(actor, thread)
        if not permissions.can_reply(actor, thread):
            if thread.locked:
                raise ValidationError(
                    _("This thread is locked: it takes no new posts."), code="locked"
                )
            raise PermissionDenied
        if parent is not None:
            # Read again under the thread's lock: a split may have moved it
            # since the caller read it.
            parent = Post.objects.filter(pk=parent.pk, thread=thread).first()
            if parent is None:
                raise ValidationError(_("You can only reply to a post of this thread."))
        post, mentioned = _add_post(actor=actor, thread=thread, body=body, parent=parent)
        emit(
            thread.stream,
            "post.created",
            {"post": post.pk, "parent": parent.pk if parent else None, "position": post.position},
        )
        hooks.call("discussions.post_created", post=post, mentioned=mentioned, new_thread=False)
    return post


def post_edit(*, actor, post: Post, body: str) -> Post:
    """Changes a post's text, keeping every version. Its author, or the
    group's moderators. Concurrent edits each keep their revision."""
    body = _clean_body(body)
    with transaction.atomic():
        post = (
            Post.objects.select_for_update(of=("self",))
            .select_related("thread__group")
            .get(pk=post.pk)
        )
        if not permissions.can_edit_post(actor, post):
            raise PermissionDenied
        _check_sees_thread(actor, post.thread)
        if body == post.body:
            return post
        number = (
            post.revisions.order_by("-number").values_list("number", flat=True).first() or 0
        ) + 1
        PostRevision.objects.create(post=post, number=number, body=body, editor=actor)
        post.body = body
        post.body_html, _mentioned = render_post(body, post.thread.group)
        post.edited_at = timezone.now()
        post.search_text = _search_text(post.thread.title, body)
        post.save(update_fields=["body", "body_html", "edited_at", "search_text"])
        if actor.pk != post.author_id:
            audit(
                group=post.thread.group,
                actor=actor,
                action="post.edited",
                summary=f"{post.thread} #{post.position}",
                post=post.pk,
            )
        emit(post.thread.stream, "post.edited", {"post": post.pk})
    return post


def post_delete(*, actor, post: Post) -> Post:
    """Deletes a post softly: its place in the tree stays, its text goes."""
    with transaction.atomic():
        post = (
            Post.objects.select_for_update(of=("self",))
            .select_related("thread__group")
            .get(pk=post.pk)
        )
        if not permissions.can_delete_post(actor, post):
            raise PermissionDenied
        _check_sees_thread(actor, post.thread)
        post.deleted_at = timezone.now()
        post.body = ""
        post.body_html = ""
        post.search_text = ""
        post.save(update_fields=["deleted_at", "body", "body_html", "search_text"])
        Thread.objects.filter(pk=post.thread_id).update(post_count=F("post_count") - 1)
        if actor.pk != post.author_id:
            audit(
                group=post.thread.group,
                actor=actor,
                action="post.deleted",
                summary=f"{post.thread} #{post.position}",
                post=post.pk,
            )
        emit(post.thread.stream, "post.deleted", {"post": post.pk})
    return post


def post_set_hidden(*, actor, post: Post, hidden: bool, reason: str = "") -> Post:
    """Hides a post (its author sees why) or shows it again. Moderators only;
    a reason is required to hide. Two moderators acting at once: the later
    one wins, both are in the audit log. Hiding a post already hidden for the
    same reason, or showing one already shown, is a no-op: nothing is logged
    or sent."""
    reason = (reason or "").strip()
    with transaction.atomic():
        post = (
            Post.objects.select_for_update(of=("self",))
            .select_related("thread__group")
            .get(pk=post.pk)
        )
        permissions.check_moderate_thread(actor, post.thread)
        if hidden and not reason:
            raise ValidationError(_("Please give a reason: its author will see it."))
        if post.hidden == hidden and post.hidden_reason == (reason if hidden else ""):
            return post
        post.hidden = hidden
        post.hidden_reason = reason if hidden else ""
        post.hidden_by = actor if hidden else None
        post.save(update_fields=["hidden", "hidden_reason", "hidden_by"])
        action = "post.hidden" if hidden else "post.unhidden"
        audit(
            group=post.thread.group,
            actor=actor,
            action=action,
            summary=f"{post.thread} #{post.position}: {reason}"[:500],
            post=post.pk,
        )
        emit(post.thread.stream, action, {"post": post.pk})
    return post


def reaction_toggle(*, actor, post: Post, kind: str) -> bool:
    """Adds the actor's reaction, or takes it back. Returns True if it is on now."""
    if kind not in ReactionKind.values:
        raise ValidationError(_("Unknown reaction."))
    with transaction.atomic():
        # Locked, so that reactions to one post count one after another and
        # the last event sent carries the true counts.
        post = (
            Post.objects.select_for_update(of=("self",))
            .select_related("thread__group")
            .get(pk=post.pk)
        )
        if not permissions.can_react(actor, post):
            raise PermissionDenied
        _check_sees_thread(actor, post.thread)
        deleted, _rows = Reaction.objects.filter(post=post, user=actor, kind=kind).delete()
        if not deleted:
            Reaction.objects.get_or_create(post=post, user=actor, kind=kind)
        counts = dict(
            Reaction.objects.filter(post=post).values_list("kind").annotate(n=Count("id"))
        )
        emit(post.thread.stream, "post.reactions", {"post": post.pk, "counts": counts})
    return not deleted


def _thread_flags(*, actor, thread: Thread, action: str, **flags) -> Thread:
    with transaction.atomic():
        thread = (
            Thread.objects.select_for_update(of=("self",)).select_related("group").get(pk=thread.pk)
        )
        permissions.check_moderate_thread(actor, thread)
        changed = {k: v for k, v in flags.items() if getattr(thread, k) != v}
        if not changed:
            return thread
        for field, value in changed.items():
            setattr(thread, field, value)
        thread.save(update_fields=list(changed))
        audit(
            group=thread.group, actor=actor, action=action, summary=thread.title, thread=thread.pk
        )
        emit(
            thread.stream,
            "thread.updated",
            {
                "thread": thread.pk,
                "pinned": thread.pinned,
                "locked": thread.locked,
                "hidden": thread.hidden,
                "title": thread.title,
            },
        )
        if "hidden" in changed:
            emit(thread.stream, "access.changed", {"thread": thread.pk})
    return thread


def thread_pin(*, actor, thread, pinned: bool = True) -> Thread:
    """Pins a thread to the top of the list (or unpins it). Moderators only."""
    return _thread_flags(
        actor=actor,
        thread=thread,
        action="thread.pinned" if pinned else "thread.unpinned",
        pinned=pinned,
    )


def thread_lock(*, actor, thread, locked: bool = True) -> Thread:
    """Locks a thread against new posts (or opens it). Moderators only."""
    return _thread_flags(
        actor=actor,
        thread=thread,
        action="thread.locked" if locked else "thread.unlocked",
        locked=locked,
    )


def thread_hide(*, actor, thread, hidden: bool = True) -> Thread:
    """Hides a thread from members (moderators still see it). Moderators only."""
    return _thread_flags(
        actor=actor,
        thread=thread,
        action="thread.hidden" if hidden else "thread.unhidden",
        hidden=hidden,
    )


def thread_move(*, actor, thread: Thread, to_group: WorkingGroup) -> Thread:
    """Moves a thread to another group the actor moderates (PermissionDenied
    unless ``permissions.can_move_thread``); access follows the new group at
    once (open sockets re-check it)."""
    with transaction.atomic():
        thread = (
            Thread.objects.select_for_update(of=("self",)).select_related("group").get(pk=thread.pk)
        )
        permissions.check_moderate_thread(actor, thread)
        if to_group.pk == thread.group_id:
            return thread
        permissions.check_move_thread(actor, thread, to_group)
        old_group = thread.group
        thread.group = to_group
        thread.save(update_fields=["group"])
        summary = f"{thread.title}: {old_group} → {to_group}"
        audit(group=old_group, actor=actor, action="thread.moved_out", summary=summary)
        audit(group=to_group, actor=actor, action="thread.moved_in", summary=summary)
        emit(thread.stream, "thread.moved", {"thread": thread.pk, "group": to_group.pk})
        emit(thread.stream, "access.changed", {"thread": thread.pk})
    return thread


def thread_split(*, actor, post: Post, title: str) -> Thread:
    """Moves ``post`` and all replies below it into a new thread with ``title``.
    Moderators only; ValidationError for an empty title or if that would take
    the whole thread. In the new thread the posts keep their tree and are
    numbered 1, 2, … in the order they were written. Sends ``posts.split`` on
    the old thread's stream."""
    title = _clean_title(title)
    with transaction.atomic():
        source = (
            Thread.objects.select_for_update(of=("self",))
            .select_related("group")
            .get(pk=post.thread_id)
        )
        permissions.check_moderate_thread(actor, source)
        post = Post.objects.get(pk=post.pk)
        # The subtree by parent links, not by path: replies below the deepest
        # shown level stand beside their parent in the path.
        posts = list(source.posts.order_by("position").only("id", "parent_id", "deleted_at"))
        moved_ids = {post.pk}
        moved = []
        for item in posts:
            if item.pk == post.pk or item.parent_id in moved_ids:
                moved_ids.add(item.pk)
                moved.append(item)
        if len(moved) == len(posts):
            raise ValidationError(_("A thread cannot be split off from itself."))
        target = Thread.objects.create(group=source.group, title=title, author=post.author)
        placed = {}  # id → (path, depth) in the new thread
        for number, item in enumerate(moved, start=1):
            parent = placed.get(item.parent_id) if item.pk != post.pk else None
            if parent is None:
                path, depth = "", 0
            elif parent[1] + 1 < MAX_DEPTH:
                path, depth = parent[0], parent[1] + 1
            else:  # too deep: beside its parent, as _add_post places it
                path, depth = parent[0][:-POSITION_WIDTH], parent[1]
            item.thread = target
            item.position = number
            item.path = path + f"{number:0{POSITION_WIDTH}d}"
            item.depth = depth
            if item.pk == post.pk:
                item.parent_id = None
            placed[item.pk] = (item.path, item.depth)
        # Positions are unique per thread, checked row by row on PostgreSQL:
        # the posts first move above every number they will take, then take them.
        Post.objects.filter(pk__in=moved_ids).update(
            thread=target, position=F("position") + source.last_position
        )
        Post.objects.bulk_update(moved, ["thread", "position", "path", "depth", "parent"])
        now = timezone.now()
        Thread.objects.filter(pk=target.pk).update(
            last_position=len(moved),
            post_count=sum(1 for item in moved if item.deleted_at is None),
            last_activity_at=now,
        )
        source.post_count = source.posts.filter(deleted_at__isnull=True).count()
        source.save(update_fields=["post_count"])
        audit(
            group=source.group,
            actor=actor,
            action="thread.split",
            summary=f"{source.title} → {title}",
            thread=source.pk,
            new_thread=target.pk,
        )
        emit(
            source.stream,
            "posts.split",
            {
                "posts": [item.pk for item in sorted(moved, key=lambda item: item.path)],
                "to_thread": target.pk,
            },
        )
    return target


def report_create(*, actor, post: Post, reason: str) -> Report:
    """A member reports a post to the group's moderators. ValidationError
    for an empty or long reason, and if the actor's earlier report of the
    post is still open (one entry in the queue per person and post)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(_("Please say what is wrong with this post."))
    if len(reason) > 2000:
        raise ValidationError(_("The reason is too long."))
    post = Post.objects.select_related("thread__group").get(pk=post.pk)
    if not permissions.can_report(actor, post):
        raise PermissionDenied
    _check_sees_thread(actor, post.thread)
    already = ValidationError(
        _("You have already reported this post; the moderators will look at it."),
        code="already_reported",
    )
    if Report.objects.filter(post=post, reporter=actor, status=Report.Status.OPEN).exists():
        raise already
    with transaction.atomic():
        try:
            # A savepoint: the same report sent twice at once, the other one counts.
            with transaction.atomic():
                report = Report.objects.create(post=post, reporter=actor, reason=reason)
        except IntegrityError:
            raise already from None
        audit(
            group=post.thread.group,
            actor=actor,
            action="report.created",
            summary=f"{post.thread} #{post.position}",
            post=post.pk,
        )
        emit(f"group:{post.thread.group_id}", "report.created", {"report": report.pk})
        hooks.call("discussions.report_created", report=report)
    return report


def report_close(*, actor, report: Report, dismiss: bool = False) -> Report:
    """Resolves (the moderator acted) or dismisses a report. Moderators only."""
    with transaction.atomic():
        report = (
            Report.objects.select_for_update()
            .select_related("post__thread__group")
            .get(pk=report.pk)
        )
        permissions.check_moderate_thread(actor, report.post.thread)
        if report.status != Report.Status.OPEN:
            raise ValidationError(_("This report was handled already."))
        report.status = Report.Status.DISMISSED if dismiss else Report.Status.RESOLVED
        report.handled_by = actor
        report.handled_at = timezone.now()
        report.save(update_fields=["status", "handled_by", "handled_at"])
        audit(
            group=report.post.thread.group,
            actor=actor,
            action=f"report.{report.status}",
            summary=f"{report.post.thread} #{report.post.position}",
        )
    return report


def thread_mark_read(*, user, thread: Thread, position: int) -> None:
    """Remembers that ``user`` has read ``thread`` up to ``position`` (never
    backwards). PermissionDenied if they may not see the thread."""
    _check_sees_thread(user, thread)
    _mark_read(user=user, thread=thread, position=position)


def thread_mark_read_shown(
    *, user, thread: Thread, position: int, read_position: int | None
) -> None:
    """``thread_mark_read`` for the page that has just shown ``thread`` to
    ``user``, having had it from ``permissions.access_thread_as_viewer`` in
    the same request together with their read mark (``read_position``; None:
    no mark yet): sight of the thread is not checked again, and a mark that
    is already as far is not written."""
    position = min(max(0, int(position)), thread.last_position)
    if read_position is None:
        _mark_read(user=user, thread=thread, position=position)
    elif read_position < position:
        ReadState.objects.filter(user=user, thread=thread, last_read_position__lt=position).update(
            last_read_position=position
        )


def _mark_read(*, user, thread: Thread, position: int) -> None:
    position = min(max(0, int(position)), thread.last_position)
    state, created = ReadState.objects.get_or_create(
        user=user, thread=thread, defaults={"last_read_position": position}
    )
    if not created and state.last_read_position < position:
        ReadState.objects.filter(pk=state.pk, last_read_position__lt=position).update(
            last_read_position=position
        )


def subscription_set(*, user, thread: Thread, watching: bool) -> None:
    """Starts or stops watching a thread. PermissionDenied if they may not see it."""
    _check_sees_thread(user, thread)
    if watching:
        _watch(user, thread)
    else:
        Subscription.objects.filter(user=user, thread=thread).delete()
