"""A one-task DAG for the emulator tests: Airflow's ``SalesforceBulkOperator`` inserts five Leads.

It lives in its own DAG bundle (``dag.test()`` runs only DAGs that a bundle serialised); the
test points the ``salesforce_emulator`` connection at a running emulator.
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.salesforce.operators.bulk import SalesforceBulkOperator
from airflow.sdk import DAG

PEOPLE = [{"LastName": f"Operator {n}", "Company": "Bulk Operator Co", "Email": f"op{n}@example.com",
           "Lead_Source_Detail__c": "Airflow"} for n in range(5)]

with DAG("emulator_bulk_operator", schedule=None, start_date=datetime(2024, 1, 1), catchup=False,
         doc_md=__doc__) as dag:
    SalesforceBulkOperator(task_id="insert_leads", operation="insert", object_name="Lead", payload=PEOPLE,
                           salesforce_conn_id="salesforce_emulator", max_retries=2, bulk_retry_delay=0)
