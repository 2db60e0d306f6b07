"""Hand-written reads for hot paths: model instances built from one row that
holds several models' columns, as the ORM's ``select_related`` builds them
(with the converters the ORM applies), without the ORM's cost of building
the query (about 1–3 ms of CPU per query with nested subqueries here)."""

from django.db import connection


def table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


class Columns:
    """``model``'s concrete columns under the SQL alias ``alias``: ``select``
    for the SELECT list, ``instance(values)`` for the model instance."""

    def __init__(self, model, alias: str):
        quote = connection.ops.quote_name
        self.model = model
        fields = model._meta.concrete_fields
        self.names = [field.attname for field in fields]
        self.select = ", ".join(f"{alias}.{quote(field.column)}" for field in fields)
        self.converters = [converters_of(field) for field in fields]

    def __len__(self) -> int:
        return len(self.names)

    def instance(self, values):
        converted = [
            convert(value, column, converters)
            for value, (column, converters) in zip(values, self.converters, strict=True)
        ]
        return self.model.from_db(connection.alias, self.names, converted)


def converters_of(field):
    """(column, converters) for a field's values as the database returns them."""
    column = field.get_col(field.model._meta.db_table)
    return column, connection.ops.get_db_converters(column) + field.get_db_converters(connection)


def convert(value, column, converters):
    for converter in converters:
        value = converter(value, column, connection)
    return value


def split(row, *columns: Columns) -> list:
    """The instances of ``columns``' models from the start of ``row``, in
    order, followed by the rest of the row's values; a model whose columns
    are all NULL (a LEFT JOIN that found nothing) is None."""
    instances, start = [], 0
    for part in columns:
        values = row[start : start + len(part)]
        instances.append(None if all(v is None for v in values) else part.instance(values))
        start += len(part)
    return [*instances, *row[start:]]


MAX_ID = 2**63 - 1  # BigAutoField's range, on PostgreSQL and SQLite alike


def row_id(value) -> int | None:
    """``value`` as a primary key to look up, or None when no row can have it
    (not a whole number, or out of the column's range: the database would
    refuse the parameter, where the ORM answers "not found")."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 1 <= number <= MAX_ID else None
