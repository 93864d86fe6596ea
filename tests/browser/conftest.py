"""Headless Chromium (Debian's /usr/bin/chromium, driven by Playwright) against `feedsvc serve`.

Tests here skip, saying why, when Playwright is not installed or Chromium cannot start; no browser
is ever downloaded. Screenshots go to tests/output/<test name>/ (git ignores the folder).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_serve import Server, running

pytestmark = pytest.mark.e2e

CHROMIUM = os.environ.get("FEEDSVC_TEST_CHROMIUM", "/usr/bin/chromium")
OUTPUT = Path(__file__).resolve().parents[1] / "output"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One Chromium for the session; skips the test when it cannot run here."""
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[test]')")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    driver = sync_playwright().start()
    try:
        # Debian's build, never a downloaded one; as root Chromium needs --no-sandbox
        chromium = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
    except Error as exc:
        driver.stop()
        pytest.skip(f"Chromium at {CHROMIUM} cannot start: {str(exc).splitlines()[0]}")
    try:
        yield chromium
    finally:
        chromium.close()
        driver.stop()


@pytest.fixture
def open_page(browser: Any) -> Iterator[Callable[..., Any]]:
    """``open_page(url, color_scheme="light")``: a fresh page that has loaded ``url``."""
    contexts: list[Any] = []

    def open_(url: str, color_scheme: str = "light") -> Any:
        context = browser.new_context(color_scheme=color_scheme)
        contexts.append(context)
        page = context.new_page()
        response = page.goto(url, wait_until="load")
        assert response is not None and response.ok, f"{url}: {response and response.status}"
        return page

    yield open_
    for context in contexts:
        context.close()


@pytest.fixture
def output_dir(request: pytest.FixtureRequest) -> Path:
    """tests/output/<test name>/, for screenshots a person can look at after the run."""
    folder = OUTPUT / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """``site(posts, site_config)``: a running ``feedsvc serve`` with these posts ingested."""
    stack: list[Any] = []

    def start(posts: dict[str, str], site_config: str = 'language = "zh-CN"\n') -> Server:
        manager = running(tmp_path, site=site_config)
        server = manager.__enter__()
        stack.append(manager)
        for name, text in posts.items():
            (server.posts / name).write_text(text, "utf-8")
        result = server.run("ingest")
        assert result.returncode == 0, result.stdout + result.stderr
        return server

    yield start
    for manager in reversed(stack):
        manager.__exit__(None, None, None)
