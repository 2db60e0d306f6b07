"""GIN indexes for full-text search on PostgreSQL (discussions/search.py).

Expression indexes on exactly the expressions the search filters on
(``to_tsvector(<config>, COALESCE(search_text, ''))`` for 'english' and
'german'), so that ``@@`` uses them. They exist only on PostgreSQL: on SQLite
this migration does nothing. They are not in the model's Meta because the
embedded database could not create them; as no model state changes here,
``makemigrations --check`` stays clean on both.
"""

from django.db import migrations

CONFIGS = ("english", "german")


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for config in CONFIGS:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS discussions_post_fts_{config} ON discussions_post "
            f"USING gin (to_tsvector('{config}'::regconfig, COALESCE(search_text, '')))"
        )


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for config in CONFIGS:
        schema_editor.execute(f"DROP INDEX IF EXISTS discussions_post_fts_{config}")


class Migration(migrations.Migration):
    dependencies = [
        ("discussions", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(create_indexes, drop_indexes, elidable=False),
    ]
