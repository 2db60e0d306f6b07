import pytest
from django.core.management import call_command

from results.models import Result, ResultVersion

pytestmark = pytest.mark.django_db


def test_seed_demo_publishes_results_and_again_changes_nothing(client):
    call_command("seed_demo", verbosity=0)
    counts = (Result.objects.count(), ResultVersion.objects.count())
    assert counts == (8, 8)
    call_command("seed_demo", verbosity=0)
    assert (Result.objects.count(), ResultVersion.objects.count()) == counts
    page = client.get("/groups/fair-migration/results/interim-findings/")
    assert page.status_code == 200 and "twice a year" in page.text
    assert "Publish the list" not in page.text  # the draft stays the group's
    assert client.get("/groups/fair-migration/results/recommendations/").status_code == 404
