"""Airflow differential sync DAGs: one `crm_differential_<object>` per mapping file in
include/mappings/.

Adding a mapping file adds its DAG; a broken mapping file shows in the Airflow UI as an
import error that names the file and the field. (The word "airflow" in this docstring
also keeps Airflow's safe-mode DAG discovery reading this file.)
"""

from crm_sync.dag_factory import differential_dags

globals().update(differential_dags())
