"""Pure functions: the SOQL parser and compiler, value encodings."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from emulator.soql import BoolOp, Condition, CountItem, NotOp, SoqlError, like_pattern, parse
from emulator.soql_compile import compile_query
from emulator.values import java_double, parse_datetime


def test_parse_full_statement():
    query = parse("select Id, Account.Name FROM contact where (Email != null AND Status__c IN ('1','2')) "
                  "order by LastName desc nulls last, Id LIMIT 10 OFFSET 5")
    assert query.object_name == "contact"
    assert [i.path for i in query.items] == ["Id", "Account.Name"]
    assert isinstance(query.where, BoolOp) and query.where.op == "AND"
    assert [c.op for c in query.where.items] == ["!=", "IN"]
    assert [(o.path, o.descending, o.nulls_first) for o in query.order_by] == [("LastName", True, False),
                                                                               ("Id", False, None)]
    assert (query.limit, query.offset) == (10, 5)


def test_parse_not_like_count_and_literals():
    query = parse("SELECT COUNT() FROM Lead WHERE NOT Name LIKE 'A\\_%' AND CreatedDate = LAST_N_DAYS:7 "
                  "AND Lead_Score__c > -2.5 AND HasOptedOutOfEmail = TRUE AND ConvertedDate < 2024-01-01")
    assert isinstance(query.items[0], CountItem) and query.items[0].path is None
    not_like, last_n, score, flag, before = query.where.items
    assert isinstance(not_like, NotOp) and not_like.item.value.value == "A\\_%"
    assert last_n.value.value == ("last_n_days", 7)
    assert score.value.value == -2.5
    assert flag.value.value is True
    assert before.value.kind == "date"


def test_string_escapes_and_like_patterns():
    cond = parse("SELECT Id FROM Contact WHERE LastName = 'O\\'Brien \\\\ \\n'").where
    assert isinstance(cond, Condition) and cond.value.value == "O'Brien \\ \n"
    assert like_pattern("'50\\%\\_off\\\\'") == "50\\%\\_off\\\\"


@pytest.mark.parametrize("text,position", [
    ("SELECT FROM Contact", 7), ("SELECT Id Contact", 10), ("SELECT Id FROM Contact WHERE Name = 'a' OR", 42),
    ("SELECT Id FROM Contact LIMIT x", 29), ("SELECT Id FROM Contact GROUP BY", 31),
    ("SELECT Id FROM Contact WHERE Id IN (SELECT Id FROM Lead", 55), ("SELECT FIELDS(SOME) FROM Contact", 14),
    ("SELECT LeadSource FROM Contact GROUP BY LeadSource HAVING COUNT(Id) > 1", 51),
])
def test_syntax_errors_report_positions(text, position):
    with pytest.raises(SoqlError) as info:
        parse(text)
    assert info.value.code == "MALFORMED_QUERY"
    assert info.value.pos == position


def test_semi_join_binds_inner_values_in_order():
    compiled = compile_query(parse("SELECT Id FROM Contact WHERE LastName = 'a' AND Id NOT IN (SELECT ContactId "
                                   "FROM CampaignMember WHERE Status = 'Sent') AND FirstName = 'b'"))
    assert compiled.params == ["a", "Sent", "b"]
    assert "NOT IN (SELECT" in compiled.where_sql and "IS NOT NULL" in compiled.where_sql
    with pytest.raises(SoqlError) as info:
        compile_query(parse("SELECT Id FROM Contact WHERE LastName IN (SELECT ContactId FROM CampaignMember)"))
    assert info.value.code == "INVALID_FIELD"


def test_group_by_compiles_to_aggregates():
    compiled = compile_query(parse("SELECT Status, COUNT(Id), COUNT(Email) n FROM Lead GROUP BY Status"))
    sql, _params = compiled.group_sql()
    assert "GROUP BY t.\"Status\"" in sql
    assert compiled.outputs == [("Status", 0), ("expr0", 1), ("n", 2)]
    with pytest.raises(SoqlError) as info:
        compile_query(parse("SELECT CreatedDate, COUNT(Id) FROM Lead GROUP BY CreatedDate"))
    assert "can not be grouped" in info.value.message


def test_compile_binds_every_value():
    compiled = compile_query(parse("SELECT Id FROM Contact WHERE LastName = 'Robert\\'); --'"))
    sql, params = compiled.select_sql("json")
    assert "Robert" not in sql and params == ["Robert'); --"]


def test_compile_sub_millisecond_and_date_literal():
    compiled = compile_query(parse("SELECT Id FROM Contact WHERE SystemModstamp >= 2024-01-04T09:59:00.000500Z"),
                             today=date(2024, 3, 10))
    assert "> ?" in compiled.where_sql and compiled.params == ["2024-01-04T09:59:00.000Z"]
    ranged = compile_query(parse("SELECT Id FROM Contact WHERE CreatedDate = THIS_MONTH"), today=date(2024, 2, 10))
    assert ranged.params == ["2024-02-01T00:00:00.000Z", "2024-03-01T00:00:00.000Z"]


def test_parse_datetime_forms():
    expected = datetime(2024, 1, 2, 10, 0, tzinfo=UTC)
    for text in ("2024-01-02T10:00:00Z", "2024-01-02T10:00:00+00:00", "2024-01-02T10:00:00+0000",
                 "2024-01-02T10:00:00.000Z", "2024-01-02T11:00:00.000000+01:00"):
        assert parse_datetime(text) == (expected, 0)
    assert parse_datetime("2024-01-02T10:00:00.0001Z")[1] == 100_000
    assert parse_datetime("yesterday") is None


@pytest.mark.parametrize("value,text", [(5, "5.0"), (1000.5, "1000.5"), (99213206.0, "9.9213206E7"),
                                        (1e7, "1.0E7"), (-12345678.9, "-1.23456789E7"), (0.0, "0.0"),
                                        (0.0001, "1.0E-4")])
def test_java_double(value, text):
    assert java_double(value) == text
