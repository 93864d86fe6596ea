"""A feedsvc site for fault tests: a config on a given database, a webhook receiver, real
``feedsvc`` processes (``ingest``, ``serve``) started and killed, and the database read back."""

from __future__ import annotations

import base64
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select
from standardwebhooks.webhooks import Webhook as Verifier

from feedsvc.storage.db import Database
from feedsvc.storage.models import Delivery, Event, Post
from tests.e2e.test_serve import alive, children, clean_env, feedsvc_command, free_port
from tests.httpserver import RecordedRequest

T = TypeVar("T")
SECRET = "whsec_" + base64.b64encode(b"feedsvc fault tests webhook key").decode("ascii")
WAIT = 90.0  # a claim left by a killed sender expires after 4 x timeout + 30 s
SHORT_RETRIES = '["200ms", "500ms", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s"]'


@dataclass
class Site:
    root: Path
    storage_url: str
    port: int
    posts: Path = field(init=False)
    config: Path = field(init=False)
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.posts = self.root / "posts"
        self.posts.mkdir(exist_ok=True)
        self.config = self.root / "feedsvc.toml"
        self.log = self.root / "feedsvc.log"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write_config(self, hook_url: str, *, retries: str = SHORT_RETRIES, extra: str = "") -> None:
        self.config.write_text(
            f'[site]\ntitle = "faults"\nbase_url = "{self.base}"\nlanguage = "en"\n'
            f'[storage]\nurl = "{self.storage_url}"\n'
            f'[server]\nhost = "127.0.0.1"\nport = {self.port}\nworkers = 2\n'
            "[network]\nallow_private_networks = true\n"  # the receiver listens on 127.0.0.1
            f'[delivery]\npoll_interval = "100ms"\ntimeout = "2s"\nretry_schedule = {retries}\n'
            f'[[webhooks]]\nurl = "{hook_url}"\nsecret = "{SECRET}"\n'
            'events = ["post.published", "post.updated", "post.deleted"]\n'
            '[[sources]]\nname = "posts"\nkind = "markdown"\npath = "posts"\ninterval = "2s"\n'
            + extra,
            encoding="utf-8",
        )

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as out:
            out.write(f"\n==== feedsvc {' '.join(args)}\n".encode())
            out.flush()
            return subprocess.Popen(
                [*feedsvc_command(), "--config", str(self.config), *args],
                cwd=self.root,
                env=clean_env(),
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*feedsvc_command(), "--config", str(self.config), *args],
            cwd=self.root,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def database(self) -> Database:
        return Database(self.storage_url)


def new_site(tmp_path: Path, storage_url: str) -> Site:
    return Site(tmp_path, storage_url, free_port())


def kill_tree(proc: subprocess.Popen[bytes]) -> set[int]:
    """SIGKILL ``proc`` alone (its children must end by themselves); returns those children."""
    descendants = children(proc.pid)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    return descendants


def wait_for(what: str, found: Callable[[], T | None], timeout: float = WAIT) -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = found()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f}s")
        time.sleep(0.1)


def wait_gone(pids: set[int], what: str) -> None:
    left = wait_for(what, lambda: None if any(alive(p) for p in pids) else set(), timeout=30)
    assert not left


@dataclass(frozen=True)
class Message:
    msg_id: str
    type: str
    data: dict[str, Any]
    raw: bytes


def messages(requests: list[RecordedRequest]) -> list[Message]:
    """Every webhook request, its signature checked with ``standardwebhooks``."""
    verifier = Verifier(SECRET)
    found = []
    for req in requests:
        headers = {k.lower(): v for k, v in req.headers.items()}
        body = verifier.verify(req.body, headers)
        assert isinstance(body, dict)
        found.append(Message(headers["webhook-id"], body["type"], body["data"], req.body))
    return found


def read_state(db: Database) -> tuple[list[Post], list[Event], list[Delivery]]:
    with db.read() as session:
        posts = list(session.scalars(select(Post).order_by(Post.id)))
        events = list(session.scalars(select(Event).order_by(Event.id)))
        deliveries = list(session.scalars(select(Delivery).order_by(Delivery.id)))
        session.expunge_all()
    return posts, events, deliveries


def settled(db: Database) -> tuple[list[Post], list[Event], list[Delivery]] | None:
    """The state once every event is dispatched and every delivery has ended."""
    posts, events, deliveries = read_state(db)
    if any(e.dispatched_at is None for e in events) or len(deliveries) < len(events):
        return None
    if any(d.status == "pending" for d in deliveries):
        return None
    return posts, events, deliveries
