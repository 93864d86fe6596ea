"""256 concurrent pollers against `feedsvc serve` over a mix of feeds and conditional requests.

`feedsvc serve` (granian, 2 workers) on an SQLite file of ``--posts`` posts (bench/cold_builds.py
``populate``). Every URL of the mix (site, category, tag and author feeds in Atom, RSS and JSON
Feed, the HTML page, page 2) is fetched once, identity and gzip, for its ETags; then wrk
(``-c256 -t2 --latency``) runs a Lua script that picks a random (path, headers) pair per request:
most are conditional with the right ETag (304), some unconditional (200), some with
``Accept-Encoding: gzip``. Errors are socket errors, timeouts and every status other than
200/304, counted in wrk's Lua ``response`` hook.

    python bench/pollers.py [--posts 20000] [--duration 60] [--connections 256]

Needs `wrk` (Debian: apt-get install wrk); skips with a message without it.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

from bench import cold_builds  # noqa: E402
from bench.crawl import worker_memory, write_config  # noqa: E402
from bench.feed_throughput import free_port, running  # noqa: E402

LUA = """
local reqs = %s
bad = 0
function setup(thread) table.insert(threads, thread) end
threads = {}
request = function()
  local r = reqs[math.random(#reqs)]
  return wrk.format("GET", r[1], r[2])
end
response = function(status, headers, body)
  if status ~= 200 and status ~= 304 then bad = bad + 1 end
end
done = function(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("bad") end
  local e = summary.errors
  io.write(string.format(
    "RESULT {\\"requests\\": %%d, \\"bad_status\\": %%d, \\"socket_errors\\": %%d, " ..
    "\\"timeouts\\": %%d, \\"p50_ms\\": %%.2f, \\"p90_ms\\": %%.2f, \\"p99_ms\\": %%.2f}\\n",
    summary.requests, total, e.connect + e.read + e.write, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000))
end
"""


def poll_urls() -> list[str]:
    feeds = ["", "/categories/python", "/categories/cat-3", "/tags/tag-7", "/authors/bench"]
    urls = [f"{s}/feed.{fmt}" for s in feeds for fmt in ("atom", "rss", "json")]
    return urls + ["/feed.atom?page=2", "/", "/?page=2"]


def etag_of(url: str, gzip: bool) -> str:
    headers = {"Accept-Encoding": "gzip"} if gzip else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as resp:
        if resp.status != 200 or not resp.headers["ETag"]:
            raise RuntimeError(f"bench: {url} answered {resp.status} without an ETag")
        return str(resp.headers["ETag"])


def request_mix(base: str) -> list[tuple[str, dict[str, str]]]:
    """Per URL: 6 conditional polls (4 identity, 2 gzip), 1 unconditional, 1 gzip 200."""
    mix: list[tuple[str, dict[str, str]]] = []
    for path in poll_urls():
        plain, gz = etag_of(base + path, False), etag_of(base + path, True)
        gzip = {"Accept-Encoding": "gzip"}
        mix += [(path, {"If-None-Match": plain})] * 4
        mix += [(path, {**gzip, "If-None-Match": gz})] * 2
        mix += [(path, {}), (path, gzip)]
    return mix


def lua_table(mix: list[tuple[str, dict[str, str]]]) -> str:
    def item(path: str, headers: dict[str, str]) -> str:
        hs = ", ".join(f"[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items())
        return f"{{{json.dumps(path)}, {{{hs}}}}}"

    return "{" + ",\n".join(item(p, h) for p, h in mix) + "}"


def measure(posts: int, duration: int, connections: int) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="feedsvc-pollers-") as tmp:
        work = Path(tmp)
        cold_builds.populate(work / "bench.db", posts).dispose()
        port = free_port()
        config = write_config(work / "feedsvc.toml", f"sqlite:///{work / 'bench.db'}", port)
        serve = [str(BIN / "feedsvc"), "--config", str(config), "serve", "--port", str(port)]
        base = f"http://127.0.0.1:{port}"
        with running(serve, {"PATH": str(BIN)}, base + "/healthz") as proc:
            mix = request_mix(base)
            script = work / "pollers.lua"
            script.write_text(LUA % lua_table(mix), encoding="utf-8")
            cmd = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency"]
            cmd += ["-s", str(script), base + "/"]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            memory = worker_memory(proc.pid)
        found = re.search(r"^RESULT (.*)$", out, re.M)
        rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
        if found is None or rate is None:
            raise RuntimeError(f"bench: wrk printed no result:\n{out}")
        row: dict[str, Any] = json.loads(found.group(1))
    row.update(posts=posts, connections=connections, duration_s=duration, pairs=len(mix))
    row.update(requests_per_s=float(rate.group(1)), **memory)
    row["errors"] = row["bad_status"] + row["socket_errors"] + row["timeouts"]
    return [row]


def table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| posts | pollers | seconds | requests | req/s | errors (status/socket/timeout) | "
        "p50 ms | p90 ms | p99 ms | worker RSS / HWM MB |",
        "| ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['posts']:,} | {r['connections']} | {r['duration_s']} | {r['requests']:,} | "
            f"{r['requests_per_s']:,.0f} | {r['errors']} ({r['bad_status']}/"
            f"{r['socket_errors']}/{r['timeouts']}) | {r['p50_ms']:.1f} | {r['p90_ms']:.1f} | "
            f"{r['p99_ms']:.1f} | {r['rss_mb']:.0f} / {r['hwm_mb']:.0f} |"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=20_000)
    parser.add_argument("--duration", type=int, default=60)
    parser.add_argument("--connections", type=int, default=256)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("bench: wrk is not installed (apt-get install wrk): skipped", file=sys.stderr)
        return 2
    print(
        f"# {args.connections} pollers, {datetime.now(UTC):%Y-%m-%d}, "
        f"wrk -t2 -c{args.connections} -d{args.duration}s --latency on loopback"
    )
    print("\n".join(table(measure(args.posts, args.duration, args.connections))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
