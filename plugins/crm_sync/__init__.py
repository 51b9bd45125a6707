"""crm_sync: the library behind the Salesforce <-> marketing database sync DAGs.

Most of it runs without Airflow; the Airflow-facing pieces (hooks, DAG factory) import
Airflow lazily so the mapping compiler, SQL builders and normalisers are plain Python.
"""
