"""Cover images through a running ``feedsvc serve``: feedparser sees Media RSS in Atom and RSS,
JSON Feed ``image`` is absolute, the post page has og:image and the image itself is served."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import feedparser
import httpx
import lxml.html
import pytest

from tests.conftest import EXAMPLES
from tests.e2e.test_serve import Server, running

pytestmark = pytest.mark.e2e

EXAMPLE_COVER = EXAMPLES / "images" / "convolution-cover.png"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with running(tmp_path) as srv:
        yield srv


def test_covers_through_serve(server: Server) -> None:
    (server.posts / "covers").mkdir()
    (server.posts / "covers" / "cover.png").write_bytes(EXAMPLE_COVER.read_bytes())
    (server.posts / "covers" / "covered.md").write_text(
        "---\ntitle: 有封面\ndate: 2026-01-12T09:30:00+08:00\nslug: covered\n"
        "image: cover.png\n---\n\n有封面的文章。\n",
        "utf-8",
    )
    (server.posts / "broken.md").write_text(
        "---\ntitle: 坏封面\nimage: ../../secret.png\n---\n\n正文。\n", "utf-8"
    )
    result = server.run("ingest")
    assert result.returncode != 0  # one item failed: the pass says so, the others publish
    assert (
        "broken.md" in result.stdout + result.stderr and "image:" in result.stdout + result.stderr
    )
    assert "Traceback" not in result.stdout + result.stderr
    cover = server.base + "/media/posts/covers/cover.png"
    for fmt in ("atom", "rss"):
        parsed = feedparser.parse(f"{server.base}/feed.{fmt}")
        assert parsed.status == 200 and not parsed.bozo, parsed.get("bozo_exception")
        media = {e.title: e.get("media_content") for e in parsed.entries}
        assert media == {"有封面": [{"url": cover, "medium": "image"}], "第一篇": None}
    with httpx.Client(timeout=10) as client:
        feed = client.get(server.base + "/feed.json").json()
        images = {item["title"]: item.get("image") for item in feed["items"]}
        assert images == {"有封面": cover, "第一篇": None}
        assert httpx.URL(images["有封面"]).is_absolute_url
        page = client.get(server.base + "/posts/covered")
        assert page.status_code == 200
        metas = lxml.html.fromstring(page.content).xpath("//head/meta[@property='og:image']")
        assert [m.get("content") for m in metas] == [cover]
        image = client.get(cover)
        assert image.status_code == 200
        assert image.headers["content-type"].split(";")[0] == "image/png"
        assert image.content == EXAMPLE_COVER.read_bytes()
