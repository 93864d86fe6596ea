"""Cold feed builds at 1k, 20k and 100k posts against feedgen alone on the same entries.

For each size a fresh SQLite file gets the posts through bulk inserts at schema revision 0003
(what an existing database holds), then `db upgrade` runs migration 0005, whose backfill makes
the scope tables. A cold build is ``feeds.service.build_feed`` for page 1 of a scope (the whole
request path's database work and the feed bytes, no cache involved); "feedgen alone" is
``feeds.builder.build`` on the FeedDoc of the same page, built once beforehand. For contrast the
corpus-scanning queries the build used before (COUNT, MAX(updated), OFFSET page) are timed on
the same file, and so is the build as it was before the page was read with Core rows (the posts
as ORM objects with selectin loads of their categories and tags).
Medians of ``--repeat`` runs; compare ratios, not absolute numbers.

    python bench/cold_builds.py [--sizes 1000 20000 100000] [--repeat 30]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BODY = "<p>" + "超多分类的 Softmax 与 attention 的笔记。" * 40 + "</p><pre><code>x = 1</code></pre>"
CATEGORIES = ["python"] + [f"cat-{i}" for i in range(10)]
TAGS = [f"tag-{i}" for i in range(50)]
SCOPES = [(None, None, "site"), ("categories", "cat-3", "category (10%)")]


def populate(path: Path, n: int) -> Any:
    """A database with ``n`` visible posts, written at revision 0003 and then upgraded."""
    sys.path.insert(0, str(ROOT))
    from sqlalchemy import insert

    from feedsvc.storage.db import Database
    from feedsvc.storage.migrate import upgrade
    from feedsvc.storage.models import Category, Post, Tag, post_categories, post_tags

    db = Database(f"sqlite:///{path}")
    upgrade(db, "0003")
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    with db.write() as session:
        session.execute(
            insert(Category),
            [{"id": i + 1, "slug": s, "name": s} for i, s in enumerate(CATEGORIES)],
        )
        session.execute(
            insert(Tag), [{"id": i + 1, "slug": s, "name": s} for i, s in enumerate(TAGS)]
        )
        for start in range(0, n, 5000):
            ids = range(start + 1, min(n, start + 5000) + 1)
            session.execute(insert(Post), [_post(i, t0) for i in ids])
            session.execute(
                insert(post_categories),
                [{"post_id": i, "category_id": c} for i in ids for c in (1, 2 + i % 10)],
            )
            session.execute(insert(post_tags), [{"post_id": i, "tag_id": 1 + i % 50} for i in ids])
    upgrade(db)
    return db


def _post(i: int, t0: datetime) -> dict[str, Any]:
    when = t0 + timedelta(minutes=i)
    return {
        "id": i,
        "guid": f"tag:127.0.0.1,2025-01-01:api/post-{i}",
        "source": "api",
        "external_key": f"post-{i}",
        "slug": f"post-{i}",
        "title": f"第 {i} 篇笔记",
        "author": "bench",
        "author_slug": "bench",
        "content_html": BODY,
        "summary": BODY[3:300],
        "content_hash": f"{i:064d}",
        "published": when,
        "updated": when,
        "first_seen": when,
        "draft": False,
        "removed": False,
        "visible": True,
    }


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm the connection pool and statement caches
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def old_queries(db: Any, kind: str | None, slug: str | None) -> Callable[[], object]:
    """The queries a build ran before the scope tables: COUNT, MAX(updated), an OFFSET page."""
    from sqlalchemy import func, or_, select

    from feedsvc.storage import posts
    from feedsvc.storage.models import Post

    def run() -> object:
        with db.read() as session:
            query = posts.visible_query(kind, slug)
            session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
            session.scalars(query.limit(20).offset(0)).all()
            newest = select(func.max(Post.updated)).where(or_(Post.visible, Post.removed))
            return session.scalar(posts.in_scope(newest, kind, slug))

    return run


def orm_build(db: Any, cfg: Any, key: Any) -> Callable[[], object]:
    """The build as it was before the page was read with Core rows: the page's ids, then the
    posts as ORM objects with two selectin loads (categories, tags), and the scope stats twice."""
    from sqlalchemy import select

    from feedsvc.feeds import builder, service
    from feedsvc.storage import posts, scopes
    from feedsvc.storage.models import Post

    def run() -> object:
        with db.read() as session:
            scope = scopes.scope_of(key.kind, key.slug)
            total = scopes.stats(session, scope).count
            ids = scopes.page_ids(session, scope, 1, cfg.feeds.page_size)
            found = {p.id: p for p in session.scalars(select(Post).where(Post.id.in_(ids)))}
            rows = [posts.page_row(found[i]) for i in ids if i in found]
            last = service.last_page(total, cfg.feeds.page_size)
            doc = service._doc(cfg, key, None, 1, last, [service.feed_item(cfg, p) for p in rows])
            changed = service.last_change(session, key.kind, key.slug)
        body = builder.build(key.fmt, doc)
        return body, max(doc.updated, changed)

    return run


def measure(sizes: list[int], repeat: int) -> list[dict[str, Any]]:
    sys.path.insert(0, str(ROOT))
    from feedsvc.config import config_from_mapping
    from feedsvc.feeds import builder, service

    rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="feedsvc-cold-") as tmp:
            db = populate(Path(tmp) / "bench.db", n)
            cfg = config_from_mapping(
                {
                    "site": {"title": "bench", "base_url": "http://127.0.0.1", "language": "zh-CN"},
                    "storage": {"url": db.url},
                },
                "bench.toml",
                env={},
            )
            for kind, slug, label in SCOPES:
                key = service.FeedKey("atom", kind, slug)
                built = service.build_feed(db, cfg, key, 1)
                assert built is not None and built.body.count(b"<entry>") == 20
                with db.read() as session:
                    page, _ = service.posts.page_of(session, kind, slug, 1, 20)
                    items = [service.feed_item(cfg, p) for p in page]
                doc = service._doc(cfg, key, None, 1, 2, items)
                rows.append(
                    {
                        "posts": n,
                        "scope": label,
                        "cold_build_ms": median_ms(
                            partial(service.build_feed, db, cfg, key, 1), repeat
                        ),
                        "orm_build_ms": median_ms(orm_build(db, cfg, key), repeat),
                        "feedgen_ms": median_ms(partial(builder.build, "atom", doc), repeat),
                        "old_queries_ms": median_ms(old_queries(db, kind, slug), repeat),
                    }
                )
            db.dispose()
    return rows


def table(rows: list[dict[str, Any]]) -> list[str]:
    base = {r["scope"]: r["cold_build_ms"] for r in rows if r["posts"] == rows[0]["posts"]}
    lines = [
        "| posts | scope | cold build ms | feedgen alone ms | build / feedgen | vs smallest | "
        "ORM-loaded build ms | ORM build / feedgen | old queries alone ms |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['posts']:,} | {r['scope']} | {r['cold_build_ms']:.1f} | {r['feedgen_ms']:.1f} | "
            f"{r['cold_build_ms'] / r['feedgen_ms']:.2f}x | "
            f"{r['cold_build_ms'] / base[r['scope']]:.2f}x | {r['orm_build_ms']:.1f} | "
            f"{r['orm_build_ms'] / r['feedgen_ms']:.2f}x | {r['old_queries_ms']:.1f} |"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 20_000, 100_000])
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    print("\n".join(table(measure(args.sizes, args.repeat))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
