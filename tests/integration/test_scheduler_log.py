"""The scheduler's log says what matters: an overlapping tick that is skipped is not a warning."""

from __future__ import annotations

import logging

from feedsvc.scheduler import build_scheduler


def test_skipped_overlapping_runs_are_not_logged_but_other_warnings_are(db, cfg, caplog):
    build_scheduler(db, cfg)
    build_scheduler(db, cfg)  # building twice installs the filter once
    aps = logging.getLogger("apscheduler.scheduler")
    assert len(aps.filters) == 1
    with caplog.at_level(logging.WARNING, logger="apscheduler.scheduler"):
        aps.warning(
            'Execution of job "%s" skipped: maximum number of running instances reached (%d)',
            "delivery_round",
            1,
        )
        aps.warning("Run time of job %s was missed by %s", "source:x", "0:00:03")
    assert [r.getMessage() for r in caplog.records] == [
        "Run time of job source:x was missed by 0:00:03"
    ]
