"""Two moderators publish the same result at the same moment, from real
threads with their own connections (on PostgreSQL they truly race; on
SQLite writers queue): the row lock gives every version its own number,
with no gap and no failed write."""

import pytest
from django.core.exceptions import ValidationError

from results import services
from results.models import Result
from tests.concurrency import errors, run_together
from tests.fixtures.people import enable_mfa, join

pytestmark = pytest.mark.django_db(transaction=True)


def test_versions_numbered_without_gaps_if_published_at_once(group, moderator, make_user):
    second = enable_mfa(make_user("mod2@example.org"))
    join(second, group, "moderator")
    result = services.result_create(
        actor=moderator, group=group, kind="interim", title="Raced", body="Start"
    )

    def job(actor, name):
        def run():
            published = 0
            for i in range(5):
                mine = Result.objects.get(pk=result.pk)
                services.result_update(
                    actor=actor, result=mine, kind="interim", title="Raced", body=f"{name} {i}"
                )
                try:
                    services.result_publish(actor=actor, result=mine, change_summary=f"{name} {i}")
                    published += 1
                except ValidationError as error:  # the other one published this text already
                    assert error.code == "unchanged"
            return published

        return run

    outcomes = run_together(job(moderator, "a"), job(second, "b"))
    assert not errors(outcomes), errors(outcomes)
    result.refresh_from_db()
    numbers = list(result.versions.order_by("number").values_list("number", flat=True))
    assert numbers == list(range(1, sum(outcomes) + 1))
    assert result.latest_number == len(numbers) >= 5
