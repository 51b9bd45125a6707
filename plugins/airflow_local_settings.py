"""Airflow's local settings for crm_sync, imported by every Airflow process as it starts.

It sets no Airflow setting and defines no policy (``__all__`` is empty: Airflow copies every
exported name into its settings). In the processes that fork task processes (the scheduler
with a LocalExecutor, a Celery worker) it imports Great Expectations once, so that the
``validate`` tasks do not each pay the import (``crm_sync.validation.preload``). Every other
Airflow process (API server, DAG processor, triggerer, CLI commands) imports nothing here.
"""

import sys

__all__: list[str] = []

if sys.argv[1:2] in (["scheduler"], ["celery"]):
    from crm_sync.validation.preload import preload_for_task_processes

    preload_for_task_processes()
