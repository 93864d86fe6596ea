"""Webhook fan-out: one event to N subscriptions on one local receiver, at several concurrencies.

Each run starts from a fresh SQLite file with N webhook subscriptions and one outbox event, then
times one ``process_due`` round (dispatch + signed sends through OutboundClient) until every
delivery has succeeded. The receiver is a threaded HTTP/1.1 server on 127.0.0.1 that waits
``--latency`` before answering 204, like a real endpoint doing a little work. Concurrency 1 is
the baseline; it runs with ``--baseline-cap`` subscriptions and its time is extrapolated.

    python bench/webhook_fanout.py [--subscriptions 1000] [--concurrency 1 16 32]
                                   [--latency 0.02] [--baseline-cap 100]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 30.0


class Receiver(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.count = 0
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def server_bind(self) -> None:  # skip getfqdn(), which can stall without DNS
        super(ThreadingHTTPServer, self).server_bind()
        self.server_name, self.server_port = self.server_address[:2]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Receiver

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        time.sleep(self.server.latency)
        with self.server.lock:
            self.server.count += 1
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def receiver(latency: float) -> Iterator[Receiver]:
    server = Receiver(latency)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def run(subscriptions: int, concurrency: int, url: str, workdir: Path) -> tuple[float, int]:
    """Seconds for one round delivering one event to ``subscriptions`` webhooks; succeeded."""
    from sqlalchemy import func, select

    from feedsvc.clock import SystemClock
    from feedsvc.config import config_from_mapping
    from feedsvc.notify.delivery import process_due
    from feedsvc.signing import generate_secret
    from feedsvc.storage.db import Database
    from feedsvc.storage.events import new_msg_id
    from feedsvc.storage.migrate import upgrade
    from feedsvc.storage.models import Delivery, Event, Webhook

    path = workdir / f"fanout-{subscriptions}-{concurrency}.db"
    cfg = config_from_mapping(
        {
            "storage": {"url": f"sqlite:///{path}"},
            "network": {"allow_private_networks": True},
            "delivery": {"concurrency": concurrency, "timeout": "10s"},
        },
        env={},
    )
    db = Database(cfg.storage.url)
    upgrade(db)
    now = datetime.now(UTC)
    with db.write() as session:
        for i in range(subscriptions):
            session.add(
                Webhook(url=f"{url}/hook/{i}", secret=generate_secret(), created_at=now,
                        events=["post.published"], categories=[], enabled=True, origin="api")
            )  # fmt: skip
        session.add(
            Event(msg_id=new_msg_id(), type="post.published", categories=["python"],
                  payload={"id": "tag:example.org,2026-11-22:bench/1", "title": "基准测试"},
                  created_at=now)
        )  # fmt: skip
    started = time.perf_counter()
    process_due(db, cfg, SystemClock())
    elapsed = time.perf_counter() - started
    with db.read() as session:
        done = session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.status == "succeeded")
        )
    db.dispose()
    return elapsed, int(done or 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 32])
    parser.add_argument("--latency", type=float, default=0.02, help="receiver seconds/request")
    parser.add_argument("--baseline-cap", type=int, default=100)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    rows = []
    with tempfile.TemporaryDirectory() as tmp, receiver(args.latency) as server:
        url = f"http://127.0.0.1:{server.server_port}"
        for conc in args.concurrency:
            n = min(args.subscriptions, args.baseline_cap) if conc == 1 else args.subscriptions
            seconds, done = run(n, conc, url, Path(tmp))
            full = seconds * args.subscriptions / n
            rows.append((args.subscriptions, conc, n, done, full, args.subscriptions / full))
    print(f"receiver latency {args.latency * 1000:g} ms; target: all within {TARGET_SECONDS:g} s")
    print(f"{'subscriptions':>13} {'concurrency':>11} {'measured':>9} {'succeeded':>9} "
          f"{'seconds':>9} {'deliveries/s':>12}")  # fmt: skip
    for subs, conc, n, done, full, rate in rows:
        note = "" if n == subs else f"  (extrapolated from {n})"
        print(f"{subs:>13} {conc:>11} {n:>9} {done:>9} {full:>9.2f} {rate:>12.1f}{note}")
    ok = all(full <= TARGET_SECONDS and done == n for _, c, n, done, full, _ in rows if c > 1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
