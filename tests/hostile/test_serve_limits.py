"""A real `feedsvc serve`: chunked bodies over the limit get 413, a NUL in /media/ is a 404, and
HTML pages (also from the cached fast path, and the 404 page) carry the security headers."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.test_serve import Server, running

pytestmark = pytest.mark.e2e

TOKEN = "hostile-test-token"
LIMIT = 2000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp_path = tmp_path_factory.mktemp("limits")
    extra = f'[admin]\ntoken = "{TOKEN}"\nmax_body_bytes = {LIMIT}\n'
    with running(tmp_path, "granian", extra) as srv:
        (srv.posts / "pic.png").write_bytes(b"\x89PNG\r\n\x1a\n")
        result = srv.run("ingest")
        assert result.returncode == 0, result.stdout + result.stderr
        yield srv


def chunks(total: int) -> Iterator[bytes]:
    yield b'{"title": "big", "markdown": "'
    sent = 0
    while sent < total:
        yield b"x" * 500
        sent += 500
    yield b'"}'


@pytest.mark.parametrize("path", ["/api/v1/posts", "/hub"])
def test_chunked_body_over_the_limit_is_413(server: Server, path: str) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    if path == "/hub":
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    else:
        headers["Content-Type"] = "application/json"
    with httpx.Client(base_url=server.base, timeout=30) as client:
        resp = client.post(path, content=chunks(LIMIT * 3), headers=headers)
    assert "content-length" not in {k.lower() for k in resp.request.headers}
    assert resp.request.headers["transfer-encoding"] == "chunked"
    assert resp.status_code == 413, resp.text
    assert str(LIMIT) in resp.text


def test_chunked_body_under_the_limit_is_accepted(server: Server) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    with httpx.Client(base_url=server.base, timeout=30) as client:
        resp = client.post("/api/v1/posts", content=chunks(500), headers=headers)
    assert resp.status_code == 201, resp.text


@pytest.mark.parametrize("path", ["/media/posts/pic%00.png", "/media/posts/%00", "/media/%00/x"])
def test_nul_in_media_path_is_404(server: Server, path: str) -> None:
    with httpx.Client(base_url=server.base, timeout=30) as client:
        assert client.get("/media/posts/pic.png").status_code == 200
        assert client.get(path).status_code == 404


def assert_page_headers(resp: httpx.Response) -> None:
    csp = {
        part.split()[0]: part.split()[1:]
        for part in resp.headers["content-security-policy"].split(";")
        if part.strip()
    }
    assert csp["script-src"] == ["'self'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in csp.get("default-src", [])
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert resp.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize("path", ["/", "/posts/first", "/categories/python/", "/no-such-page"])
def test_pages_send_security_headers_also_when_cached(server: Server, path: str) -> None:
    with httpx.Client(base_url=server.base, timeout=30) as client:
        first = client.get(path)
        assert first.status_code == (404 if path == "/no-such-page" else 200)
        assert first.headers["content-type"].startswith("text/html")
        assert_page_headers(first)
        again = client.get(path)  # the prepared (cached) fast path
        assert_page_headers(again)
        if "etag" in first.headers:
            revalidated = client.get(path, headers={"If-None-Match": first.headers["etag"]})
            assert revalidated.status_code == 304
            assert_page_headers(revalidated)


def test_feeds_carry_no_page_policy(server: Server) -> None:
    with httpx.Client(base_url=server.base, timeout=30) as client:
        resp = client.get("/feed.atom")
    assert resp.status_code == 200
    assert "content-security-policy" not in resp.headers
