"""Integration tests get fresh warehouse and marketing databases per test."""

from tests.fixtures.databases import fresh_databases  # noqa: F401  (fixture)
