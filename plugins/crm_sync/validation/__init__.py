"""Validation of staged batches with Great Expectations (SQL pushed down to PostgreSQL).

Importing this package does not import Great Expectations (that takes seconds); the
functions that need it import it when called.
"""

from crm_sync.validation.runner import ValidationOutcome, validate_batch
from crm_sync.validation.suite import (
    Rule,
    SuiteError,
    build_suite,
    check_expectation_types,
    describe_suite,
    rule_of,
)

__all__ = [
    "Rule",
    "SuiteError",
    "ValidationOutcome",
    "build_suite",
    "check_expectation_types",
    "describe_suite",
    "rule_of",
    "validate_batch",
]
