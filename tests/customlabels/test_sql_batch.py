"""Independent reads in one round trip: each read's rows in order (empty ones too), one query on
PostgreSQL, and rows made into models as the ORM makes them."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customlabels import sql_batch
from datasets.models import ImportJob
from tests.factories import ImportJobFactory

pytestmark = pytest.mark.django_db


def test_each_read_gets_its_own_rows_in_one_round_trip():
    reads = [
        ("SELECT %s, %s", [1, "one"]),
        ("SELECT 2 WHERE 1 = %s", [0]),
        ("SELECT n FROM (SELECT 3 AS n UNION ALL SELECT 4) t ORDER BY n", []),
    ]

    with CaptureQueriesContext(connection) as queries:
        results = sql_batch.read_all(reads)

    assert results == [[(1, "one")], [], [(3,), (4,)]]
    assert len(queries) == (1 if connection.vendor == "postgresql" else 3)


def test_a_row_becomes_the_model_the_orm_would_make():
    job = ImportJobFactory(parameters={"location": "s3://b/p/", "labels": ["a", "b"]}, found=7)
    table = ImportJob._meta.db_table

    [rows] = sql_batch.read_all(
        [(f'SELECT {sql_batch.columns_of(ImportJob, "j")}, 42 FROM "{table}" j WHERE j."id" = %s', [job.pk])]
    )
    made = sql_batch.model_from_row(ImportJob, rows[0], extra=("answer",))

    orm = ImportJob.objects.get(pk=job.pk)
    assert {f.attname: getattr(made, f.attname) for f in ImportJob._meta.concrete_fields} == {
        f.attname: getattr(orm, f.attname) for f in ImportJob._meta.concrete_fields
    }
    assert made.parameters == {"location": "s3://b/p/", "labels": ["a", "b"]}
    assert made.answer == 42
    assert made._state.adding is False
