"""The one Salesforce gateway of both directions: hook, retries, budget, SOQL, REST and Bulk."""

from crm_sync.salesforce.budget import ApiBudget, BudgetExhausted
from crm_sync.salesforce.gateway import (
    ApiLimitReached,
    BulkJobFailed,
    FieldInfo,
    RetryPolicy,
    SalesforceGateway,
    SalesforceLoginFailed,
    SalesforceSchemaError,
    SalesforceUnreachable,
    TransientFailure,
)

__all__ = [
    "ApiBudget",
    "ApiLimitReached",
    "BudgetExhausted",
    "BulkJobFailed",
    "FieldInfo",
    "RetryPolicy",
    "SalesforceGateway",
    "SalesforceLoginFailed",
    "SalesforceSchemaError",
    "SalesforceUnreachable",
    "TransientFailure",
]
