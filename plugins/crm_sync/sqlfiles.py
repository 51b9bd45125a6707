"""SQL kept in `include/sql/`: reading files, and the one way to compose identifiers.

The rule: every statement longer than one line lives in a `.sql` file under
`include/sql/<stage>/`; values always travel as bind parameters; identifiers and generated
fragments are composed with psycopg.sql, through `ident` and `template`.
"""

from __future__ import annotations

from functools import cache

from psycopg import sql

from crm_sync.mapping.model import ObjectMapping
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


def person_parts(mapping: ObjectMapping) -> dict[str, sql.Composable]:
    """The placeholders of the people statements: `{idcol}`, `{othercol}`, `{other_object}`, `{object}`."""
    link = mapping.person_link
    return {"idcol": ident(link.column), "othercol": ident(link.other_column),
            "other_object": sql.Literal(link.other_object), "object": sql.Literal(mapping.object)}


def target_parts(mapping: ObjectMapping) -> dict[str, sql.Composable]:
    """The placeholders of the plain-target statements: `{target}` and `{object}`."""
    return {"target": ident(mapping.target), "object": sql.Literal(mapping.object)}
