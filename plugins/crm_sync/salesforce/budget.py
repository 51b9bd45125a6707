"""The API budget of one run: the share of the org's remaining daily API calls it may use.

Salesforce reports the org's usage on every response (`Sforce-Limit-Info: api-usage=U/M`).
The first report a run sees fixes its allowance; before each call the gateway asks the
budget whether one more call still fits, and a run that would pass it stops early and
cleanly, keeping its place (its watermark, its queue, its Bulk locators) for the next run.
"""

from __future__ import annotations

import logging
import math

log = logging.getLogger(__name__)


class BudgetExhausted(RuntimeError):
    """The run stopped early: its next Salesforce call would pass its API budget."""


class ApiBudget:
    """The share of the org's remaining daily API calls a run may use.

    The allowance is fixed from the first `Sforce-Limit-Info` the run sees:
    `share × (max − used + calls this run made before)`; `allows(spent, cost)` says whether
    `cost` more calls stay within it.
    """

    def __init__(self, share: float) -> None:
        self.share = share
        self.allowance: int | None = None
        self.remaining_at_start: int | None = None
        self.stopped: str | None = None

    def start(self, used: int | None, maximum: int | None, calls_so_far: int) -> None:
        """Fix the allowance from the org's usage (no-op when already fixed or unknown)."""
        if self.allowance is not None or used is None or maximum is None:
            return
        self.remaining_at_start = max(maximum - used + calls_so_far, 0)
        self.allowance = math.floor(self.share * self.remaining_at_start)
        log.info("API budget: %d call(s) (%.0f%% of %d remaining today)", self.allowance, 100 * self.share,
                 self.remaining_at_start)

    def allows(self, spent: int, cost: int) -> bool:
        """True when `cost` more calls keep the run within its allowance."""
        return self.allowance is None or spent + cost <= self.allowance

    def stop(self, spent: int, cost: int, what: str) -> str:
        """Record (and return) why the run stopped early."""
        if self.stopped is None:
            self.stopped = (f"stopped early to stay within the API budget: {what} needs about {cost} call(s), "
                            f"{spent} of the allowed {self.allowance} used ({100 * self.share:.0f}% of the "
                            f"{self.remaining_at_start} calls remaining today); the next run carries on from here")
            log.warning("%s", self.stopped)
        return self.stopped
