"""What one ingest pass did: counts per outcome and the items that failed, each with a reason."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from feedsvc.config import Config
from feedsvc.kinds import Outcome
from feedsvc.posts.errors import ItemFailed
from feedsvc.posts.model import SourceItem
from feedsvc.posts.store import apply_one
from feedsvc.storage.db import Database

log = logging.getLogger("feedsvc.ingest")


@dataclass(frozen=True)
class ItemError:
    """A per-item failure: names the source, the item and the reason."""

    source: str
    item: str
    reason: str


@dataclass
class IngestReport:
    source: str
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: int = 0
    errors: list[ItemError] = field(default_factory=list)
    duration: float = 0.0

    def count(self, outcome: Outcome) -> None:
        setattr(self, outcome.value, getattr(self, outcome.value) + 1)

    def fail(self, error: ItemError) -> None:
        self.failed += 1
        self.errors.append(error)
        log.warning(
            "ingest item failed",
            extra={"source": error.source, "item": error.item, "reason": error.reason},
        )

    def counts(self) -> dict[str, int]:
        keys = ("new", "updated", "unchanged", "removed", "failed")
        return {k: getattr(self, k) for k in keys}


def apply_reported(
    db: Database, cfg: Config, source: str, item: SourceItem, now: datetime, report: IngestReport
) -> None:
    """Store one item and count its outcome; a failure is that item's error in the report."""
    try:
        report.count(apply_one(db, cfg, source, item, now))
    except ItemFailed as exc:
        report.fail(ItemError(source, item.external_key, str(exc)))
