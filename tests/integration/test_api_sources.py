"""The admin API for sources: status, and running one now."""

from __future__ import annotations

from tests.conftest import ADMIN_TOKEN

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def test_run_a_source_then_see_its_last_run(api_client, posts_dir):
    (posts_dir / "a.md").write_text("# A\n\nx\n", "utf-8")
    (posts_dir / "bad.md").write_text("---\ntitle: [unclosed\n---\n\nx\n", "utf-8")
    resp = api_client.post("/api/v1/sources/posts/run", headers=AUTH)
    assert resp.status_code == 200
    assert resp.json["source"] == "posts"
    assert resp.json["counts"] == {
        "new": 1,
        "updated": 0,
        "unchanged": 0,
        "removed": 0,
        "failed": 1,
    }
    assert [e["item"] for e in resp.json["errors"]] == ["bad.md"]
    listed = api_client.get("/api/v1/sources", headers=AUTH).json["sources"]
    assert [(s["name"], s["kind"], s["status"]) for s in listed] == [("posts", "markdown", "error")]
    last = listed[0]["last_run"]
    assert last["at"] == "2026-03-01T12:00:00Z"
    assert last["counts"] == resp.json["counts"]
    assert [e["item"] for e in last["errors"]] == ["bad.md"]


def test_sources_before_any_run_and_unknown_source(api_client):
    listed = api_client.get("/api/v1/sources", headers=AUTH).json["sources"]
    assert [(s["name"], s["last_run"]) for s in listed] == [("posts", None)]
    resp = api_client.post("/api/v1/sources/nope/run", headers=AUTH)
    assert (resp.status_code, resp.json) == (404, {"error": "no source named 'nope'"})
    assert api_client.get("/api/v1/sources/posts/run", headers=AUTH).status_code == 405
