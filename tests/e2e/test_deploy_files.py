"""Issue 14 item 8: docs/deploy/feedsvc.service and docs/deploy/nginx.conf work as written:
``systemd-analyze verify`` and ``nginx -t`` accept them, and the nginx site, run for real in
front of a real ``feedsvc serve``, proxies with TLS, caches, revalidates with our ETags and
passes our gzip through."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import feedparser
import httpx
import pytest

from tests.e2e.test_serve import feedsvc_command, free_port, running

pytestmark = pytest.mark.e2e

DEPLOY = Path(__file__).resolve().parents[2] / "docs" / "deploy"
UNIT = DEPLOY / "feedsvc.service"
SITE = DEPLOY / "nginx.conf"


def unit_settings() -> dict[str, dict[str, list[str]]]:
    """The unit file as systemd reads it: sections, then each key's values in order."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in UNIT.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key, []).append(value)
    return sections


def test_unit_has_what_the_issue_asks_for() -> None:
    unit = unit_settings()
    assert unit["Unit"]["Wants"] == ["network-online.target"]
    assert unit["Unit"]["After"] == ["network-online.target"]
    service = unit["Service"]
    for key, values in service.items():  # systemd has no inline comments: "#" would be the value
        assert not [v for v in values if "#" in v], key
    assert service["EnvironmentFile"] == ["-/etc/feedsvc/secrets.env"]
    assert service["ProtectSystem"] == ["strict"]
    assert service["ReadWritePaths"] == ["/var/lib/feedsvc"]
    assert service["WorkingDirectory"] == ["/var/lib/feedsvc"]
    assert service["User"] == ["feedsvc"]
    assert service["ExecStart"] == ["/opt/feedsvc/bin/feedsvc serve"]


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    feedsvc = feedsvc_command()
    if len(feedsvc) != 1:
        pytest.skip("no feedsvc executable to stand in for /opt/feedsvc/bin/feedsvc")
    unit = tmp_path / "feedsvc.service"  # the binary path verify checks must exist here
    unit.write_text(UNIT.read_text().replace("/opt/feedsvc/bin/feedsvc", feedsvc[0]))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr  # unknown keys and bad values are warnings here


def nginx_conf(tmp_path: Path, feedsvc_port: int, http: int, https: int) -> Path:
    """The site as documented, pointed at this test's ports, certificate and folders."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=feeds.example.org", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    (tmp_path / "cache").mkdir()
    site = SITE.read_text(encoding="utf-8")
    replacements = {
        "server 127.0.0.1:8080;": f"server 127.0.0.1:{feedsvc_port};",
        "/var/cache/nginx/feedsvc": str(tmp_path / "cache"),
        "/etc/letsencrypt/live/feeds.example.org/fullchain.pem": str(cert),
        "/etc/letsencrypt/live/feeds.example.org/privkey.pem": str(key),
        "listen 80;": f"listen 127.0.0.1:{http};",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https} ssl http2;",
    }
    for old, new in replacements.items():
        assert old in site, old
        site = site.replace(old, new)
    site = re.sub(r"\n\s*listen \[::\]:\d+[^;]*;", "", site)  # no IPv6 in every sandbox
    (tmp_path / "site.conf").write_text(site, encoding="utf-8")
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"user root;\npid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
        "daemon off;\nevents {}\nhttp {\n  access_log off;\n"
        f"  client_body_temp_path {tmp_path}/tmp;\n  proxy_temp_path {tmp_path}/tmp;\n"
        f"  include {tmp_path}/site.conf;\n}}\n",
        encoding="utf-8",
    )
    return conf


def nginx_or_skip() -> str:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if found is None:
        pytest.skip("nginx is not installed (Debian: apt-get install nginx)")
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed for a test certificate")
    return found


def test_nginx_t_accepts_the_site(tmp_path: Path) -> None:
    nginx = nginx_or_skip()
    conf = nginx_conf(tmp_path, free_port(), free_port(), free_port())
    result = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "error.log")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


@contextmanager
def nginx_running(nginx: str, conf: Path, https: int) -> Iterator[str]:
    proc = subprocess.Popen(
        [nginx, "-p", str(conf.parent), "-c", str(conf), "-e", str(conf.parent / "error.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"https://127.0.0.1:{https}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(base + "/healthz", verify=False, timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, (conf.parent / "error.log").read_text()
                assert time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def revalidations(log: Path) -> list[str]:
    """feedsvc's access log lines of a /feed.atom answered 304 (a conditional request)."""
    return [
        line for line in log.read_text(encoding="utf-8").splitlines()
        if "granian.access" in line and '"GET /feed.atom HTTP/1.1" 304' in line
    ]  # fmt: skip


def test_site_proxies_caches_revalidates_and_passes_gzip(tmp_path: Path) -> None:
    nginx = nginx_or_skip()
    with running(
        tmp_path, extra_config="[feeds]\ncache_max_age = 1\n", server_extra="access_log = true\n"
    ) as server:
        assert server.run("ingest").returncode == 0
        feedsvc_port = urlsplit(server.base).port
        assert feedsvc_port is not None
        http, https = free_port(), free_port()
        (tmp_path / "nginx").mkdir()
        conf = nginx_conf(tmp_path / "nginx", feedsvc_port, http, https)
        direct = httpx.get(server.base + "/feed.atom", headers={"Accept-Encoding": "gzip"})
        with nginx_running(nginx, conf, https) as base, httpx.Client(verify=False) as client:
            redirect = client.get(f"http://127.0.0.1:{http}/feed.atom")
            assert redirect.status_code == 301
            assert redirect.headers["location"] == "https://127.0.0.1/feed.atom"

            url = base + "/feed.atom"
            gz = {"Accept-Encoding": "gzip"}
            first = client.get(url, headers=gz)
            again = client.get(url, headers=gz)
            assert (first.status_code, again.status_code) == (200, 200)
            assert first.headers["x-cache-status"] == "MISS"
            assert again.headers["x-cache-status"] == "HIT"
            # gzip passed through: feedsvc's own body and strong ETag, not nginx's
            assert again.headers["content-encoding"] == "gzip"
            assert again.headers["etag"] == direct.headers["etag"]
            assert not again.headers["etag"].startswith("W/")
            assert direct.headers["content-encoding"] == "gzip"  # httpx decodes .content
            assert feedparser.parse(again.content).entries[0].title == "第一篇"
            # a client's own conditional request is answered from the cache
            cached = client.get(url, headers={**gz, "If-None-Match": again.headers["etag"]})
            assert cached.status_code == 304
            # identity is its own copy (Vary: Accept-Encoding)
            plain = client.get(url, headers={"Accept-Encoding": "identity"})
            assert "content-encoding" not in plain.headers
            assert plain.headers["etag"] != again.headers["etag"]
            # once stale (max-age 1), nginx serves the stale copy and revalidates it in the
            # background with our ETag: feedsvc answers 304 and the copy is fresh again
            assert not revalidations(server.log)
            time.sleep(2.1)
            stale = client.get(url, headers=gz)
            assert stale.headers["x-cache-status"] == "STALE"
            deadline = time.monotonic() + 20
            while not revalidations(server.log):
                assert time.monotonic() < deadline, server.log.read_text()
                time.sleep(0.1)
            fresh = client.get(url, headers=gz)
            assert fresh.headers["x-cache-status"] == "HIT"
            assert fresh.headers["etag"] == direct.headers["etag"]
            assert client.get(base + "/metrics").status_code == 200  # from 127.0.0.1
            assert client.get(base + "/api/v1/posts").headers.get("x-cache-status") is None
