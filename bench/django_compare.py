"""feedsvc against Django's syndication framework on the same posts, under the same server.

One SQLite file (bench/cold_builds.py ``populate``) is served by `feedsvc serve` (granian, 2
workers) and by bench/django_app.py: a ``django.contrib.syndication`` Feed with Atom1Feed, 20
entries with full HTML content, reading feedsvc's tables through unmanaged models, behind
``ConditionalGetMiddleware``, under granian with the flags `feedsvc serve` gives it (WSGI, 2
workers, 5 blocking threads, backpressure 5). wrk measures ``/feed.atom`` 200s (no validators)
and 304s (If-None-Match with the ETag each server gave), side by side in one run.

    python bench/django_compare.py [--posts 20000] [--duration 10] [--connections 32]

Needs `wrk` and Django (``pip install -e '.[bench]'``); skips with a message without them.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

from bench import cold_builds  # noqa: E402
from bench.crawl import write_config  # noqa: E402
from bench.feed_throughput import check_status, fetch, free_port, running, wrk  # noqa: E402


def missing() -> str | None:
    """Why this comparison cannot run here, or None."""
    if shutil.which("wrk") is None:
        return "wrk is not installed (apt-get install wrk)"
    if importlib.util.find_spec("django") is None:
        return "Django is not installed (pip install -e '.[bench]')"
    return None


def granian_threads() -> int:
    """The blocking threads (and backpressure) `feedsvc serve` gives granian by default."""
    return 2 * (os.cpu_count() or 1) + 1


def servers(work: Path, db_path: Path) -> dict[str, tuple[list[str], dict[str, str], str]]:
    """name -> (command, environment, URL of the feed) for each server compared."""
    env = dict(os.environ)
    port = free_port()
    config = write_config(work / "feedsvc.toml", f"sqlite:///{db_path}", port)
    feedsvc = [str(BIN / "feedsvc"), "--config", str(config), "serve", "--port", str(port)]
    dport = free_port()
    threads = str(granian_threads())
    django = [str(BIN / "granian"), "--interface", "wsgi", "--workers", "2"]
    django += ["--blocking-threads", threads, "--backpressure", threads, "--no-ws"]
    django += ["--host", "127.0.0.1", "--port", str(dport), "bench.django_app:application"]
    denv = {**env, "DJANGO_FEED_DB": str(db_path), "DJANGO_FEED_BASE": f"http://127.0.0.1:{dport}"}
    return {
        "feedsvc serve (granian x2)": (feedsvc, env, f"http://127.0.0.1:{port}/feed.atom"),
        "Django syndication (granian x2)": (django, denv, f"http://127.0.0.1:{dport}/feed.atom"),
    }


def measure(posts: int, duration: int, connections: int) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="feedsvc-django-") as tmp:
        work = Path(tmp)
        cold_builds.populate(work / "bench.db", posts).dispose()
        for name, (cmd, env, url) in servers(work, work / "bench.db").items():
            with running(cmd, env, url):
                body, etag, _ = fetch(url)
                if body.count(b"<entry>") != 20 or etag is None:
                    raise RuntimeError(f"bench: {name} did not answer 20 entries and an ETag")
                check_status(url, etag, 304)
                for status, tag in (("200", None), ("304", etag)):
                    rows.append(
                        {
                            "posts": posts,
                            "server": name,
                            "status": status,
                            "bytes": len(body),
                            "requests_per_s": wrk(url, duration, connections, tag),
                        }
                    )
    return rows


def table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| posts | status | server | body bytes | req/s | feedsvc / Django |",
        "| ---: | --- | --- | ---: | ---: | ---: |",
    ]
    for status in ("200", "304"):
        group = [r for r in rows if r["status"] == status]
        django = next(r["requests_per_s"] for r in group if r["server"].startswith("Django"))
        for r in group:
            ratio = ""
            if r["server"].startswith("feedsvc"):  # Django may finish nothing in the run
                ratio = f"{r['requests_per_s'] / django:.1f}x" if django else "Django: 0 req/s"
            lines.append(
                f"| {r['posts']:,} | {status} | {r['server']} | {r['bytes']:,} | "
                f"{r['requests_per_s']:,.0f} | {ratio} |"
            )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=20_000)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    reason = missing()
    if reason:
        print(f"bench: {reason}: skipped", file=sys.stderr)
        return 2
    print(
        f"# feedsvc against Django syndication, {datetime.now(UTC):%Y-%m-%d}, "
        f"wrk -t2 -c{args.connections} -d{args.duration}s on loopback"
    )
    print("\n".join(table(measure(args.posts, args.duration, args.connections))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
