"""Staging a Bulk CSV page in PostgreSQL gives the payloads `normalize.from_bulk_csv` gives."""

from __future__ import annotations

import json

import psycopg

from crm_sync.normalize import from_bulk_csv
from crm_sync.salesforce import FieldInfo
from crm_sync.staging import stage_bulk_page
from tests.integration.conftest import fresh_databases  # noqa: F401  (fixture)

FIELDS = {name.lower(): FieldInfo(name, kind, 0, True) for name, kind in [
    ("Id", "id"), ("SystemModstamp", "datetime"), ("IsDeleted", "boolean"), ("Email", "email"),
    ("NumberOfEmployees", "int"), ("AnnualRevenue", "currency"), ("Probability", "percent"),
    ("Score__c", "double"), ("Description", "textarea"), ("HasOptedOutOfEmail", "boolean")]}

PAGE = (
    '"Id","SystemModstamp","IsDeleted","Email","NumberOfEmployees","AnnualRevenue","Probability",'
    '"Score__c","Description","HasOptedOutOfEmail","Unknown__c"\n'
    '"003000000000001AAA","2024-01-02T03:04:05.000Z","false","a@example.org","12","1234.50","10",'
    '"9.9213206E7","plain","true","x"\n'
    '"003000000000002AAA","2024-01-02T03:04:06.000Z","true","","","","","","","false",""\n'
    '"003000000000003AAA","2024-01-02T03:04:07.000Z","false"," B@Example.ORG ","0","0.1","100.0",'
    '"-1e-7","line one\nline two, with ""quotes"" and ünïcødé\\u","false","0"\n'
    # Numbers at the edges of a double's integral range: PostgreSQL prints 1e15..1e16 as "1e+15".
    '"003000000000004AAA","2024-01-02T03:04:08.000Z","false","","-1000000000000000","-1e15",'
    '"1234567890123456","9999999999999998","","false",""\n'
    '"003000000000005AAA","2024-01-02T03:04:09.000Z","false","","2147483647","1e16","-0.0",'
    '"1.7976931348623157E308","","false",""\n'
)


HUGE = "003000000000005AAA"


def test_bulk_page_payloads_equal_the_python_normaliser(fresh_databases) -> None:  # noqa: F811
    expected = {row[0]: (row[1], row[2], json.loads(json.dumps(row[3], ensure_ascii=False)))
                for row in from_bulk_csv(PAGE, FIELDS)}
    with psycopg.connect(fresh_databases.warehouse) as wh:
        assert stage_bulk_page(wh, 7, PAGE, FIELDS) == 5
        staged = {sf_id: (modstamp, deleted, payload) for sf_id, modstamp, deleted, payload in wh.execute(
            "SELECT sf_id, to_char(system_modstamp AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"
            " is_deleted, payload FROM crm_staging.records WHERE run_id = 7")}
        # The same text as the Python path's JSON, value for value.
        python_text = {sf_id: wh.execute("SELECT %s::jsonb::text", (json.dumps(p, ensure_ascii=False),)).fetchone()[0]
                       for sf_id, (_, _, p) in expected.items()}
        staged_text = dict(wh.execute("SELECT sf_id, payload::text FROM crm_staging.records WHERE run_id = 7"))
        wh.commit()
    # jsonb prints numbers without exponents, so 1.8e308 reads back as a Python int: compared
    # as text below, like every other row.
    assert {k: v for k, v in staged.items() if k != HUGE} == {k: v for k, v in expected.items() if k != HUGE}
    assert staged_text == python_text


def test_an_empty_page_stages_nothing(fresh_databases) -> None:  # noqa: F811
    with psycopg.connect(fresh_databases.warehouse) as wh:
        assert stage_bulk_page(wh, 8, "", FIELDS) == 0
        assert stage_bulk_page(wh, 8, '"Id","SystemModstamp","IsDeleted"\n', FIELDS) == 0
