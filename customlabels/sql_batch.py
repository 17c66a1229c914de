"""A page's independent reads in one round trip to the database.

On this kind of machine a query's round trip to PostgreSQL, not its work, is most of its cost, and a
gallery page has three reads that do not depend on each other (its page of images, the user's grants,
the dataset's latest import). psycopg binds parameters on the client (Django's default cursor), so
several statements go as one string and come back as one result set each. Elsewhere (SQLite for
`make run`, or server-side binding) they run one after the other, with the same results.
"""

from django.db import connection

Read = tuple[str, list]


def read_all(reads: list[Read]) -> list[list[tuple]]:
    """Each read's rows, in order. The reads must be SELECTs free of ";" and of literal "%"."""
    together = (
        connection.vendor == "postgresql"
        and len(reads) > 1
        and not connection.settings_dict.get("OPTIONS", {}).get("server_side_binding")
    )
    results = []
    with connection.cursor() as cursor:
        if not together:
            for sql, params in reads:
                cursor.execute(sql, params)
                results.append(cursor.fetchall())
            return results
        cursor.execute("; ".join(sql for sql, _ in reads), [param for _, params in reads for param in params])
        results.append(cursor.fetchall())
        while cursor.nextset():
            results.append(cursor.fetchall())
    return results


def model_from_row(model, row: tuple, *, extra: tuple[str, ...] = ()):
    """An instance of `model` from a row of its concrete fields' columns (in `_meta.concrete_fields`
    order, as `columns_of` writes them) and then `extra` values set as attributes, each column
    converted as the ORM converts it (a JSON field's text to its value)."""
    fields = model._meta.concrete_fields
    values = [
        field.from_db_value(value, None, connection) if value is not None and hasattr(field, "from_db_value") else value
        for field, value in zip(fields, row, strict=False)
    ]
    instance = model.from_db(connection.alias, [field.attname for field in fields], values)
    for name, value in zip(extra, row[len(fields) :], strict=True):
        setattr(instance, name, value)
    return instance


def columns_of(model, alias: str) -> str:
    """The model's concrete columns, quoted and qualified by `alias`, for model_from_row."""
    return ", ".join(f'{alias}."{field.column}"' for field in model._meta.concrete_fields)
