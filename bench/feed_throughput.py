"""Cached-feed 200 and 304 throughput: `feedsvc serve` against the Python floor, side by side.

The floor is a minimal Flask app (bench/floor_app.py) answering the same bytes with the same ETag
under gunicorn (sync) and under granian, 2 workers each. Every server is measured in the same run
with wrk on loopback, at 100 and 10,000 posts; the table gives req/s and the ratio to the best
floor (machines are noisy: compare ratios, not absolute numbers).

    python bench/feed_throughput.py [--sizes 100 10000] [--duration 10] [--connections 32]

Needs `wrk` (Debian: apt-get install wrk).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


PAGE_SIZE = 20  # the default [feeds] page_size


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"bench: {url} did not come up within {timeout}s")


def populate(workdir: Path, n: int) -> Path:
    """Write a config and an SQLite DB with ``n`` posts through the real ingest service."""
    sys.path.insert(0, str(ROOT))
    from feedsvc.config import load_config
    from feedsvc.posts.model import SourceItem
    from feedsvc.posts.store import apply_item
    from feedsvc.storage.db import Database
    from feedsvc.storage.migrate import upgrade

    (workdir / "posts").mkdir()
    config = workdir / "feedsvc.toml"
    config.write_text(
        '[site]\ntitle = "bench"\nbase_url = "http://127.0.0.1"\nlanguage = "zh-CN"\n'
        f'[storage]\nurl = "sqlite:///{workdir / "bench.db"}"\n'
        "[server]\nworkers = 2\n"
        '[[sources]]\nname = "posts"\nkind = "markdown"\npath = "posts"\ninterval = "1h"\n',
        encoding="utf-8",
    )
    cfg = load_config(config)
    db = Database(cfg.storage.url)
    upgrade(db)
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    body = (
        "<p>"
        + "超多分类的 Softmax 与 attention 的笔记。" * 40
        + "</p><pre><code>x = 1</code></pre>"
    )
    with db.write() as session:
        for i in range(n):
            item = SourceItem(
                external_key=f"post-{i}.md",
                title=f"第 {i} 篇笔记",
                content_html=body,
                content_hash=hashlib.sha256(str(i).encode()).hexdigest(),
                slug=f"post-{i}",
                published=t0 + timedelta(minutes=i),
                categories=("Python", f"cat-{i % 10}"),
                tags=(f"tag-{i % 50}",),
                author="bench",
            )
            # as pushed through the API: the (empty) markdown source never removes them
            apply_item(session, cfg, "api", item, t0 + timedelta(minutes=i))
    db.dispose()
    return config


@contextlib.contextmanager
def running(cmd: list[str], env: dict[str, str], url: str) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_http(url)
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


PATHS = ("200", "304", "200 gzip", "304 gzip")  # identity and gzip, unconditional and polls


def wrk(url: str, duration: int, connections: int, etag: str | None, gzip: bool = False) -> float:
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", url]
    if etag:
        cmd[1:1] = ["-H", f"If-None-Match: {etag}"]
    if gzip:
        cmd[1:1] = ["-H", "Accept-Encoding: gzip"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if match is None or non2xx:
        raise RuntimeError(f"bench: wrk failed or saw errors:\n{out}")
    return float(match.group(1))


def fetch(url: str, gzip: bool = False) -> tuple[bytes, str, str]:
    """The body as sent (gzip bytes when asked for and given), its ETag and Content-Type."""
    req = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"} if gzip else {})
    with urllib.request.urlopen(req, timeout=10) as resp:
        if gzip and resp.headers.get("Content-Encoding") != "gzip":
            raise RuntimeError(f"bench: {url} did not answer gzip to Accept-Encoding: gzip")
        return resp.read(), resp.headers["ETag"], resp.headers["Content-Type"]


def check_status(url: str, etag: str, expect: int, gzip: bool = False) -> None:
    headers = {"If-None-Match": etag, **({"Accept-Encoding": "gzip"} if gzip else {})}
    req = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            status = resp.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    if status != expect:
        raise RuntimeError(f"bench: {url} answered {status} to a poll, expected {expect}")


NGINX_CONF = """daemon off; worker_processes 2; pid {work}/nginx.pid; error_log {work}/nginx.err;
events {{ worker_connections 1024; }}
http {{
  access_log off; client_body_temp_path {work}; proxy_temp_path {work};
  fastcgi_temp_path {work}; uwsgi_temp_path {work}; scgi_temp_path {work};
  server {{
    listen 127.0.0.1:{{port}};
    location = /feed.atom {{
      default_type application/atom+xml; alias {work}/body; gzip_static on; gzip_vary on;
    }}
  }}
}}
"""


def nginx_command(work: Path) -> list[str] | None:
    """nginx serving the same bytes from a file (a floor: no Python at all), or None."""
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if found is None:
        return None
    conf = work / "nginx.conf.template"
    conf.write_text(NGINX_CONF.format(work=work), "utf-8")
    return [found, "-p", str(work), "-c", str(conf)]


def measure_paths(
    url: str, args: argparse.Namespace, etags: dict[bool, str]
) -> list[tuple[str, float]]:
    """wrk on every path of PATHS, after checking the server answers each poll with a 304."""
    rows: list[tuple[str, float]] = []
    for path in PATHS:
        gzip = path.endswith("gzip")
        conditional = path.startswith("304")
        if conditional:
            check_status(url, etags[gzip], 304, gzip)
        tag = etags[gzip] if conditional else None
        rows.append((path, wrk(url, args.duration, args.connections, tag, gzip)))
    return rows


def measure_size(n: int, args: argparse.Namespace) -> list[tuple[str, str, float]]:
    rows: list[tuple[str, str, float]] = []
    with tempfile.TemporaryDirectory(prefix="feedsvc-bench-") as tmp:
        work = Path(tmp)
        config = populate(work, n)
        env = dict(os.environ)
        body, etag, ctype = b"", "", ""
        gz_body, gz_etag = b"", ""
        for server in ("granian", "gunicorn"):
            variant = work / f"feedsvc-{server}.toml"
            variant.write_text(
                config.read_text("utf-8").replace("[server]\n", f'[server]\nserver = "{server}"\n'),
                "utf-8",
            )
            port = free_port()
            serve = [str(BIN / "feedsvc"), "--config", str(variant), "serve", "--port", str(port)]
            base = f"http://127.0.0.1:{port}"
            with running(serve, env, base + "/healthz"):
                got, got_etag, ctype = fetch(base + "/feed.atom")
                if etag and (got, got_etag) != (body, etag):
                    raise RuntimeError("bench: the two servers answered different bytes")
                body, etag = got, got_etag
                gz_body, gz_etag, _ = fetch(base + "/feed.atom", gzip=True)
                if body.count(b"<entry>") != min(n, PAGE_SIZE):
                    raise RuntimeError(f"bench: the feed does not hold {n} posts")
                measured = measure_paths(base + "/feed.atom", args, {False: etag, True: gz_etag})
                rows += [(f"feedsvc serve ({server} x2)", path, rate) for path, rate in measured]
        (work / "body").write_bytes(body)
        (work / "body.gz").write_bytes(gz_body)  # nginx's gzip_static file: the same bytes
        floor_env = {
            **env,
            "FLOOR_BODY": str(work / "body"),
            "FLOOR_ETAG": etag,
            "FLOOR_CONTENT_TYPE": ctype,
            "FLOOR_GZIP_BODY": str(work / "body.gz"),
            "FLOOR_GZIP_ETAG": gz_etag,
        }
        floors = {
            "floor: flask + gunicorn sync x2": [
                str(BIN / "gunicorn"),
                "-w",
                "2",
                "-b",
                "127.0.0.1:{port}",
                "bench.floor_app:app",
            ],
            "floor: flask + granian x2": [
                str(BIN / "granian"),
                "--interface",
                "wsgi",
                "--workers",
                "2",
                "--host",
                "127.0.0.1",
                "--port",
                "{port}",
                "--no-ws",
                "bench.floor_app:app",
            ],
        }
        nginx = nginx_command(work)
        if nginx is None:
            print("bench: nginx is not installed (apt-get install nginx): skipped", file=sys.stderr)
        else:
            floors["nginx x2 (static file, its own ETag)"] = nginx
        for name, template in floors.items():
            fport = free_port()
            cmd = [part.replace("{port}", str(fport)) for part in template]
            if name.startswith("nginx"):
                conf = work / "nginx.conf"
                conf.write_text(Path(cmd[-1]).read_text("utf-8").replace("{port}", str(fport)))
                cmd[-1] = str(conf)
            url = f"http://127.0.0.1:{fport}/feed.atom"
            with running(cmd, floor_env, url):
                etags = {False: etag, True: gz_etag}
                if name.startswith("nginx"):  # nginx's own ETags for the same bytes
                    etags = {False: fetch(url)[1], True: fetch(url, gzip=True)[1]}
                rows += [(name, path, rate) for path, rate in measure_paths(url, args, etags)]
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 10_000])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("bench: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    print(
        f"# feed throughput, {datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} cores, "
        f"wrk -t2 -c{args.connections} -d{args.duration}s on loopback"
    )
    print("| posts | path | server | req/s | ratio to best floor | ratio to nginx |")
    print("| ---: | --- | --- | ---: | ---: | ---: |")
    for n in args.sizes:
        rows = measure_size(n, args)
        for path in PATHS:
            best = max(r for name, p, r in rows if p == path and name.startswith("floor"))
            nginx = [r for name, p, r in rows if p == path and name.startswith("nginx")]
            for name, p, rate in rows:
                if p == path:
                    vs_nginx = f"{rate / nginx[0]:.2f}x" if nginx else "n/a"
                    cells = f"{n} | {path} | {name} | {rate:,.0f} | {rate / best:.2f}x | {vs_nginx}"
                    print(f"| {cells} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
