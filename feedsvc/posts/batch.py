"""Many items of one source stored in one transaction, each in a savepoint of its own.

An ingest pass writes its items in batches: one transaction per batch (it commits wholly or not
at all, so a killed pass loses nothing it had committed and redoes the rest), one select for the
batch's stored posts (row locks, in key order), one select and at most one insert per kind of
term, and the scope values and the change signal written once per batch. Each item runs in a
SAVEPOINT: one bad item (a taken slug, a bad field, a database error on its row) is rolled back
to its savepoint and reported with its reason, and the others of the batch are stored. Every
rule of ``apply_item`` holds: the row lock, the slug rule, the unchanged-hash refresh, the outbox
event and change signal in the post's transaction, the retry when a concurrent pass stored the
same new item first.

SQLite: storage/db.py turns pysqlite's own transaction handling off (``isolation_level=None``,
SQLAlchemy emits ``BEGIN IMMEDIATE``), which is what makes SAVEPOINT / ROLLBACK TO work.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from feedsvc.config import Config
from feedsvc.kinds import Outcome
from feedsvc.posts.errors import ItemFailed
from feedsvc.posts.model import SourceItem
from feedsvc.posts.store import apply_found, apply_one, item_failure
from feedsvc.storage import content_state, posts, scopes
from feedsvc.storage.db import Database
from feedsvc.storage.models import Post

log = logging.getLogger("feedsvc.posts")

BATCH_SIZE = 100  # items per transaction: SQLite's write lock is held about 0.1 s per batch

Result = Outcome | ItemFailed


def apply_batch(
    db: Database, cfg: Config, source: str, items: Sequence[SourceItem], now: datetime
) -> list[Result]:
    """Store ``items`` in one transaction; one result per item, in order (never raises).

    When the batch as a whole cannot be committed (the disk is full, the connection is lost)
    nothing of it is stored, and each item is tried again alone so that each gets its reason.
    """
    if not items:
        return []
    try:
        try:
            return _in_transaction(db, cfg, source, items, now)
        except IntegrityError:  # a concurrent batch created a scope row first: once more
            return _in_transaction(db, cfg, source, items, now)
    except Exception:
        log.warning("batch not stored; its items are stored one by one", exc_info=True)
        return [_alone(db, cfg, source, item, now) for item in items]


def _alone(db: Database, cfg: Config, source: str, item: SourceItem, now: datetime) -> Result:
    try:
        return apply_one(db, cfg, source, item, now)
    except ItemFailed as exc:
        return exc


def _in_transaction(
    db: Database, cfg: Config, source: str, items: Sequence[SourceItem], now: datetime
) -> list[Result]:
    pending = scopes.Pending()
    with db.write() as session:
        stored = posts.get_by_keys(session, source, (i.external_key for i in items), lock=True)
        terms = posts.Terms(
            session,
            (name for item in items for name in item.categories),
            (name for item in items for name in item.tags),
        )
        results = [
            _isolated(
                session, cfg, source, item, now, stored.get(item.external_key), pending, terms
            )
            for item in items
        ]
        if any(isinstance(result, ItemFailed) for result in results):
            terms.drop_unused(session)
        if pending.delta:
            pending.write(session)
            content_state.bump(session)
    return results


def _isolated(
    session: Session,
    cfg: Config,
    source: str,
    item: SourceItem,
    now: datetime,
    post: Post | None,
    pending: scopes.Pending,
    terms: posts.Terms,
) -> Result:
    """One item in a savepoint; its scope changes join the batch's only when it is stored."""
    for attempt in (1, 2):
        mine = scopes.Pending()
        try:
            with session.begin_nested():
                outcome = apply_found(
                    session, cfg, source, item, now, post, pending=mine, terms=terms
                )
        except IntegrityError as exc:
            if attempt == 2:
                return item_failure(exc, source, item.external_key)
            # a concurrent pass stored this new item first (PostgreSQL): again over its row
            post = posts.get_by_key(session, source, item.external_key, lock=True)
            continue
        except OperationalError:
            # not this item's fault (the disk is full, the connection is lost, SQLite rolled the
            # whole transaction back and the savepoint with it): the batch is given up
            raise
        except Exception as exc:
            return item_failure(exc, source, item.external_key)
        pending.merge(mine)
        return outcome
    raise AssertionError("unreachable")
