"""What is new in each of a person's groups, for the home page
(``settings.DASHBOARD_NEWS``). Each part is read by the app that owns it,
starting from that app's ``*_visible_to``; the number of queries does not
depend on the number of groups or items."""

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import Case, Count, F, IntegerField, OuterRef, Q, Subquery, Sum, When

from discussions.models import ReadState, Report
from discussions.permissions import reports_moderated_by, threads_visible_to
from documents import selectors as document_selectors
from groups import selectors as group_selectors
from groups.models import WorkingGroup
from meetings import selectors as meeting_selectors
from meetings.models import Meeting


@dataclass
class GroupNews:
    new_threads: int = 0
    unread_replies: int = 0
    documents: int = 0
    versions: int = 0
    next_meeting: Meeting | None = None
    minutes: list[Meeting] = field(default_factory=list)
    join_requests: int = 0
    reports: int = 0

    @property
    def minutes_count(self) -> int:
        return self.minutes[0].minutes_count if self.minutes else 0

    @property
    def anything_new(self) -> bool:
        return bool(
            self.new_threads
            or self.unread_replies
            or self.documents
            or self.versions
            or self.minutes
            or self.join_requests
            or self.reports
        )


def unread_by_group(user, groups: Iterable[WorkingGroup]) -> dict[int, tuple[int, int]]:
    """For each of ``groups`` that has any: (threads ``user`` has never
    opened, posts after the read mark in the threads opened), among the
    threads the user may see. One query."""
    read = ReadState.objects.filter(user_id=user.pk, thread=OuterRef("pk"))
    rows = (
        threads_visible_to(user)
        .filter(group_id__in=[group.pk for group in groups])
        .alias(read_position=Subquery(read.values("last_read_position")[:1]))
        .values_list("group_id")
        .annotate(
            new_threads=Count("pk", filter=Q(read_position__isnull=True)),
            unread_replies=Sum(
                Case(
                    When(
                        read_position__isnull=False,
                        last_position__gt=F("read_position"),
                        then=F("last_position") - F("read_position"),
                    ),
                    default=0,
                    output_field=IntegerField(),
                )
            ),
        )
        .order_by()
    )
    return {
        group_id: (new_threads, unread or 0)
        for group_id, new_threads, unread in rows
        if new_threads or unread
    }


def reports_waiting(user, groups: Iterable[WorkingGroup]) -> dict[int, int]:
    """For each of ``groups`` that ``user`` moderates (the report queue's
    rule, ``discussions.permissions.reports_moderated_by``) and that has any:
    the number of open reports. One query."""
    rows = (
        reports_moderated_by(user)
        .filter(
            status=Report.Status.OPEN,
            post__thread__group_id__in=[group.pk for group in groups],
        )
        .values_list("post__thread__group_id")
        .annotate(count=Count("pk"))
        .order_by()
    )
    return dict(rows)


def group_news(user, groups: list[WorkingGroup]) -> dict[int, GroupNews]:
    """What is new for ``user`` in each of ``groups``: unread threads and
    replies (the threads' read marks); documents, versions and published
    minutes since the user last opened the group's page; the next meeting;
    for moderators, the join requests and reports waiting. Seven queries."""
    news = {group.pk: GroupNews() for group in groups}
    for group_id, (new_threads, unread) in unread_by_group(user, groups).items():
        news[group_id].new_threads = new_threads
        news[group_id].unread_replies = unread
    for group_id, counts in document_selectors.news_by_group(user, groups).items():
        news[group_id].documents = counts["documents"]
        news[group_id].versions = counts["versions"]
    for group_id, meeting in meeting_selectors.next_meetings(user, groups).items():
        news[group_id].next_meeting = meeting
    for group_id, meetings in meeting_selectors.minutes_published_since_visit(user, groups).items():
        news[group_id].minutes = meetings
    for group_id, count in group_selectors.join_requests_waiting(user, groups).items():
        news[group_id].join_requests = count
    for group_id, count in reports_waiting(user, groups).items():
        news[group_id].reports = count
    return news
