"""Result snapshots: a query's rows copied into a file of their own when the query runs.

REST query cursors (``nextRecordsUrl``) and Bulk 2.0 query jobs read their pages from a
snapshot, as Salesforce does: a paged read sees the org as it was when the query started,
writes made meanwhile never shift rows between pages, and memory stays flat whatever the
result size (pages are read with ``rowid`` ranges, never the whole result).

Bulk CSV results are rendered by SQLite itself: one ``printf`` per row quotes every field
(``"%w"`` doubles embedded quotes, NULL becomes ``""``), so Python only joins byte strings. The
output is byte for byte what ``csv.writer(quoting=QUOTE_ALL)`` writes for the same rows (snapshot
values of CSV queries are TEXT or INTEGER; see :meth:`Snapshots.iter_csv`).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import queue
import re
import sqlite3
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from emulator.store import Store, configure_connection, quote_ident

CSV_CHUNK_ROWS = 4000
CSV_WORKERS = 2


def csv_line(values: list[str], delimiter: str, terminator: str) -> bytes:
    """One CSV line (a header row) with every field quoted, as the result rows are written."""
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator=terminator, quoting=csv.QUOTE_ALL).writerow(values)
    return buffer.getvalue().encode("utf-8")


#: Text holding U+0000 passes ``printf`` (which reads C strings) as hex between these two
#: noncharacters, and is put back in Python (:func:`_restore_nul`).
NUL_OPEN, NUL_CLOSE = "\ufdd0", "\ufdd1"
_NUL_HEX = re.compile(NUL_OPEN.encode() + b"([0-9A-F]*)" + NUL_CLOSE.encode())


def _text_arg(column: str) -> str:
    return f"CASE WHEN instr({column}, char(0)) THEN '{NUL_OPEN}' || hex({column}) || '{NUL_CLOSE}' ELSE {column} END"


def _csv_arg(column: str, declared: str) -> str:
    """The ``printf`` argument of one column: its text, ``''`` for NULL (a REAL in Python's form)."""
    if declared == "TEXT":  # TEXT affinity: a REAL never stays REAL here
        return f"ifnull({_text_arg(column)}, '')"
    return (f"CASE typeof({column}) WHEN 'real' THEN py_repr({column}) WHEN 'text' THEN {_text_arg(column)} "
            f"ELSE ifnull({column}, '') END")


def _restore_nul(chunk: bytes) -> bytes:
    """Put back the text values :func:`_text_arg` passed as hex (quotes doubled, as ``%w`` does)."""
    return _NUL_HEX.sub(lambda m: bytes.fromhex(m.group(1).decode()).replace(b'"', b'""'), chunk)


class Snapshots:
    """Snapshot files under one directory.

    Args:
        store: The org database (the source of snapshots).
        root: Directory for the snapshot files.
    """

    def __init__(self, store: Store, root: Path) -> None:
        self.store = store
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, snap_id: str) -> Path:
        """File of a snapshot."""
        if not snap_id.isalnum():
            raise KeyError(snap_id)
        return self.root / f"{snap_id}.sqlite"

    def create(self, snap_id: str, sql: str, params: list[Any], meta: dict[str, Any]) -> int:
        """Run ``sql`` against the org and store its rows; returns the row count."""
        path = self.path(snap_id)
        path.unlink(missing_ok=True)
        conn = self.store.conn()
        if conn.in_transaction:  # inside a composite request: SQLite cannot ATTACH there; read committed data
            side = sqlite3.connect(self.store.db_path, isolation_level=None)
            configure_connection(side)
            try:
                return self._create_with(side, path, sql, params, meta)
            finally:
                side.close()
        return self._create_with(conn, path, sql, params, meta)

    @staticmethod
    def _create_with(conn: sqlite3.Connection, path: Path, sql: str, params: list[Any], meta: dict[str, Any]) -> int:
        conn.execute("ATTACH DATABASE ? AS snap", (str(path),))
        try:
            conn.execute("PRAGMA snap.journal_mode = OFF")
            conn.execute("PRAGMA snap.synchronous = OFF")
            conn.execute(f"CREATE TABLE snap.rows AS {sql}", params)
            count = conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM snap.rows").fetchone()[0]
            conn.execute("CREATE TABLE snap.meta (value TEXT NOT NULL)")
            conn.execute("INSERT INTO snap.meta (value) VALUES (?)", (json.dumps({**meta, "total": count}),))
        except BaseException:
            conn.execute("DETACH DATABASE snap")
            path.unlink(missing_ok=True)
            raise
        conn.execute("DETACH DATABASE snap")
        return count

    def _open(self, snap_id: str) -> sqlite3.Connection:
        path = self.path(snap_id)
        if not path.exists():
            raise KeyError(snap_id)
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        return conn

    def meta(self, snap_id: str) -> dict[str, Any] | None:
        """The metadata stored with a snapshot (plus ``total``), or None if it does not exist."""
        try:
            conn = self._open(snap_id)
        except KeyError:
            return None
        try:
            row = conn.execute("SELECT value FROM meta").fetchone()
        except sqlite3.DatabaseError:
            return None
        finally:
            conn.close()
        try:
            os.utime(self.path(snap_id))
        except OSError:
            pass
        return json.loads(row[0]) if row else None

    def rows(self, snap_id: str, offset: int, limit: int) -> list[tuple[Any, ...]]:
        """Rows ``offset+1 .. offset+limit`` (1-based rowids) of a snapshot."""
        conn = self._open(snap_id)
        try:
            return conn.execute("SELECT * FROM rows WHERE rowid > ? ORDER BY rowid LIMIT ?",
                                (offset, limit)).fetchall()
        finally:
            conn.close()

    def iter_rows(self, snap_id: str, offset: int, limit: int, chunk: int = 5000) -> Iterator[list[tuple[Any, ...]]]:
        """Stream rows ``offset+1 .. offset+limit`` in chunks (bounded memory)."""
        conn = self._open(snap_id)
        try:
            cur = conn.execute("SELECT * FROM rows WHERE rowid > ? ORDER BY rowid LIMIT ?", (offset, limit))
            while True:
                batch = cur.fetchmany(chunk)
                if not batch:
                    return
                yield batch
        finally:
            conn.close()

    def iter_csv(self, snap_id: str, offset: int, limit: int, delimiter: str = ",",
                 terminator: str = "\n") -> Iterator[bytes]:
        """Stream rows ``offset+1 .. offset+limit`` as UTF-8 CSV lines, every field quoted.

        Chunks of :data:`CSV_CHUNK_ROWS` lines are rendered by :data:`CSV_WORKERS` threads at once
        (SQLite runs without the GIL), at most ``CSV_WORKERS + 1`` chunks ahead of the reader, and
        come out in row order. A field is written as ``csv.writer(quoting=csv.QUOTE_ALL)`` writes
        it: quoted, quotes doubled, NULL as ``""``, INTEGER values in decimal, REAL values as
        Python's ``repr`` (only columns not declared TEXT can hold them). U+0000 in text passes
        ``printf`` (which reads C strings) as hex and is put back.

        Args:
            snap_id: The snapshot.
            offset: Rows to skip (the page starts at rowid ``offset + 1``).
            limit: Most rows to write.
            delimiter: Column delimiter (one character).
            terminator: Line ending.
        """
        conns: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        opened = [self._open(snap_id) for _ in range(CSV_WORKERS)]  # open now: a purge cannot pull the file away
        for conn in opened:
            conn.create_function("py_repr", 1, repr, deterministic=True)
            conn.text_factory = bytes
            conns.put(conn)
        pool = ThreadPoolExecutor(CSV_WORKERS, thread_name_prefix="csv")
        try:
            columns = [(row[1].decode(), row[2].decode().upper()) for row in opened[0].execute("PRAGMA table_info(rows)")]
            top = opened[0].execute("SELECT COALESCE(MAX(rowid), 0) FROM rows").fetchone()[0]
            fmt = delimiter.replace("%", "%%").join(['"%w"'] * len(columns)) + terminator.replace("%", "%%")
            args = ", ".join(_csv_arg(quote_ident(name), declared) for name, declared in columns)
            sql = f"SELECT printf(?, {args}) FROM rows WHERE rowid > ? AND rowid <= ? ORDER BY rowid"
            stop = min(offset + limit, top)

            def render(low: int) -> bytes:
                conn = conns.get()
                try:
                    return b"".join([row[0] for row in conn.execute(sql, (fmt, low, min(low + CSV_CHUNK_ROWS, stop)))])
                finally:
                    conns.put(conn)

            starts = iter(range(offset, stop, CSV_CHUNK_ROWS))
            pending = deque(pool.submit(render, low) for low in itertools.islice(starts, CSV_WORKERS + 1))
            while pending:
                chunk = pending.popleft().result()
                low = next(starts, None)
                if low is not None:
                    pending.append(pool.submit(render, low))
                if NUL_OPEN.encode() in chunk:
                    chunk = _restore_nul(chunk)
                if chunk:
                    yield chunk
        finally:
            pool.shutdown(wait=True, cancel_futures=True)  # a cut connection: the chunks in hand finish first
            for conn in opened:
                conn.close()

    def exists(self, snap_id: str) -> bool:
        """True if the snapshot file is still there."""
        try:
            return self.path(snap_id).exists()
        except KeyError:
            return False

    def expire_soon(self, snap_id: str, idle_limit_s: float, grace_s: float) -> None:
        """Let :meth:`purge_idle` remove a fully read snapshot ``grace_s`` seconds from now
        (a client retrying its last page still finds it; any read restarts the idle clock)."""
        moment = time.time() - idle_limit_s + grace_s
        try:
            os.utime(self.path(snap_id), (moment, moment))
        except (OSError, KeyError):
            pass

    def delete(self, snap_id: str) -> None:
        """Remove a snapshot file."""
        try:
            self.path(snap_id).unlink(missing_ok=True)
        except KeyError:
            pass

    def purge_idle(self, max_idle_s: float) -> int:
        """Delete snapshots not read for ``max_idle_s`` seconds; returns how many went."""
        cutoff = time.time() - max_idle_s
        removed = 0
        for path in self.root.glob("*.sqlite"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except OSError:
                continue
        return removed
