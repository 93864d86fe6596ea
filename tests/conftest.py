"""Shared fixtures: a fresh SQLite file per test, fixed clocks, a test config."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from feedsvc.clock import FixedClock
from feedsvc.config import Config, config_from_mapping
from feedsvc.storage.db import Database
from feedsvc.storage.migrate import upgrade

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
EXAMPLES = Path(__file__).resolve().parent.parent / "feedsvc" / "examples" / "posts"


def make_config(tmp_path: Path, **sections: Any) -> Config:
    """A validated Config on a fresh SQLite file in tmp_path; sections override defaults."""
    data: dict[str, Any] = {
        "site": {"title": "测试站点", "base_url": "https://example.org", "language": "zh-CN"},
        "storage": {"url": f"sqlite:///{tmp_path / 'feedsvc.db'}"},
        "sources": [{"name": "posts", "kind": "markdown", "path": str(tmp_path / "posts")}],
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return config_from_mapping(data, "test.toml", env={})


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def posts_dir(tmp_path: Path) -> Path:
    path = tmp_path / "posts"
    path.mkdir()
    return path


@pytest.fixture
def cfg(tmp_path: Path, posts_dir: Path) -> Config:
    return make_config(tmp_path)


@pytest.fixture
def db(cfg: Config) -> Iterator[Database]:
    database = Database(cfg.storage.url)
    upgrade(database)
    yield database
    database.dispose()


@pytest.fixture
def pg_url() -> str:
    url = os.environ.get("FEEDSVC_TEST_DATABASE_URL")
    if not url:
        pytest.skip("FEEDSVC_TEST_DATABASE_URL is not set: PostgreSQL tests need a server")
    return url


@pytest.fixture
def pg_schema_url(pg_url: str) -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    import uuid

    from sqlalchemy import create_engine, text

    from feedsvc.storage.db import normalize_url

    schema = "t_" + uuid.uuid4().hex[:12]
    admin = create_engine(normalize_url(pg_url))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in pg_url else "?"
    yield f"{pg_url}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def app(cfg: Config, clock: FixedClock) -> Iterator[Any]:
    """The Flask app on the test config (its own engine; disposed afterwards)."""
    from feedsvc.app import create_app
    from feedsvc.web.state import state

    application = create_app(cfg, clock=clock)
    application.config["TESTING"] = True
    yield application
    state(application).db.dispose()


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


ADMIN_TOKEN = "s3cret-token"
ADMIN_MAX_BODY = 20_000


@pytest.fixture
def api_app(tmp_path: Path, posts_dir: Path, clock: FixedClock) -> Iterator[Any]:
    """An app with the admin API on (bearer ADMIN_TOKEN), a small body limit, the fixed clock."""
    from feedsvc.app import create_app
    from feedsvc.web.state import state

    admin = {"token": ADMIN_TOKEN, "max_body_bytes": ADMIN_MAX_BODY}
    app = create_app(make_config(tmp_path, admin=admin), clock=clock)
    app.testing = True
    yield app
    state(app).db.dispose()


@pytest.fixture
def api_client(api_app: Any) -> Any:
    return api_app.test_client()


@pytest.fixture
def add_post(db: Database, cfg: Config, clock: FixedClock) -> Any:
    """Store a post through the real ingest service; returns its snapshot (a dict)."""
    import hashlib

    from feedsvc.posts.model import SourceItem
    from feedsvc.posts.store import apply_one
    from feedsvc.storage import posts

    def add(key: str, title: str, **fields: Any) -> dict[str, Any]:
        fields.setdefault("content_html", f"<p>{title} 的正文。</p>")
        fields.setdefault("slug", key.rsplit(".", 1)[0])
        digest = hashlib.sha256(repr((key, title, sorted(fields.items()))).encode()).hexdigest()
        item = SourceItem(external_key=key, title=title, content_hash=digest, **fields)
        apply_one(db, cfg, "posts", item, clock.now())
        with db.read() as session:
            post = posts.get_by_key(session, "posts", key)
            assert post is not None
            return posts.snapshot(post, cfg.site.base_url)

    return add
