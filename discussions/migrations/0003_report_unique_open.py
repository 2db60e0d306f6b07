from django.conf import settings
from django.db import migrations, models


def dismiss_repeated_reports(apps, schema_editor):
    """Before the constraint: of one person's open reports on one post, the
    first stays open, the later ones are dismissed (they were the same
    report made twice)."""
    Report = apps.get_model("discussions", "Report")
    seen = set()
    repeated = []
    open_reports = Report.objects.filter(status="open", reporter__isnull=False)
    for pk, post_id, reporter_id in open_reports.order_by("created_at", "pk").values_list(
        "pk", "post_id", "reporter_id"
    ):
        if (post_id, reporter_id) in seen:
            repeated.append(pk)
        seen.add((post_id, reporter_id))
    Report.objects.filter(pk__in=repeated).update(status="dismissed")


class Migration(migrations.Migration):
    dependencies = [
        ("discussions", "0002_post_fulltext_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(dismiss_repeated_reports, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="report",
            constraint=models.UniqueConstraint(
                condition=models.Q(("status", "open")),
                fields=("post", "reporter"),
                name="report_unique_open",
            ),
        ),
    ]
