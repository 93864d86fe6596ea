"""A crawl of every feed and list URL of a 100k-post site, cold and after one change.

`feedsvc serve` (2 workers, granian) on an SQLite file made as in bench/cold_builds.py; the
crawler asks for page 1 of every scope (site, 11 categories, 50 tags, 1 author) in Atom, RSS,
JSON Feed and HTML, one request at a time. Builds are counted as the renditions stored in the
database during a crawl (one per URL built; a sequential crawl has no racing builds). Then one
post is changed through the post service, and the crawl is repeated.

    python bench/crawl.py [--posts 100000]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

from bench import cold_builds  # noqa: E402
from bench.feed_throughput import free_port, running  # noqa: E402


def crawl_urls() -> list[str]:
    scopes = [""] + [f"/categories/{c}" for c in cold_builds.CATEGORIES]
    scopes += [f"/tags/{t}" for t in cold_builds.TAGS] + ["/authors/bench"]
    return [f"{s}/feed.{fmt}" for s in scopes for fmt in ("atom", "rss", "json")] + [
        f"{s}/" for s in scopes
    ]


def write_config(path: Path, url: str, port: int) -> Path:
    """A `feedsvc serve` config (2 workers, no sources) for the database at ``url``."""
    path.write_text(
        "sources = []\n"
        f'[site]\ntitle = "bench"\nbase_url = "http://127.0.0.1:{port}"\n'
        f'[storage]\nurl = "{url}"\n[server]\nworkers = 2\n',
        encoding="utf-8",
    )
    return path


def _status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def worker_memory(serve_pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (MB) of the largest granian worker of a `feedsvc serve`: its children
    other than the scheduler."""
    workers = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        if ppid == serve_pid and b"scheduler" not in cmdline:
            workers.append(int(stat.parent.name))
    if not workers:
        raise RuntimeError(f"bench: no workers under serve pid {serve_pid}")
    return {
        "workers": len(workers),
        "rss_mb": max(_status_kb(pid, "VmRSS") for pid in workers) / 1024,
        "hwm_mb": max(_status_kb(pid, "VmHWM") for pid in workers) / 1024,
    }


def stored(db: Any) -> int:
    from sqlalchemy import func, select

    from feedsvc.storage.models import Rendition

    with db.read() as session:
        query = select(func.count()).where(Rendition.encoding == "identity")
        return int(session.scalar(query.select_from(Rendition)) or 0)


def crawl(base: str, urls: list[str]) -> float:
    import httpx

    with httpx.Client(base_url=base, timeout=30) as client:
        start = time.perf_counter()
        for url in urls:
            resp = client.get(url, headers={"Accept-Encoding": "gzip"})
            if resp.status_code != 200:
                raise RuntimeError(f"bench: {url} answered {resp.status_code}")
        return len(urls) / (time.perf_counter() - start)


def change_one(db: Any, cfg: Any) -> None:
    """Edit post 4242 (categories python and cat-2, tag tag-42, author bench)."""
    from feedsvc.posts.model import SourceItem
    from feedsvc.posts.store import apply_one

    item = SourceItem(
        external_key="post-4242",
        title="第 4242 篇笔记（改）",
        content_html=cold_builds.BODY,
        content_hash=hashlib.sha256(b"changed").hexdigest(),
        slug="post-4242",
        published=datetime(2025, 1, 1, tzinfo=UTC),
        categories=("python", "cat-2"),
        tags=("tag-42",),
        author="bench",
    )
    apply_one(db, cfg, "api", item, datetime.now(UTC))


def measure(posts: int) -> list[dict[str, Any]]:
    from feedsvc.config import load_config

    urls = crawl_urls()
    rows = []
    with tempfile.TemporaryDirectory(prefix="feedsvc-crawl-") as tmp:
        work = Path(tmp)
        db = cold_builds.populate(work / "crawl.db", posts)
        port = free_port()
        config = write_config(work / "feedsvc.toml", db.url, port)
        cfg = load_config(config)
        serve = [str(BIN / "feedsvc"), "--config", str(config), "serve", "--port", str(port)]
        base = f"http://127.0.0.1:{port}"
        with running(serve, {"PATH": str(BIN)}, base + "/healthz"):
            for label, before in (("cold (empty store)", None), ("after one change", True)):
                if before:
                    change_one(db, cfg)
                    time.sleep(1.0)  # the workers see the change within 0.25 s
                count = stored(db)
                rate = crawl(base, urls)
                rows.append(
                    {
                        "posts": posts,
                        "crawl": label,
                        "urls": len(urls),
                        "builds": stored(db) - count,
                        "requests_per_s": rate,
                    }
                )
        db.dispose()
    return rows


def table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| posts | crawl | URLs | builds | requests/s |",
        "| ---: | --- | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['posts']:,} | {r['crawl']} | {r['urls']} | {r['builds']} | "
            f"{r['requests_per_s']:,.0f} |"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=100_000)
    args = parser.parse_args()
    print("\n".join(table(measure(args.posts))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
