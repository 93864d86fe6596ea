"""The admin API through the Flask test client, on a real SQLite file with a fixed clock."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import quote

import feedparser
import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from feedsvc.app import create_app
from feedsvc.posts.document import FIELDS
from feedsvc.storage.models import Event
from feedsvc.web.state import state
from tests.conftest import ADMIN_MAX_BODY, ADMIN_TOKEN, make_config

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def app(api_app: Flask) -> Flask:
    return api_app


@pytest.fixture
def client(api_client: FlaskClient) -> FlaskClient:
    return api_client


def push(client: FlaskClient, headers: dict[str, str] | None = None, **fields: Any) -> Any:
    body = {"title": "第一篇", "markdown": "正文。", **fields}
    return client.post("/api/v1/posts", json=body, headers={**AUTH, **(headers or {})})


def event_log(app: Flask) -> list[tuple[str, str]]:
    with state(app).db.read() as session:
        rows = session.scalars(select(Event).order_by(Event.id))
        return [(e.type, e.payload["id"]) for e in rows]


# -- the gate --------------------------------------------------------------------------------

ENDPOINTS = [
    ("GET", "/api/v1/posts"),
    ("POST", "/api/v1/posts"),
    ("GET", "/api/v1/posts/1"),
    ("PATCH", "/api/v1/posts/1"),
    ("DELETE", "/api/v1/posts/1"),
    ("GET", "/api/v1/sources"),
    ("POST", "/api/v1/sources/posts/run"),
    ("GET", "/api/v1/no-such-thing"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_no_token_configured_means_403_for_every_call(tmp_path, posts_dir, clock, method, path):
    app = create_app(make_config(tmp_path), clock=clock)
    resp = app.test_client().open(path, method=method, headers=AUTH, json={"title": "x"})
    state(app).db.dispose()
    assert resp.status_code == 403
    assert resp.json == {"error": "admin API disabled: set [admin] token or FEEDSVC_ADMIN_TOKEN"}


@pytest.mark.parametrize(
    "authorization",
    [None, f"Bearer {ADMIN_TOKEN}x", f"Bearer {ADMIN_TOKEN[:-1]}", "Bearer ", "Bearer",
     ADMIN_TOKEN, "Basic dXNlcjpzM2NyZXQtdG9rZW4=", f"Basic {ADMIN_TOKEN}"],
)  # fmt: skip
@pytest.mark.parametrize(("method", "path"), ENDPOINTS[:2] + ENDPOINTS[5:])
def test_missing_wrong_or_malformed_credentials_are_401(client, method, path, authorization):
    headers = {"Authorization": authorization} if authorization is not None else {}
    resp = client.open(path, method=method, headers=headers, json={"title": "x"})
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"] == 'Bearer realm="feedsvc"'
    assert resp.json == {"error": "missing or invalid bearer token"}


def test_bearer_scheme_is_case_insensitive(client):
    resp = client.get("/api/v1/posts", headers={"Authorization": f"bearer {ADMIN_TOKEN}"})
    assert resp.status_code == 200


# -- errors are JSON -------------------------------------------------------------------------


NOT_JSON, NOT_OBJECT = "request body is not valid JSON", "request body must be a JSON object"


@pytest.mark.parametrize(
    ("body", "message"),
    [(b'{"title": "x",', NOT_JSON), (b"", NOT_JSON), (b"\xff\xfe{", NOT_JSON),
     (b"[" * 5000 + b"]" * 5000, NOT_JSON), (b'[{"title": "x", "markdown": "y"}]', NOT_OBJECT),
     (b'"a string"', NOT_OBJECT), (b"null", NOT_OBJECT)],
)  # fmt: skip
def test_malformed_json_or_not_an_object_is_400(client, body, message):
    headers = {**AUTH, "Content-Type": "application/json"}
    resp = client.post("/api/v1/posts", data=body, headers=headers)
    assert (resp.status_code, resp.json) == (400, {"error": message})


def test_unknown_post_path_and_method_are_json(client):
    assert client.get("/api/v1/posts/999", headers=AUTH).status_code == 404
    assert client.get("/api/v1/posts/999", headers=AUTH).json == {"error": "no post '999'"}
    assert client.get("/api/v1/posts/tag%3Anope", headers=AUTH).status_code == 404
    for path in ("/api/v1/no/such/thing", "/api/v1", "/api/v1/"):
        resp = client.get(path, headers=AUTH)
        assert resp.status_code == 404 and set(resp.json) == {"error"}
    resp = client.delete("/api/v1/sources", headers=AUTH)
    assert resp.status_code == 405 and set(resp.json) == {"error"}
    assert set(resp.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}


def test_oversized_body_is_413(client):
    resp = push(client, markdown="长" * ADMIN_MAX_BODY)
    assert resp.status_code == 413
    assert set(resp.json) == {"error"}
    assert client.get("/api/v1/posts", headers=AUTH).json["total"] == 0


def test_validation_names_every_bad_field_at_once(client):
    body = {
        "title": "   ",
        "markdown": "a",
        "html": "<p>b</p>",
        "slug": "Not A Slug",
        "published": "2026-01-11 09:30",
        "updated": "2026-01-11T09:30:00",  # no offset: not RFC 3339
        "categories": ["ok", 3],
        "tags": "softmax",
        "author": ["me"],
        "url": "javascript:alert(1)",
        "draft": "yes",
        "id": "has space",
        "colour": "red",
    }
    resp = client.post("/api/v1/posts", json=body, headers=AUTH)
    assert resp.status_code == 422
    assert resp.json["error"] == "validation failed"
    assert set(resp.json["fields"]) == set(body)
    assert resp.json["fields"]["title"] == "required"
    assert resp.json["fields"]["published"] == "not an RFC 3339 date"
    assert resp.json["fields"]["colour"] == "unknown field"


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"title": "required", "markdown": "required (or html)"}),
        ({"title": "t", "markdown": None}, {"markdown": "required (or html)"}),
        ({"title": "t", "html": 1}, {"html": "must be a string"}),
        ({"title": "t", "markdown": "m", "published": "2026-02-30T00:00:00Z"},
         {"published": "not an RFC 3339 date"}),
        ({"title": "t", "markdown": "m", "url": "https://"},
         {"url": "must be an absolute http or https URL"}),
        ({"title": "t", "markdown": "m", "url": "https://x.org/\x01"},
         {"url": "must be an absolute http or https URL"}),
        ({"title": "\ud800\x00", "markdown": "m"}, {"title": "required"}),
    ],
)  # fmt: skip
def test_validation_cases(client, body, fields):
    data = json.dumps(body)  # \uXXXX escapes: a lone surrogate is valid JSON text
    resp = client.post("/api/v1/posts", data=data, headers=AUTH)
    assert (resp.status_code, resp.json["fields"]) == (422, fields)


# -- creating --------------------------------------------------------------------------------


def test_create_is_201_with_location_and_readable_by_key_or_id(client):
    resp = push(
        client,
        title=" 第一篇 ",
        published="2026-01-11T09:30:00+08:00",
        categories=["Python", "深度学习"],
        tags=["softmax"],
        author="张三",
        url="https://cms.example.net/p/1",
    )
    assert resp.status_code == 201
    post = resp.json
    assert resp.headers["Location"] == f"/api/v1/posts/{post['key']}"
    assert post["title"] == "第一篇" and post["source"] == "api" and post["visible"] is True
    assert post["published"] == post["updated"] == "2026-01-11T01:30:00Z"
    assert post["categories"] == ["Python", "深度学习"] and post["tags"] == ["softmax"]
    assert post["slug"] == "第一篇" and post["url"] == "https://cms.example.net/p/1"
    assert post["id"].startswith("tag:example.org,2026-03-01:api/")
    by_key = client.get(resp.headers["Location"], headers=AUTH)
    by_id = client.get("/api/v1/posts/" + quote(post["id"], safe=""), headers=AUTH)
    assert by_key.status_code == by_id.status_code == 200
    assert by_key.json == by_id.json == post


def test_idempotency_key_replay_returns_the_same_post_and_one_event(app, client):
    first = push(client, headers={"Idempotency-Key": "req-1"})
    again = push(client, headers={"Idempotency-Key": "req-1"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json["key"] == first.json["key"] and again.json["id"] == first.json["id"]
    other = push(client, headers={"Idempotency-Key": "req-1"}, title="another body")
    assert other.status_code == 409
    assert event_log(app) == [("post.published", first.json["id"])]
    assert client.get("/api/v1/posts", headers=AUTH).json["total"] == 1
    assert push(client, headers={"Idempotency-Key": "has space"}).status_code == 400


def test_client_id_makes_creation_idempotent(app, client):
    first = push(client, id="cms/42")
    again = push(client, id="cms/42")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json == first.json
    assert first.json["external_id"] == "cms/42"
    assert first.json["id"] == "tag:example.org,2026-03-01:api/cms/42"
    changed = push(client, id="cms/42", markdown="其他内容。")
    assert changed.status_code == 409
    assert changed.json["key"] == first.json["key"]
    assert event_log(app) == [("post.published", first.json["id"])]


def test_slug_collision_is_409_naming_the_holder(client):
    holder = push(client, slug="hello", id="a").json
    resp = push(client, slug="hello", id="b")
    assert resp.status_code == 409
    assert "slug 'hello' is already used by api:a" in resp.json["error"]
    assert resp.json["holder"] == {"key": holder["key"], "id": holder["id"]}


def test_derived_slugs_do_not_collide(client):
    slugs = [push(client, title="Same Title").json["slug"] for _ in range(3)]
    assert slugs == ["same-title", "same-title-2", "same-title-3"]


def test_markdown_with_math_and_code_gets_a_summary_with_placeholders(client):
    text = "# 标题\n\n公式 $E=mc^2$ 在这里。\n\n```python\nprint('hi')\n```\n\n结束。\n"
    post = push(client, markdown=text).json
    assert "[公式]" in post["summary"] and "[代码]" in post["summary"]
    assert "mc^2" not in post["summary"] and "print" not in post["summary"]
    assert post["summary"].startswith("标题")


def test_a_body_too_deep_to_render_is_422_and_the_next_post_is_intact(client):
    """Issue 12 item 4: was a 500, and later renders on that thread lost their paragraphs."""
    resp = push(client, title="deep", markdown="- " * 3000 + "x")
    assert resp.status_code == 422
    assert resp.json["fields"] == {"markdown": "the Markdown is nested too deeply to render"}
    post = push(client, title="after", markdown="one\n\ntwo").json
    assert post["content_html"].split("\n") == ["<p>one</p>", "<p>two</p>"]
    assert client.get("/api/v1/posts", headers=AUTH).json["total"] == 1


def test_script_in_pushed_html_is_removed(client):
    html = '<p onclick="x()">好<script>alert(1)</script></p><a href="../rel">link</a>'
    post = push(client, markdown=None, html=html, slug="s").json
    assert "<script" not in post["content_html"] and "alert" not in post["content_html"]
    assert "onclick" not in post["content_html"]
    assert "好" in post["content_html"] and "https://example.org/posts/rel" in post["content_html"]
    assert "alert" not in post["summary"] and post["summary"].startswith("好")


def test_explicit_summary_and_future_post(client):
    post = push(client, summary="手写摘要", published="2030-01-01T00:00:00Z").json
    assert post["summary"] == "手写摘要" and post["visible"] is False


# -- listing ---------------------------------------------------------------------------------


def test_list_is_newest_first_paged_and_filtered_by_source(client, posts_dir):
    for day in (3, 1, 2):
        push(client, title=f"day {day}", published=f"2026-01-0{day}T00:00:00Z")
    (posts_dir / "md.md").write_text("---\ntitle: md\ndate: 2026-01-04\n---\n\nx\n", "utf-8")
    assert client.post("/api/v1/sources/posts/run", headers=AUTH).status_code == 200
    page1 = client.get("/api/v1/posts?per_page=3", headers=AUTH).json
    assert [p["title"] for p in page1["posts"]] == ["md", "day 3", "day 2"]
    assert (page1["total"], page1["has_more"]) == (4, True)
    page2 = client.get("/api/v1/posts?per_page=3&page=2", headers=AUTH).json
    assert [p["title"] for p in page2["posts"]] == ["day 1"] and page2["has_more"] is False
    only_md = client.get("/api/v1/posts?source=posts", headers=AUTH).json
    assert [p["source"] for p in only_md["posts"]] == ["posts"]


@pytest.mark.parametrize("query", ["per_page=101", "per_page=0", "page=0", "page=x"])
def test_bad_paging_is_400(client, query):
    resp = client.get(f"/api/v1/posts?{query}", headers=AUTH)
    assert resp.status_code == 400 and set(resp.json) == {"error"}


# -- changing --------------------------------------------------------------------------------


def test_patch_merges_changes_updated_and_emits_post_updated(app, client, clock):
    created = push(client, tags=["a"], author="张三").json
    clock.advance(hours=1)
    url = f"/api/v1/posts/{created['key']}"
    resp = client.patch(url, json={"title": "新标题", "author": None}, headers=AUTH)
    assert resp.status_code == 200
    post = resp.json
    assert (post["title"], post["author"], post["tags"]) == ("新标题", None, ["a"])
    assert post["id"] == created["id"] and post["slug"] == created["slug"]
    assert post["published"] == created["published"] == "2026-03-01T12:00:00Z"
    assert post["updated"] == "2026-03-01T13:00:00Z"
    assert post["content_html"] == created["content_html"]
    assert event_log(app) == [("post.published", post["id"]), ("post.updated", post["id"])]
    # a patch that changes nothing is no update
    clock.advance(hours=1)
    same = client.patch(url, json={"title": "新标题"}, headers=AUTH)
    assert same.status_code == 200 and same.json["updated"] == "2026-03-01T13:00:00Z"
    assert len(event_log(app)) == 2


def test_patch_can_switch_markdown_to_html_and_rejects_bad_fields(client):
    key = push(client).json["key"]
    url = f"/api/v1/posts/{key}"
    resp = client.patch(url, json={"html": "<p>HTML 正文</p>"}, headers=AUTH)
    assert resp.status_code == 200 and resp.json["content_html"] == "<p>HTML 正文</p>"
    bad = client.patch(url, json={"title": None, "draft": 1, "id": "other"}, headers=AUTH)
    assert bad.status_code == 422
    assert bad.json["fields"] == {"title": "required", "draft": "must be true or false"}
    other_id = client.patch(url, json={"id": "other"}, headers=AUTH)
    assert (other_id.status_code, other_id.json["fields"]) == (422, {"id": "cannot be changed"})


def test_put_replaces_every_field_but_keeps_id_and_slug(app, client, clock):
    created = push(client, tags=["a"], summary="摘要", id="cms-1").json
    clock.advance(minutes=5)
    body = {"title": "Replaced", "html": "<p>new</p>"}
    resp = client.put(f"/api/v1/posts/{created['key']}", json=body, headers=AUTH)
    assert resp.status_code == 200
    post = resp.json
    assert (post["title"], post["tags"], post["summary"]) == ("Replaced", [], "new")
    assert (post["id"], post["slug"], post["key"]) == (
        created["id"],
        created["slug"],
        created["key"],
    )
    assert post["updated"] == "2026-03-01T12:05:00Z"
    assert [t for t, _ in event_log(app)] == ["post.published", "post.updated"]
    assert client.put(f"/api/v1/posts/{created['key']}", json={}, headers=AUTH).status_code == 422


def test_put_without_published_keeps_the_posts_date(app, client, clock):
    created = push(client, published="2025-06-01T08:00:00+08:00").json
    clock.advance(days=3)
    resp = client.put(
        f"/api/v1/posts/{created['key']}", json={"title": "改过", "markdown": "新"}, headers=AUTH
    )
    assert resp.status_code == 200
    assert (resp.json["published"], resp.json["updated"]) == (
        "2025-06-01T00:00:00Z",
        "2026-03-04T12:00:00Z",
    )
    dated = client.put(
        f"/api/v1/posts/{created['key']}",
        json={"title": "改过", "markdown": "新", "published": "2025-07-01T00:00:00Z"},
        headers=AUTH,
    )
    assert dated.json["published"] == "2025-07-01T00:00:00Z"
    patched = client.patch(
        f"/api/v1/posts/{created['key']}", json={"published": None, "title": "再改"}, headers=AUTH
    )
    assert (patched.json["title"], patched.json["published"]) == ("再改", "2025-07-01T00:00:00Z")


@pytest.mark.parametrize("with_id", [True, False])
def test_put_of_the_creating_body_changes_nothing(app, client, clock, with_id):
    body = {"title": "同一篇", "markdown": "正文。", "id": "cms/7", "tags": ["t"]}
    created = client.post("/api/v1/posts", json=body, headers=AUTH).json
    clock.advance(hours=1)
    put_body = body if with_id else {k: v for k, v in body.items() if k != "id"}
    resp = client.put(f"/api/v1/posts/{created['key']}", json=put_body, headers=AUTH)
    assert resp.status_code == 200
    assert resp.json["updated"] == created["updated"]
    assert [t for t, _ in event_log(app)] == ["post.published"]
    # and the create replay still answers with the same post
    replay = client.post("/api/v1/posts", json=body, headers=AUTH)
    assert (replay.status_code, replay.json["key"]) == (200, created["key"])


def test_put_that_omits_or_respells_the_date_changes_nothing(app, client, clock):
    body = {"title": "有日期", "markdown": "正文。", "published": "2025-06-01T08:00:00+08:00"}
    created = client.post("/api/v1/posts", json=body, headers=AUTH).json
    clock.advance(hours=1)
    url = f"/api/v1/posts/{created['key']}"
    undated = {k: v for k, v in body.items() if k != "published"}
    respelt = {**body, "published": "2025-06-01T00:00:00Z"}  # the same instant, in UTC
    for same in (undated, respelt, body):
        resp = client.put(url, json=same, headers=AUTH)
        assert (resp.status_code, resp.json["updated"]) == (200, created["updated"])
    assert [t for t, _ in event_log(app)] == ["post.published"]
    moved = client.put(url, json={**body, "published": "2025-06-02T00:00:00Z"}, headers=AUTH)
    assert moved.json["published"] == "2025-06-02T00:00:00Z"
    assert [t for t, _ in event_log(app)] == ["post.published", "post.updated"]


def test_posts_of_other_sources_cannot_be_changed_here(client, posts_dir):
    (posts_dir / "md.md").write_text("# md\n\nx\n", "utf-8")
    client.post("/api/v1/sources/posts/run", headers=AUTH)
    key = client.get("/api/v1/posts", headers=AUTH).json["posts"][0]["key"]
    resp = client.delete(f"/api/v1/posts/{key}", headers=AUTH)
    assert resp.status_code == 409 and "source 'posts'" in resp.json["error"]


def test_delete_is_204_emits_post_deleted_and_the_post_is_gone(app, client):
    post = push(client).json
    resp = client.delete(f"/api/v1/posts/{post['key']}", headers=AUTH)
    assert (resp.status_code, resp.data) == (204, b"")
    assert event_log(app) == [("post.published", post["id"]), ("post.deleted", post["id"])]
    assert client.get(f"/api/v1/posts/{post['key']}", headers=AUTH).status_code == 404
    assert client.delete(f"/api/v1/posts/{post['key']}", headers=AUTH).status_code == 404
    assert client.get("/api/v1/posts", headers=AUTH).json["total"] == 0


# -- the feeds -------------------------------------------------------------------------------


def feed_entries(client: FlaskClient) -> dict[str, list[tuple[str, str]]]:
    """(id, title) of the entries of the site feed in each format, parsed by real clients."""
    out = {}
    for fmt in ("atom", "rss"):
        resp = client.get(f"/feed.{fmt}")
        assert resp.status_code == 200
        parsed = feedparser.parse(resp.data)
        assert not parsed.bozo, parsed.get("bozo_exception")
        out[fmt] = [(e.id, e.title) for e in parsed.entries]
    resp = client.get("/feed.json")
    assert resp.status_code == 200
    out["json"] = [(i["id"], i["title"]) for i in json.loads(resp.data)["items"]]
    return out


def test_pushed_post_is_in_every_feed_format_until_deleted(client):
    post = push(client, title="推送的文章 <&>", markdown="正文 $x$。").json
    expected = [(post["id"], "推送的文章 <&>")]
    assert feed_entries(client) == {"atom": expected, "rss": expected, "json": expected}
    assert client.delete(f"/api/v1/posts/{post['key']}", headers=AUTH).status_code == 204
    time.sleep(0.3)  # the feed cache looks at the content version at most every 0.25 s
    assert feed_entries(client) == {"atom": [], "rss": [], "json": []}


# -- never a 500 -----------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
FIELD_VALUES = (
    JSON_VALUES
    | st.sampled_from(["2026-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00", "https://x.org/"])
    | st.lists(st.text(max_size=20), max_size=3)
)
DOCUMENTS = st.dictionaries(
    st.sampled_from(sorted(FIELDS)) | st.text(max_size=10), FIELD_VALUES, max_size=8
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(doc=DOCUMENTS, patch=DOCUMENTS)
def test_arbitrary_json_objects_never_cause_a_500(client, doc, patch):
    created = client.post("/api/v1/posts", json=doc, headers=AUTH)
    assert created.status_code in (200, 201, 409, 422), created.json
    key = push(client, id="fixed", slug="fixed").json["key"]
    for method in ("PATCH", "PUT"):
        resp = client.open(f"/api/v1/posts/{key}", method=method, json=patch, headers=AUTH)
        assert resp.status_code in (200, 409, 422), resp.json
