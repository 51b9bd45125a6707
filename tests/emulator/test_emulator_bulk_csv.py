"""Bulk CSV results rendered by SQLite are byte for byte what Python's csv module writes.

The fast path (:meth:`emulator.snapshots.Snapshots.iter_csv`) quotes fields in SQL; these tests
hold it to ``csv.writer(quoting=QUOTE_ALL)`` on hostile values (delimiters, quotes, line breaks,
unicode, ``printf`` directives, empty strings against NULLs, numbers of every storage class),
directly on snapshot files and end to end through Bulk API 1.0 and 2.0 over HTTPS.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest
import requests

from emulator import snapshots as snapshots_module
from emulator.bulk2 import DELIMITERS, LINE_ENDINGS
from emulator.snapshots import Snapshots
from emulator.store import Store

HOSTILE_TEXT = ("a,b", 'say "hi"', '"', '""', "line1\nline2", "cr\r\nlf", "\ttab", "Zoë 山田 Łukasz 🎉", "",
                None, " lead and trail ", "%s %d %w %q %% %", "|;^`", "O'Brien", "back\\slash", "nul\x00byte", "x" * 40_000)
HOSTILE_INT = (0, -1, 2**62, None, 7)
HOSTILE_REAL = (0.1, 1e20, -0.0, 5.0,  # SQLite keeps -0.0 as 0.0
                1e-7, 123456789.123, None, 2.5e-300)
HOSTILE_ANY = ("text, with comma", 42, 3.25, None, "", 1e16)


def _rows() -> list[tuple[object, ...]]:
    rows = []
    for i in range(60):
        rows.append((HOSTILE_TEXT[i % len(HOSTILE_TEXT)], HOSTILE_INT[i % len(HOSTILE_INT)],
                     HOSTILE_REAL[i % len(HOSTILE_REAL)], HOSTILE_ANY[i % len(HOSTILE_ANY)], f"row {i}"))
    return rows


@pytest.fixture
def snaps(tmp_path) -> Iterator[Snapshots]:
    """Snapshots over a scratch org database holding a table of hostile values."""
    (tmp_path / "org").mkdir()
    store = Store(tmp_path / "org")
    with store.write() as conn:
        conn.execute("CREATE TABLE hostile (t TEXT, n INTEGER, r REAL, x, label TEXT)")
        conn.executemany("INSERT INTO hostile VALUES (?, ?, ?, ?, ?)", _rows())
    snaps = Snapshots(store, tmp_path / "snapshots")
    count = snaps.create("hostile", "SELECT t AS c0, n AS c1, r AS c2, x AS c3, label AS c4 FROM hostile ORDER BY "
                         "rowid", [], {})
    assert count == 60
    yield snaps
    store.close()


def _csv_module(rows: list[tuple[object, ...]], delimiter: str, terminator: str) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator=terminator, quoting=csv.QUOTE_ALL).writerows(rows)
    return buffer.getvalue().encode("utf-8")


@pytest.mark.parametrize("delimiter", sorted(DELIMITERS.values()))
@pytest.mark.parametrize("terminator", sorted(LINE_ENDINGS.values()))
def test_sql_rendering_equals_csv_module(snaps, monkeypatch, delimiter, terminator):
    monkeypatch.setattr(snapshots_module, "CSV_CHUNK_ROWS", 7)  # many chunks, rendered out of order
    for offset, limit in ((0, 60), (0, 1000), (5, 13), (59, 10), (60, 5)):
        expected = _csv_module(snaps.rows("hostile", offset, limit), delimiter, terminator)
        chunks = list(snaps.iter_csv("hostile", offset, limit, delimiter, terminator))
        assert b"".join(chunks) == expected
        assert len(chunks) == -(-min(limit, max(0, 60 - offset)) // 7)


def test_stream_survives_purge_and_stops_when_closed(snaps, monkeypatch):
    monkeypatch.setattr(snapshots_module, "CSV_CHUNK_ROWS", 5)
    expected = _csv_module(snaps.rows("hostile", 0, 60), ",", "\n")
    cut = snaps.iter_csv("hostile", 0, 60)
    first = next(cut)
    cut.close()  # a dropped connection: the renderers stop
    assert expected.startswith(first) and first
    stream = snaps.iter_csv("hostile", 0, 60)
    head = next(stream)
    snaps.delete("hostile")  # the file goes (job deleted, idle purge) while a client is reading
    assert not snaps.exists("hostile")
    assert head + b"".join(stream) == expected


def test_sql_rendering_spells_values_like_python(snaps):
    text = b"".join(snaps.iter_csv("hostile", 0, 8)).decode("utf-8")
    assert text.startswith('"a,b","0","0.1","text, with comma","row 0"\n"say ""hi""","-1","1e+20","42","row 1"\n')
    parsed = list(csv.reader(io.StringIO(text)))
    assert [row[2] for row in parsed] == ["0.1", "1e+20", "0.0", "5.0", "1e-07", "123456789.123", "", "2.5e-300"]
    assert [row[1] for row in parsed[:5]] == ["0", "-1", "4611686018427387904", "", "7"]
    assert [row[3] for row in parsed[:6]] == ["text, with comma", "42", "3.25", "", "", "1e+16"]
    assert [row[0] for row in parsed[2:5]] == ['"', '""', "line1\nline2"]


def _bulk1_csv(sf, soql: str) -> str:
    headers = {"X-SFDC-Session": sf.session_id, "Content-Type": "application/json"}
    base = f"{sf.bulk_url}job"
    job = requests.post(base, json={"operation": "query", "object": "Contact", "contentType": "CSV"},
                        headers=headers, timeout=30).json()["id"]
    batch = requests.post(f"{base}/{job}/batch", data=soql, headers={**headers, "Content-Type": "text/csv"},
                          timeout=30).text.split("<id>", 1)[1].split("</id>", 1)[0]
    listing = requests.get(f"{base}/{job}/batch/{batch}/result", headers=headers, timeout=30).text
    (result,) = [part.split("</result>", 1)[0] for part in listing.split("<result>")[1:]]
    answer = requests.get(f"{base}/{job}/batch/{batch}/result/{result}", headers=headers, timeout=30)
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/csv")
    return answer.content.decode("utf-8")


def test_hostile_values_through_bulk1_and_bulk2(fresh, connect):
    emu = fresh(records=40, seed=3)
    admin = emu.admin()
    ids = []
    for i, text in enumerate(t for t in HOSTILE_TEXT[:15] if t):
        ids.append(admin.insert("Contact", {"LastName": text[:80], "FirstName": None if i % 2 else "",
                                            "Title": text[:128], "Description": f"{text}\n{text}",
                                            "Lead_Score__c": [None, 0, 1e9, 5, 12345678][i % 5],
                                            "HasOptedOutOfEmail": bool(i % 3)}))
    fields = ["Id", "FirstName", "LastName", "Title", "Description", "Lead_Score__c", "HasOptedOutOfEmail",
              "SystemModstamp"]
    soql = f"SELECT {', '.join(fields)} FROM Contact WHERE Id IN ({', '.join(repr(i) for i in ids)}) ORDER BY Id"
    scores = {None: "", 0: "0.0", 1e9: "1.0E9", 5: "5.0", 12345678: "1.2345678E7"}
    expected_rows = []
    for record_id in sorted(ids):
        record = admin.get("Contact", record_id)
        expected_rows.append([record_id, record["FirstName"] or "", record["LastName"], record["Title"],
                              record["Description"], scores[record["Lead_Score__c"]],
                              "true" if record["HasOptedOutOfEmail"] else "false",
                              record["SystemModstamp"].replace("+0000", "Z")])
    expected = _csv_module([fields, *expected_rows], ",", "\n").decode("utf-8")
    sf = connect(emu)
    assert _bulk1_csv(sf, soql) == expected
    pages = list(sf.bulk2.Contact.query(soql, wait=0))
    assert pages == [expected]
    piped = list(sf.bulk2.Contact.query(soql, column_delimiter="PIPE", line_ending="CRLF", wait=0))
    assert piped == [_csv_module([fields, *expected_rows], "|", "\r\n").decode("utf-8")]
