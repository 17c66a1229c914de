"""The gallery's "File name contains" filter answered from a trigram index, on PostgreSQL.

A B-tree can't answer a contains search: without this index, a name matching a few images of a
100,000-image dataset made the gallery walk the dataset in id order until a page of matches turned
up (up to every image). pg_trgm ships with PostgreSQL (a trusted extension since 13). SQLite, for
one machine, keeps scanning. The index is built concurrently, so an upgrade does not stop imports.
"""

from django.db import migrations

INDEX = "image_file_name_trgm"


def index_create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = apps.get_model("datasets", "Image")._meta.db_table
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    # The expression the icontains lookup compares: UPPER("file_name"::text) LIKE UPPER(%s).
    schema_editor.execute(
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX} ON {table} USING gin (UPPER(file_name) gin_trgm_ops)"
    )


def index_drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("datasets", "0005_chunk_queued_job_waiting_counters"),
    ]

    operations = [
        migrations.RunPython(index_create, index_drop, elidable=False),
    ]
