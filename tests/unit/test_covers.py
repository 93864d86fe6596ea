"""Cover images: resolving front matter ``image:``, finding an upstream entry's image, and the
cover in feed bytes (Media RSS in Atom and RSS, JSON Feed ``image``), parsed by real clients."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from urllib.parse import unquote

import feedparser
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from feedsvc import urls
from feedsvc.feeds import builder
from feedsvc.feeds.model import FeedDoc
from feedsvc.sources.assets import BadCover, cover_url
from feedsvc.sources.upstream_media import feedparser_image, json_image
from tests.unit.test_builder import make_doc, make_item

BASE = "https://example.org"
MEDIA_NS = "http://search.yahoo.com/mrss/"
ATOM_NS = "http://www.w3.org/2005/Atom"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    src = tmp_path / "posts"
    for name in ("notes/cover.png", "notes/img/a b.jpg", "shared.webp", "notes/.hidden.png"):
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(PNG)
    (src / "notes/post.md").write_text("# x\n", "utf-8")
    (src / "notes/readme.txt").write_text("x", "utf-8")
    (src / "notes/fake.png").mkdir()  # a directory, not a file
    (tmp_path / "outside.png").write_bytes(PNG)
    (src / "notes/link.png").symlink_to(tmp_path / "outside.png")
    (src / "notes/inside-link.png").symlink_to(src / "shared.webp")
    return src


def resolve(root: Path, value: str, post_dir: str = "notes") -> str:
    return cover_url(value, root=str(root), post_dir=post_dir, source="posts", base_url=BASE)


@pytest.mark.parametrize(
    ("value", "post_dir", "expected"),
    [
        ("cover.png", "notes", f"{BASE}/media/posts/notes/cover.png"),
        ("./img/a b.jpg", "notes", f"{BASE}/media/posts/notes/img/a%20b.jpg"),
        ("../shared.webp", "notes", f"{BASE}/media/posts/shared.webp"),
        ("/shared.webp", "notes", f"{BASE}/media/posts/shared.webp"),
        ("shared.webp", "", f"{BASE}/media/posts/shared.webp"),
        ("inside-link.png", "notes", f"{BASE}/media/posts/notes/inside-link.png"),
        ("https://cdn.example/c.png?w=2", "notes", "https://cdn.example/c.png?w=2"),
        ("HTTP://cdn.example/c", "notes", "HTTP://cdn.example/c"),
    ],
)
def test_covers_that_resolve(root: Path, value: str, post_dir: str, expected: str) -> None:
    assert resolve(root, value, post_dir) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("missing.png", "names no file"),
        ("../../outside.png", "outside the source folder"),
        ("../..", "outside the source folder"),
        ("link.png", "names no file"),  # a symlink out of the folder
        (".hidden.png", "names no file"),
        ("fake.png", "names no file"),
        ("post.md", "not an image file"),
        ("readme.txt", "not an image file"),
        ("javascript:alert(1)", "http or https"),
        ("data:image/png;base64,AAAA", "http or https"),
        ("//evil.example/x.png", "http or https"),
        ("ftp://host/x.png", "http or https"),
        ("https://", "http or https"),
        ("https://host:99999/x.png", "not a valid URL"),
    ],
)
def test_covers_that_are_refused_say_why(root: Path, value: str, reason: str) -> None:
    with pytest.raises(BadCover) as excinfo:
        resolve(root, value)
    assert reason in str(excinfo.value)


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.text(min_size=1, max_size=40))
def test_any_value_is_a_publishable_url_or_a_bad_cover(root: Path, value: str) -> None:
    try:
        url = resolve(root, value)
    except BadCover as exc:
        assert str(exc)
        return
    assert urls.publishable_url(url, None) == url
    if url.startswith(BASE + "/media/posts/"):  # a file of the source, which the route serves
        relpath = unquote(url.removeprefix(BASE + "/media/posts/"))
        assert (root / relpath).resolve().is_relative_to(root.resolve())


# -- upstream entries ------------------------------------------------------------------------


def first_entry(document: str) -> feedparser.FeedParserDict:
    parsed = feedparser.parse(document.encode())
    assert not parsed.bozo, parsed.get("bozo_exception")
    return parsed.entries[0]


def rss_item(inner: str) -> str:
    return (
        '<?xml version="1.0"?><rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/">'
        f"<channel><title>t</title><link>https://up.example/</link><description>d</description>"
        f"<item><title>i</title>{inner}</item></channel></rss>"
    )


@pytest.mark.parametrize(
    ("inner", "expected"),
    [
        (
            '<media:content url="https://up.example/a.jpg" medium="image"/>',
            "https://up.example/a.jpg",
        ),
        ('<media:content url="https://up.example/a" type="image/png"/>', "https://up.example/a"),
        (
            '<media:content url="https://up.example/v.mp4" medium="video"/>'
            '<media:thumbnail url="https://up.example/t.jpg"/>',
            "https://up.example/t.jpg",
        ),
        ('<media:content url="https://up.example/b.png"/>', "https://up.example/b.png"),
        ('<media:content url="https://up.example/stream"/>', None),  # untyped, not an image name
        (
            '<enclosure url="https://up.example/e.jpg" type="image/jpeg" length="10"/>',
            "https://up.example/e.jpg",
        ),
        ('<enclosure url="https://up.example/e.mp3" type="audio/mpeg" length="10"/>', None),
        ("", None),
    ],
)
def test_rss_entry_images(inner: str, expected: str | None) -> None:
    assert feedparser_image(first_entry(rss_item(inner))) == expected


def test_atom_enclosure_link_is_an_image() -> None:
    document = (
        f'<?xml version="1.0"?><feed xmlns="{ATOM_NS}"><id>urn:f</id><title>t</title>'
        "<updated>2026-01-01T00:00:00Z</updated><entry><id>urn:e</id><title>e</title>"
        "<updated>2026-01-01T00:00:00Z</updated>"
        '<link rel="enclosure" type="image/gif" href="https://up.example/c.gif" length="5"/>'
        "</entry></feed>"
    )
    assert feedparser_image(first_entry(document)) == "https://up.example/c.gif"


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (
            {"image": "https://j.example/i.png", "banner_image": "https://j.example/b.png"},
            "https://j.example/i.png",
        ),
        ({"banner_image": " https://j.example/b.png "}, "https://j.example/b.png"),
        ({"image": 3}, None),
        ({"image": "  "}, None),
        ({}, None),
    ],
)
def test_json_feed_item_images(item: dict[str, object], expected: str | None) -> None:
    assert json_image(item) == expected


# -- feed bytes ------------------------------------------------------------------------------

COVER = f"{BASE}/media/posts/images/c%C3%A9.png?x=1&y=2"


def covered_doc() -> FeedDoc:
    doc = make_doc()
    items = (dataclasses.replace(doc.items[0], image=COVER), *doc.items[1:])
    return dataclasses.replace(doc, items=items)


@pytest.mark.parametrize("fmt", ["atom", "rss"])
def test_media_content_in_atom_and_rss(fmt: str) -> None:
    body = builder.build(fmt, covered_doc())
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.entries[0].media_content == [{"url": COVER, "medium": "image"}]
    assert all("media_content" not in e for e in parsed.entries[1:])
    # one <media:content> directly in the entry (no <media:group>), the namespace on the root
    root = etree.fromstring(body)
    entry_tag = f"{{{ATOM_NS}}}entry" if fmt == "atom" else "item"
    entries = list(root.iter(entry_tag))
    found = entries[0].findall(f"{{{MEDIA_NS}}}content")
    assert [(c.get("url"), c.get("medium")) for c in found] == [(COVER, "image")]
    assert not list(root.iter(f"{{{MEDIA_NS}}}group"))
    assert root.nsmap.get("media") == MEDIA_NS


@pytest.mark.parametrize("fmt", ["atom", "rss"])
def test_no_cover_no_media_namespace(fmt: str) -> None:
    body = builder.build(fmt, make_doc())
    assert "media" not in etree.fromstring(body).nsmap
    assert not list(etree.fromstring(body).iter(f"{{{MEDIA_NS}}}content"))


def test_json_feed_item_image() -> None:
    feed = json.loads(builder.build("json", covered_doc()))
    assert feed["items"][0]["image"] == COVER
    assert all("image" not in item for item in feed["items"][1:])


def test_cover_changes_the_bytes_and_only_of_its_entry() -> None:
    plain = make_item(1)
    covered = dataclasses.replace(plain, image="https://cdn.example/1.png")
    assert builder.build("json", make_doc(items=(plain,))) != builder.build(
        "json", make_doc(items=(covered,))
    )
    assert builder.build("atom", make_doc(items=(covered,))) == builder.build(
        "atom", make_doc(items=(covered,))
    )
