"""Mapping files: the schema, the loader and the value maps."""

from crm_sync.mapping.loader import MappingError, load_mapping, load_mappings
from crm_sync.mapping.model import Direction, FieldMap, ObjectMapping

__all__ = ["Direction", "FieldMap", "MappingError", "ObjectMapping", "load_mapping", "load_mappings"]
