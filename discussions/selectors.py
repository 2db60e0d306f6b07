"""Reads for the discussion pages. Each starts from what the user may see, and
runs a fixed number of queries whatever the size of a thread."""

from django.core.paginator import Paginator
from django.db.models import Count, Exists, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce

from .models import Post, Reaction, ReadState, Subscription, Thread
from .permissions import threads_visible_to

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


def thread_page(user, thread: Thread, *, page: int | str | None = 1):
    """One page of the thread's posts in tree order, with reaction counts and
    the user's own reactions; a fixed number of queries for any thread size."""
    # Only what the page shows: hidden_by is not shown, and every model
    # joined in costs its row's conversion and instantiation on each post.
    posts = Post.objects.filter(thread=thread).select_related("author", "parent__author")
    posts = posts.order_by("path")
    paginator = Paginator(posts, POSTS_PER_PAGE)
    page_obj = paginator.get_page(page)
    items = list(page_obj.object_list)
    _add_reactions(user, items)
    page_obj.object_list = items
    return page_obj


def _add_reactions(user, items: list[Post]) -> None:
    """Sets ``reaction_counts`` {kind: n} and ``my_reactions`` {kind} on each
    post: one query, the user's own counted alongside."""
    counts: dict[int, dict[str, int]] = {}
    mine: dict[int, set[str]] = {}
    for post_id, kind, number, own in (
        Reaction.objects.filter(post_id__in=[post.pk for post in items])
        .values("post_id", "kind")
        .annotate(n=Count("id"), own=Count("id", filter=Q(user_id=user.pk)))
        .values_list("post_id", "kind", "n", "own")
    ):
        counts.setdefault(post_id, {})[kind] = number
        if own:
            mine.setdefault(post_id, set()).add(kind)
    for post in items:
        post.reaction_counts = counts.get(post.pk, {})
        post.my_reactions = mine.get(post.pk, set())


def post_detail(user, post: Post) -> Post:
    """One post as the thread page shows it (for live updates): with its
    parent's author, reaction counts and the user's own reactions."""
    post = (
        Post.objects.select_related("thread__group", "author", "parent__author")
        .filter(pk=post.pk)
        .get()
    )
    _add_reactions(user, [post])
    return post


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
