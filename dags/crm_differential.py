"""Differential sync DAGs: one `crm_differential_<object>` per mapping file in include/mappings/.

Adding a mapping file adds its DAG; a broken mapping file shows here as an import error
that names the file and the field.
"""

from crm_sync.dag_factory import differential_dags

globals().update(differential_dags())
