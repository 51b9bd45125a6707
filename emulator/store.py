"""SQLite persistence: one table per sObject, a column per field, WAL mode.

Every thread gets its own connection; writes are serialised by one lock (SQLite has a single
writer anyway) so readers never see SQLITE_BUSY and a long paged read never blocks a write.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from emulator.assignment import ensure_routing
from emulator.schema import OBJECTS, ObjectDef
from emulator.values import java_double

DB_NAME = "org.sqlite"
SCHEMA_VERSION = 1


def quote_ident(name: str) -> str:
    """Quote an SQL identifier (names come from the schema, never from user input)."""
    return '"' + name.replace('"', '""') + '"'


def _column_sql(fdef: Any) -> str:
    storage = fdef.storage
    parts = [quote_ident(fdef.name), storage]
    if fdef.is_text:
        parts.append("COLLATE NOCASE")
    if fdef.type == "boolean":
        parts.append("NOT NULL DEFAULT 0")
    return " ".join(parts)


def table_ddl(obj: ObjectDef) -> list[str]:
    """CREATE TABLE (and index) statements for an sObject."""
    columns = ["rid INTEGER PRIMARY KEY AUTOINCREMENT"]
    columns += [_column_sql(f) for f in obj.stored_fields]
    columns.append('"_DeletedDate" TEXT')
    return [f"CREATE TABLE IF NOT EXISTS {quote_ident(obj.name)} ({', '.join(columns)})"]


def index_ddl(obj: ObjectDef) -> list[str]:
    """CREATE INDEX statements, run after bulk seeding."""
    table = quote_ident(obj.name)
    stmts = [
        f'CREATE UNIQUE INDEX IF NOT EXISTS "ix_{obj.name}_Id" ON {table} ("Id")',
        f'CREATE INDEX IF NOT EXISTS "ix_{obj.name}_SystemModstamp" ON {table} ("SystemModstamp")',
    ]
    for fdef in obj.stored_fields:
        if fdef.unique and fdef.name != "Id":
            stmts.append(f'CREATE UNIQUE INDEX IF NOT EXISTS "ix_{obj.name}_{fdef.name}" ON {table} '
                         f'({quote_ident(fdef.name)})')
        elif fdef.type == "email" and obj.name in ("Contact", "Lead"):
            stmts.append(f'CREATE INDEX IF NOT EXISTS "ix_{obj.name}_{fdef.name}" ON {table} '
                         f'({quote_ident(fdef.name)})')
    return stmts


INTERNAL_DDL = [
    "CREATE TABLE IF NOT EXISTS _meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS _sessions (token TEXT PRIMARY KEY, user_id TEXT NOT NULL, kind TEXT NOT NULL,"
    " created REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS _refresh_tokens (token TEXT PRIMARY KEY, user_id TEXT NOT NULL, created REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS _jobs (id TEXT PRIMARY KEY, kind TEXT NOT NULL, created REAL NOT NULL,"
    " info TEXT NOT NULL)",
]


def _sf_double(value: Any) -> str | None:
    return java_double(value)


def configure_connection(conn: sqlite3.Connection) -> None:
    """Pragmas and SQL functions every connection needs."""
    conn.execute("PRAGMA busy_timeout = 60000")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA cache_size = -16384")
    conn.execute("PRAGMA temp_store = FILE")
    conn.create_function("sf_double", 1, _sf_double, deterministic=True)


def create_schema(conn: sqlite3.Connection) -> None:
    """Create every table and index, add columns that fields added since need, seed Organization (idempotent)."""
    for obj in OBJECTS.values():
        for stmt in table_ddl(obj) + index_ddl(obj):
            conn.execute(stmt)
        have = {row[1].lower() for row in conn.execute(f"PRAGMA table_info({quote_ident(obj.name)})")}
        for fdef in obj.stored_fields:
            if fdef.name.lower() not in have:
                conn.execute(f"ALTER TABLE {quote_ident(obj.name)} ADD COLUMN {_column_sql(fdef)}")
    for stmt in INTERNAL_DDL:
        conn.execute(stmt)
    ensure_organization(conn)
    ensure_routing(conn)


def ensure_organization(conn: sqlite3.Connection) -> None:
    """The org's one Organization record (a production Enterprise Edition org on instance EMU1)."""
    if conn.execute('SELECT 1 FROM "Organization" LIMIT 1').fetchone() is not None:
        return
    from emulator.ids import make_id
    from emulator.schema import ORG_ID

    user = make_id("005", 1)
    stamp = "2022-01-01T00:00:00.000Z"
    conn.execute('INSERT INTO "Organization" (rid, Id, IsDeleted, Name, Division, IsSandbox, InstanceName, '
                 "OrganizationType, NamespacePrefix, Country, DefaultLocaleSidKey, LanguageLocaleKey, TimeZoneSidKey, "
                 "CreatedDate, CreatedById, LastModifiedDate, LastModifiedById, SystemModstamp) "
                 "VALUES (1, ?, 0, 'Emulated Org', NULL, 0, 'EMU1', 'Enterprise Edition', NULL, 'United States', "
                 "'en_US', 'en_US', 'Etc/UTC', ?, ?, ?, ?, ?)", (ORG_ID, stamp, user, stamp, user, stamp))


class Store:
    """The org database in a state directory.

    Args:
        state_dir: Directory holding ``org.sqlite`` (created by the generator or on first open).
    """

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)
        self.db_path = self.state_dir / DB_NAME
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self.write_lock = threading.RLock()
        self._next_rid: dict[str, int] = {}
        conn = self.conn()
        conn.execute("PRAGMA journal_mode = WAL")
        with self.write() as wconn:
            create_schema(wconn)

    def conn(self) -> sqlite3.Connection:
        """This thread's connection (autocommit; use :meth:`write` for write transactions)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.db_path, isolation_level=None, check_same_thread=False)
            configure_connection(conn)
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction under the store's write lock; commits on success, rolls back on error."""
        with self.write_lock:
            conn = self.conn()
            if conn.in_transaction:  # nested use inside an outer write: join it
                yield conn
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def next_rid(self, conn: sqlite3.Connection, obj: ObjectDef) -> int:
        """Allocate the next row number (and so Id) of an object; call under the write lock."""
        current = self._next_rid.get(obj.name)
        if current is None:
            row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (obj.name,)).fetchone()
            top = conn.execute(f"SELECT MAX(rid) FROM {quote_ident(obj.name)}").fetchone()[0]
            current = max(row[0] if row else 0, top or 0)
        current += 1
        self._next_rid[obj.name] = current
        return current

    def get_meta(self, key: str, default: Any = None) -> Any:
        """Read a JSON value from the ``_meta`` table."""
        row = self.conn().execute("SELECT value FROM _meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def set_meta(self, key: str, value: Any) -> None:
        """Write a JSON value into the ``_meta`` table."""
        with self.write() as conn:
            conn.execute("INSERT INTO _meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = "
                         "excluded.value", (key, json.dumps(value)))

    def close(self) -> None:
        """Close every connection this store opened (call once the server has stopped)."""
        with self._all_lock:
            conns, self._all = self._all, []
        for conn in conns:
            try:
                conn.close()
            except sqlite3.ProgrammingError:
                pass
        try:
            final = sqlite3.connect(self.db_path)
            final.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            final.close()
        except sqlite3.Error:
            pass
