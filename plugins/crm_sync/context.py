"""The run context: settings, mappings and connections, built once per task and handed to each step."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from crm_sync.db import connect, sqlalchemy_url
from crm_sync.mapping.loader import MappingSet, load_mappings
from crm_sync.mapping.model import ObjectMapping
from crm_sync.paths import mappings_dir
from crm_sync.salesforce import ApiBudget, RetryPolicy, SalesforceGateway
from crm_sync.settings import Settings, WritebackSettings, load_settings, load_writeback_settings


@dataclass(frozen=True)
class RunContext:
    """What every step of every run needs: read from the environment and the mapping files once."""

    settings: Settings
    writeback: WritebackSettings
    mappings: MappingSet

    @classmethod
    def load(cls) -> RunContext:
        """Read the settings and the mapping files.

        Raises:
            SettingsError: a setting is invalid (the variable is named).
            MappingError: a mapping file is invalid (the file and field are named).
        """
        return cls(load_settings(), load_writeback_settings(), load_mappings(mappings_dir()))

    def mapping(self, object_name: str) -> ObjectMapping:
        """The mapping of one object (case-insensitive)."""
        return self.mappings.get(object_name)

    def warehouse(self) -> psycopg.Connection:
        """A new connection to the warehouse."""
        return connect(self.settings.warehouse_conn_id)

    def marketing(self) -> psycopg.Connection:
        """A new connection to the marketing database."""
        return connect(self.settings.marketing_conn_id)

    def warehouse_url(self) -> str:
        """The warehouse as a SQLAlchemy URL (for Great Expectations)."""
        return sqlalchemy_url(self.settings.warehouse_conn_id)

    def salesforce(self, *, budget: ApiBudget | None = None) -> SalesforceGateway:
        """A gateway to the org with the run's retry policy and API budget.

        Args:
            budget: the run's API budget (default: `CRM_SYNC_API_BUDGET_SHARE` of the calls
                remaining today).
        """
        return SalesforceGateway(
            self.settings.salesforce_conn_id,
            retry=RetryPolicy(self.settings.api_max_attempts, self.settings.api_retry_seconds),
            budget=budget or ApiBudget(self.settings.api_budget_share))
