"""The validation's integer pattern covers exactly PostgreSQL's `integer` range, both ends."""

from __future__ import annotations

import re

import pytest

from crm_sync.mapping.model import ColumnType
from crm_sync.validation.suite import TYPE_PATTERNS


@pytest.mark.parametrize(("text", "valid"), [
    ("-2147483648", True), ("-2147483648.0", True), ("-02147483648", True), ("2147483647", True),
    ("-2147483649", False), ("2147483648", False), ("+2147483648", False), ("--1", False),
])
def test_integer_pattern_accepts_the_whole_int4_range(text: str, valid: bool) -> None:
    assert bool(re.match(TYPE_PATTERNS[ColumnType.INTEGER], text)) is valid
