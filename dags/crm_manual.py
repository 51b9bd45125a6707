"""Airflow DAGs started by hand from the UI: `crm_full_sync` (re-pull everything, Params form)
and `crm_record_sync` (sync listed Salesforce records now)."""

from crm_sync.manual_dags import manual_dags

globals().update(manual_dags())
