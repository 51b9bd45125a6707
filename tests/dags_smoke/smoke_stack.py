"""Smoke DAG for the test harness: two TaskFlow tasks, one of them querying `crm_warehouse`.

Only used by `tests/test_devstack.py` to prove that `dag.test()` runs against the Postgres
metadata database and resolves connections from `AIRFLOW_CONN_*`.
"""

from __future__ import annotations

from airflow.sdk import dag, task


@dag(dag_id="smoke_stack", schedule=None, catchup=False, doc_md=__doc__, tags=["test"])
def smoke_stack() -> None:
    @task(pool="salesforce_api")
    def query_warehouse() -> int:
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        return int(PostgresHook(postgres_conn_id="crm_warehouse").get_first("SELECT 1")[0])

    @task
    def check(value: int) -> int:
        if value != 1:
            raise ValueError(f"SELECT 1 returned {value!r}")
        return value

    check(query_warehouse())


smoke_stack_dag = smoke_stack()
