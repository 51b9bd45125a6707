"""Load and validate mapping files and their value maps."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from crm_sync.mapping.model import ObjectMapping


class MappingError(ValueError):
    """A mapping file or value map is broken; the message names the file and the field."""


@dataclass(frozen=True)
class ValueMap:
    """A two-column value map: Salesforce value <-> marketing value."""

    name: str
    pairs: tuple[tuple[str, str], ...]

    @property
    def crm_values(self) -> list[str]:
        """The Salesforce-side values, in file order."""
        return [crm for crm, _ in self.pairs]


@dataclass(frozen=True)
class MappingSet:
    """All mappings of a mappings directory, validated together."""

    directory: Path
    objects: tuple[ObjectMapping, ...]
    value_maps: dict[str, ValueMap]

    def get(self, object_name: str) -> ObjectMapping:
        """The mapping of one Salesforce object (case-insensitive)."""
        for mapping in self.objects:
            if mapping.object.lower() == object_name.lower():
                return mapping
        raise KeyError(f"no mapping for object {object_name!r} in {self.directory}")


def _format_validation_error(path: Path, raw: dict, error: ValidationError) -> str:
    lines = []
    for problem in error.errors():
        loc = list(problem["loc"])
        where = []
        # Name the field by its `source` rather than its list index when we can.
        if len(loc) >= 2 and loc[0] == "fields" and isinstance(loc[1], int):
            fields = raw.get("fields") or []
            entry = fields[loc[1]] if loc[1] < len(fields) else {}
            source = entry.get("source") if isinstance(entry, dict) else None
            where.append(f"field {source or '#' + str(loc[1] + 1)}")
            loc = loc[2:]
        where.extend(str(part) for part in loc)
        message = problem["msg"].removeprefix("Value error, ")
        lines.append(f"{' > '.join(where)}: {message}" if where else message)
    return f"{path}: " + "; ".join(lines)


def load_mapping(path: Path) -> ObjectMapping:
    """Load one mapping file.

    Raises:
        MappingError: with the file path and the offending field in the message.
    """
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise MappingError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise MappingError(f"{path}: expected a mapping with keys object, target, fields")
    try:
        return ObjectMapping.model_validate(raw)
    except ValidationError as exc:
        raise MappingError(_format_validation_error(path, raw, exc)) from exc


def load_value_map(path: Path) -> ValueMap:
    """Load a value map CSV with the header `crm_value,marketing_value`.

    Raises:
        MappingError: on a bad header, a short row or a Salesforce value listed twice.
    """
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    if not rows or [c.strip() for c in rows[0]] != ["crm_value", "marketing_value"]:
        raise MappingError(f"{path}: the first line must be 'crm_value,marketing_value'")
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    for line_no, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != 2:
            raise MappingError(f"{path}:{line_no}: expected 2 columns, found {len(row)}")
        crm, marketing = row[0].strip(), row[1].strip()
        if crm in seen:
            raise MappingError(f"{path}:{line_no}: Salesforce value {crm!r} listed twice")
        seen.add(crm)
        pairs.append((crm, marketing))
    return ValueMap(name=path.stem, pairs=tuple(pairs))


def load_mappings(directory: Path) -> MappingSet:
    """Load every `*.yaml` mapping in `directory` and the value maps they use.

    Raises:
        MappingError: for the first broken file, a value map that is missing, two files
            mapping the same object, or both the Lead and the Contact mapping creating people.
    """
    if not directory.is_dir():
        raise MappingError(f"{directory}: mappings directory not found")
    mappings: list[ObjectMapping] = []
    by_object: dict[str, Path] = {}
    for path in sorted(directory.glob("*.y*ml")):
        mapping = load_mapping(path)
        key = mapping.object.lower()
        if key in by_object:
            raise MappingError(f"{path}: object {mapping.object} is already mapped in {by_object[key]}")
        by_object[key] = path
        mappings.append(mapping)
    creators = [m for m in mappings if m.is_people and m.writeback.create]
    if len(creators) > 1:
        raise MappingError(f"{directory}: {' and '.join(m.file_name for m in creators)} both set writeback.create; "
                           "exactly one of the Lead and Contact mappings may create people")
    value_maps: dict[str, ValueMap] = {}
    for mapping in mappings:
        for name in mapping.value_map_names:
            if name in value_maps:
                continue
            csv_path = directory / "values" / f"{name}.csv"
            if not csv_path.is_file():
                source = next(f.source for f in mapping.fields if f.values == name)
                raise MappingError(
                    f"{by_object[mapping.object.lower()]}: field {source}: value map {name!r} "
                    f"not found (expected {csv_path})"
                )
            value_maps[name] = load_value_map(csv_path)
    return MappingSet(directory=directory, objects=tuple(sorted(mappings, key=lambda m: m.object)),
                      value_maps=value_maps)
