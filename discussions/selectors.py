"""Reads for the discussion pages. Each starts from what the user may see, and
runs a fixed number of queries whatever the size of a thread."""

from django.core.paginator import Paginator
from django.db import connection
from django.db.models import (
    BigIntegerField,
    Exists,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Value,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce

from core.diff import text_diff
from core.models import StreamCounter

from . import permissions
from .models import Post, Reaction, ReadState, Subscription, Thread
from .permissions import ThreadViewer, threads_visible_to

THREADS_PER_PAGE = 25
POSTS_PER_PAGE = 50


def thread_list(user, group, *, show: str = "all", page: int | str | None = 1):
    """The group's threads, pinned first, then by last activity, with the number
    of posts the user has not read. ``show``: all / unread / mine."""
    read = ReadState.objects.filter(user=user, thread=OuterRef("pk")).values("last_read_position")[
        :1
    ]
    threads = (
        threads_visible_to(user)
        .filter(group=group)
        .select_related("author")
        .annotate(
            read_position=Coalesce(Subquery(read, output_field=IntegerField()), Value(0)),
        )
        .order_by("-pinned", "-last_activity_at", "-id")
    )
    if show == "unread":
        threads = threads.filter(last_position__gt=Coalesce(Subquery(read), Value(0)))
    elif show == "mine":
        wrote = Post.objects.filter(thread=OuterRef("pk"), author=user)
        threads = threads.filter(Q(author=user) | Exists(wrote))
    page_obj = Paginator(threads, THREADS_PER_PAGE).get_page(page)
    for thread in page_obj:
        thread.unread_count = max(0, thread.last_position - thread.read_position)
    return page_obj


def _name(model, field: str | None = None) -> str:
    """A model's table, or one of its fields' column, quoted for SQL."""
    name = model._meta.db_table if field is None else model._meta.get_field(field).column
    return connection.ops.quote_name(name)


def _scalar(select: str, model, where: tuple[str, ...], params: list, output_field) -> RawSQL:
    """``(SELECT <select> FROM <model's table> WHERE <field> = %s AND …)``
    as an expression to annotate with. ``select`` and the fields are the
    code's own; every value is a parameter."""
    conditions = " AND ".join(f"{_name(model, field)} = %s" for field in where)
    sql = f"SELECT {select} FROM {_name(model)} WHERE {conditions}"  # noqa: S608
    return RawSQL(sql, params, output_field=output_field)  # noqa: S611


def thread_for_page(user, pk: int) -> tuple[Thread, ThreadViewer]:
    """The thread the thread page shows and the user's rights in it, as
    ``permissions.access_thread_as_viewer`` gives them (Http404 if they may
    not see it), in one query with what the page also needs:
    ``read_position`` (None: no read mark yet), ``watching`` (1 or 0),
    ``seq`` (the stream's last event, read before the posts are; None: none
    yet) and ``post_rows`` (its posts, deleted ones too: the pages).

    These four are written out (``_scalar``): built by the ORM as subqueries
    they would cost more than the rest of the query, on every view of every
    thread."""
    if not user.is_authenticated:
        return permissions.access_thread_as_viewer(user, pk)
    mine = ("user", "thread")
    return permissions.access_thread_as_viewer(
        user,
        pk,
        read_position=_scalar(
            _name(ReadState, "last_read_position"), ReadState, mine, [user.pk, pk], IntegerField()
        ),
        watching=_scalar("COUNT(*)", Subscription, mine, [user.pk, pk], IntegerField()),
        seq=_scalar(
            _name(StreamCounter, "last_seq"),
            StreamCounter,
            ("stream",),
            [Thread(pk=pk).stream],
            BigIntegerField(),
        ),
        post_rows=_scalar("COUNT(*)", Post, ("thread",), [pk], IntegerField()),
    )


# What the page shows of a post: not its Markdown source, search text or
# moderator. Its author and the post it answers come as values, not models:
# each model joined in costs its conversion and instantiation on every post.
PAGE_FIELDS = (
    "id",
    "thread",
    "parent",
    "author",
    "position",
    "path",
    "depth",
    "body_html",
    "created_at",
    "edited_at",
    "hidden",
    "hidden_reason",
    "deleted_at",
)
# name: (table alias, field): a = the author, pp = the parent, pa = its author
PAGE_VALUES = {
    "author_display_name": ("a", "display_name"),
    "author_email": ("a", "email"),
    "parent_depth": ("pp", "depth"),
    "parent_deleted_at": ("pp", "deleted_at"),
    "parent_author_id": ("pp", "author"),
    "parent_author_display_name": ("pa", "display_name"),
    "parent_author_email": ("pa", "email"),
}


def _page_posts(where: str, params: list) -> list[Post]:
    """Posts (``p``) with what the page shows of them: ``PAGE_FIELDS``, and
    ``PAGE_VALUES`` as attributes; ``where`` picks them.

    Written out: the ORM took longer to build and compile this query (three
    joins, a subquery) than the database to run it. Only quoted names and
    placeholders go into the text; every value is a parameter."""
    users = Post._meta.get_field("author").related_model
    models = {"p": Post, "a": users, "pp": Post, "pa": users}
    columns = [f"p.{_name(Post, field)}" for field in PAGE_FIELDS] + [
        f"{alias}.{_name(models[alias], field)} AS {name}"
        for name, (alias, field) in PAGE_VALUES.items()
    ]
    user_id, post_id = _name(users, "id"), _name(Post, "id")
    sql = (
        f"SELECT {', '.join(columns)} FROM {_name(Post)} p"  # noqa: S608
        f" LEFT JOIN {_name(users)} a ON a.{user_id} = p.{_name(Post, 'author')}"
        f" LEFT JOIN {_name(Post)} pp ON pp.{post_id} = p.{_name(Post, 'parent')}"
        f" LEFT JOIN {_name(users)} pa ON pa.{user_id} = pp.{_name(Post, 'author')}"
        f" WHERE {where} ORDER BY p.{_name(Post, 'path')}"
    )
    return list(Post.objects.raw(sql, params))


def thread_page(user, thread: Thread, *, page: int | str | None = 1):
    """One page of the thread's posts in tree order, with reaction counts and
    the user's own reactions; a fixed number of queries for any thread size
    (one fewer if ``thread`` comes with its ``post_rows``).

    The page is cut from the thread's post ids alone, and only its posts are
    then joined to their authors and parents: joined before the cut, every
    post up to the page's end would be (a cost growing with the page number)."""
    rows = getattr(thread, "post_rows", None)  # counted with the thread, or now
    if rows is None:
        rows = Post.objects.filter(thread=thread).count()
    # The pages from the number of posts; the page's posts are read below.
    page_obj = Paginator(range(rows), POSTS_PER_PAGE).get_page(page)
    ids = (
        f"SELECT {_name(Post, 'id')} FROM {_name(Post)} WHERE {_name(Post, 'thread')} = %s"  # noqa: S608
        f" ORDER BY {_name(Post, 'path')} LIMIT %s OFFSET %s"
    )
    offset = (page_obj.number - 1) * POSTS_PER_PAGE
    items = _page_posts(f"p.{_name(Post, 'id')} IN ({ids})", [thread.pk, POSTS_PER_PAGE, offset])
    _add_reactions(user, items)
    page_obj.object_list = items
    return page_obj


def _reactions_sql(posts: int) -> str:
    """The reactions of ``posts`` posts grouped by post and kind, with the
    number of them and how many are the user's. Only quoted names and
    placeholders go into the text; every value is a parameter."""
    post, kind, user = (_name(Reaction, field) for field in ("post", "kind", "user"))
    placeholders = ", ".join(["%s"] * posts)
    return (
        f"SELECT {post}, {kind}, COUNT(*), SUM(CASE WHEN {user} = %s THEN 1 ELSE 0 END)"  # noqa: S608
        f" FROM {_name(Reaction)} WHERE {post} IN ({placeholders}) GROUP BY {post}, {kind}"
    )


def _add_reactions(user, items: list[Post]) -> None:
    """Sets ``reaction_counts`` {kind: n} and ``my_reactions`` {kind} on each
    post: one query, the user's own counted alongside.

    Written out (``_reactions_sql``): the ORM takes several times longer to
    build this grouped, filtered count than the database takes to run it,
    and it runs on every page of every thread."""
    counts: dict[int, dict[str, int]] = {}
    mine: dict[int, set[str]] = {}
    ids = [post.pk for post in items]
    if ids:
        with connection.cursor() as cursor:
            cursor.execute(_reactions_sql(len(ids)), [user.pk, *ids])
            rows = cursor.fetchall()
        for post_id, kind, number, own in rows:
            counts.setdefault(post_id, {})[kind] = number
            if own:
                mine.setdefault(post_id, set()).add(kind)
    for post in items:
        post.reaction_counts = counts.get(post.pk, {})
        post.my_reactions = mine.get(post.pk, set())


def post_detail(user, post: Post) -> Post:
    """One post as the thread page shows it (for live updates), with the
    reaction counts and the user's own reactions; its thread is ``post``'s."""
    [shown] = _page_posts(f"p.{_name(Post, 'id')} = %s", [post.pk])
    shown.thread = post.thread
    _add_reactions(user, [shown])
    return shown


def post_revisions(post: Post) -> list:
    """The versions of ``post``'s text, latest first, each later one with
    ``changes``: what it changed from the one before (``core.diff.text_diff``
    rows); the first has None. For those who may see its history
    (``ThreadViewer.can_view_history``)."""
    revisions = list(post.revisions.select_related("editor").order_by("number"))
    previous = None
    for revision in revisions:
        revision.changes = None if previous is None else text_diff(previous.body, revision.body)
        revision.previous_number = previous.number if previous is not None else None
        previous = revision
    return revisions[::-1]


def read_position(user, thread: Thread) -> int:
    return (
        ReadState.objects.filter(user=user, thread=thread)
        .values_list("last_read_position", flat=True)
        .first()
        or 0
    )


def is_watching(user, thread: Thread) -> bool:
    return Subscription.objects.filter(user=user, thread=thread).exists()


def page_of_post(post: Post) -> int:
    """The page of the thread on which ``post`` stands."""
    before = Post.objects.filter(thread_id=post.thread_id, path__lt=post.path).count()
    return before // POSTS_PER_PAGE + 1


def first_unread_post(user, thread: Thread) -> Post | None:
    position = read_position(user, thread)
    return Post.objects.filter(thread=thread, position__gt=position).order_by("position").first()


def discussion_of(user, group, thread_id: int | None) -> tuple[Thread | None, bool]:
    """For a page of another app that has a discussion thread (a document's):
    the thread ``thread_id`` if the user may see it (None otherwise, or
    without one), and whether the user may start a thread in ``group``."""
    thread = threads_visible_to(user).filter(pk=thread_id).first() if thread_id else None
    return thread, permissions.can_start_thread(user, group)
