"""SQL kept in `include/sql/`: loading files and composing identifiers safely."""

from __future__ import annotations

from functools import cache

from psycopg import sql

from crm_sync.paths import SQL_DIR


@cache
def read_sql(relative: str) -> str:
    """The text of `include/sql/<relative>`."""
    return (SQL_DIR / relative).read_text(encoding="utf-8")


def template(relative: str, **parts: sql.Composable) -> sql.Composed:
    """Render a SQL file whose `{name}` placeholders take identifiers or fragments.

    Values always travel as bind parameters; only identifiers and generated fragments
    (quoted through psycopg.sql) are substituted here.
    """
    return sql.SQL(read_sql(relative)).format(**parts)


def ident(*names: str) -> sql.Identifier:
    """A quoted, possibly schema-qualified identifier."""
    return sql.Identifier(*names)
