"""Plain-language explanations of the errors a sync run can end with, and what to do about them."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Advice:
    """What an error means and how to fix it."""

    title: str
    fix: str


_KNOWN_ERRORS: tuple[tuple[re.Pattern[str], Advice], ...] = (
    (re.compile(r"INVALID_LOGIN|invalid_grant|authentication failure|INVALID_CLIENT", re.I),
     Advice("Salesforce refused the sync's login.",
            "Check the user name, password and security token (or the connected app's key) of the "
            "`salesforce_default` connection, and that the user is active and allowed from this network.")),
    (re.compile(r"INVALID_SESSION_ID|Session expired", re.I),
     Advice("Salesforce ended the sync's session.",
            "Usually transient: clear the failed task to retry. If it repeats, check the session "
            "timeout and IP restrictions of the integration user's profile.")),
    (re.compile(r"REQUEST_LIMIT_EXCEEDED|TotalRequests Limit exceeded|API budget|api budget", re.I),
     Advice("The org's daily Salesforce API budget is used up.",
            "Wait for the 24-hour budget to free up (the next run resumes from the watermark), sync "
            "less often (`CRM_SYNC_INTERVAL_MINUTES`), or ask Salesforce for a higher limit.")),
    (re.compile(r"INVALID_FIELD|No such column|mapped field|SalesforceSchemaError|no longer exists", re.I),
     Advice("A field the mapping reads does not exist in Salesforce (any more).",
            "Restore the field in Salesforce, grant the integration user field-level access to it, "
            "or remove it from the object's mapping in `include/mappings/`.")),
    (re.compile(r"batch of run \d+ rejected|BatchRejected|quarantine threshold", re.I),
     Advice("The whole batch was rejected by validation: too many records failed or a record "
            "had no valid Id.",
            "Open the Quarantine page to see which values fail; fix them in Salesforce or the "
            "mapping, then run the sync again. `CRM_SYNC_QUARANTINE_THRESHOLD` sets the share of "
            "failing records that rejects a batch.")),
    (re.compile(r"full sync .* is (still )?running|holding the lock", re.I),
     Advice("The run waited for a full sync that holds the sync's lock.",
            "Nothing to fix while `crm_full_sync` runs. If no full sync is running, its lock was "
            "left behind: see 'Stuck lock' in the operations guide.")),
    (re.compile(r"password authentication failed|could not connect to server|connection to server|"
                r"psycopg|OperationalError", re.I),
     Advice("A database (warehouse or marketing) could not be reached or refused the login.",
            "Check the `crm_warehouse` and `marketing_db` connections (host, port, user, password) and "
            "that the database server is up.")),
    (re.compile(r"Max retries exceeded|Connection refused|Name or service not known|"
                r"Temporary failure in name resolution|timed out|unreachable|ConnectionError|SSLError", re.I),
     Advice("A host could not be reached.",
            "Check the network path and the host in the connection (Salesforce domain or database "
            "host), proxies and certificates; then clear the failed task to retry.")),
    (re.compile(r"UNABLE_TO_LOCK_ROW", re.I),
     Advice("Salesforce had the record locked by another process.",
            "Transient: the next write-back retries it. If it repeats, look for automation that "
            "holds the record (flows, triggers, other integrations).")),
    (re.compile(r"FIELD_CUSTOM_VALIDATION_EXCEPTION|REQUIRED_FIELD_MISSING|INVALID_EMAIL_ADDRESS|"
                r"STRING_TOO_LONG|INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", re.I),
     Advice("Salesforce rejected the record's values.",
            "Correct the marketing row (or the value map) so it passes the org's validation rules; "
            "the next write-back sends it again.")),
    (re.compile(r"is not a Salesforce Id|fails the Id checksum|refused:", re.I),
     Advice("An Id given to the record sync is not a valid Salesforce Id.",
            "Copy the 15- or 18-character Id from the record's address in Salesforce and try again.")),
)

_UNKNOWN = Advice("The run failed with an error the console does not recognise.",
                  "Read the task log (linked below) for the full traceback.")


def explain_error(error: str | None) -> Advice | None:
    """The plain-language explanation of a run's error, or None when the run has no error.

    Args:
        error: The `error` column of the sync log.

    Returns:
        The first matching known pattern's advice, a generic advice for unknown errors, or None.
    """
    if not error:
        return None
    for pattern, advice in _KNOWN_ERRORS:
        if pattern.search(error):
            return advice
    return _UNKNOWN
