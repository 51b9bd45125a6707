"""Where marketing activity goes in Salesforce: `include/activity.yaml` (docs/mappings.md, "Activity as Tasks").

The file names the target object (a Task by default, or a custom object), the mode
(`per_event`: one record per activity; `daily_summary`: one per person and day, updated in
place), the external id field the write-back upserts by, the person lookup per linked
object, which Salesforce field carries each part of the content, and constant values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from crm_sync.paths import INCLUDE_DIR
from crm_sync.settings import ActivitySettings

#: What the write-back can put into a field: the `fields:` keys of activity.yaml.
Content = Literal["subject", "date", "occurred_at", "description", "subtype", "kind", "campaign"]
Mode = Literal["per_event", "daily_summary"]
Person = Literal["Contact", "Lead"]
_DEFAULT_WHO: dict[Person, str] = {"Contact": "WhoId", "Lead": "WhoId"}
_DEFAULT_FIELDS: dict[Content, str] = {"subject": "Subject", "date": "ActivityDate", "description": "Description",
                                       "subtype": "TaskSubtype"}


class ActivityConfigError(ValueError):
    """activity.yaml is broken; the message names the file and the key."""


class ActivityConfig(BaseModel):
    """The parsed activity.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    object: str = "Task"
    mode: Mode = "per_event"
    external_id: str = "Marketing_Activity_Id__c"
    who: dict[Person, str] = Field(default_factory=lambda: dict(_DEFAULT_WHO))
    fields: dict[Content, str] = Field(default_factory=lambda: dict(_DEFAULT_FIELDS))
    values: dict[str, str] = Field(default_factory=lambda: {"Status": "Completed"})
    timezone: str = "UTC"

    @field_validator("who")
    @classmethod
    def _some_person(cls, who: dict[Person, str]) -> dict[Person, str]:
        if not who:
            raise ValueError("name the lookup field for Contact and/or Lead")
        return who

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {name!r}") from exc
        return name

    @property
    def zone(self) -> ZoneInfo:
        """The time zone whose calendar days `ActivityDate` and daily summaries use."""
        return ZoneInfo(self.timezone)

    def written_fields(self) -> list[str]:
        """Every Salesforce field a write sends (for the describe check)."""
        return sorted({self.external_id, *self.who.values(), *self.fields.values(), *self.values})


def config_path(settings: ActivitySettings) -> Path:
    """`CRM_ACTIVITY_FILE` or include/activity.yaml."""
    return Path(settings.config_file) if settings.config_file else INCLUDE_DIR / "activity.yaml"


def load_activity_config(path: Path) -> ActivityConfig:
    """Read and check activity.yaml (a missing file means the defaults: Tasks, one per event).

    Raises:
        ActivityConfigError: naming the file and what is wrong.
    """
    if not path.exists():
        return ActivityConfig()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return ActivityConfig.model_validate(raw)
    except (yaml.YAMLError, ValidationError) as exc:
        raise ActivityConfigError(f"{path.name}: {exc}") from exc
