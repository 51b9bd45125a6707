"""Airflow DAG `crm_reconcile`: the daily check that finds and repairs drift between
Salesforce and the marketing database."""

from crm_sync.reconcile_dag import reconcile_dags

globals().update(reconcile_dags())
