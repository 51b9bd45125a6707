"""Airflow DAG `crm_writeback`: the marketing side's changes written back to Salesforce.

Every hour (`CRM_WRITEBACK_INTERVAL_MINUTES`), reads what changed in the marketing database
since the last write-back (change tracking: `crm_outbox`), decides each field by its owner
and conflict rule (`direction` / `conflict` in include/mappings/), and writes Salesforce
through Bulk API 2.0: updates by Id, and new people from marketing forms as Leads, linked
back to their marketing row. Per-record results: `crm_sync.writeback_results`; counts: the
sync log `crm_sync.sync_runs` (kind `writeback`). Salesforce-owned values edited on the
marketing side are read back from Salesforce and overwritten. See docs/writeback.md.
"""

from crm_sync.writeback.dag import writeback_dag

crm_writeback = writeback_dag(doc_md=__doc__)
