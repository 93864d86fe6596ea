"""The benchmark suite in one run: `python -m bench` prints every table and writes one JSON file.

    python -m bench [--json bench/results.json] [--quick]

Runs, side by side in one run: cold builds against feedgen alone (bench/cold_builds.py), the
crawl of every URL after one change (bench/crawl.py), cached 200/304 throughput against the
Flask floor (bench/feed_throughput.py, needs wrk) and the webhook fan-out
(bench/webhook_fanout.py). A part whose tool is missing is skipped with a message saying so.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import cold_builds, crawl

ROOT = Path(__file__).resolve().parent.parent


def machine() -> str:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    python = platform.python_version()
    return f"{os.cpu_count()} cores {model}, {platform.platform()}, CPython {python}"


def script(name: str, *args: str) -> dict[str, Any]:
    """Run one of the stand-alone benches and keep its printed table."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / name), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if done.returncode != 0:
        return {"skipped": (done.stderr or done.stdout).strip()[-500:]}
    return {"table": done.stdout.strip()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results.json")
    parser.add_argument("--quick", action="store_true", help="small sizes, short runs")
    args = parser.parse_args()
    sizes = [1000, 5000] if args.quick else [1000, 20_000, 100_000]
    results: dict[str, Any] = {
        "date": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "machine": machine(),
        "command": "python -m bench" + (" --quick" if args.quick else ""),
    }
    print(f"# feedsvc benchmarks, {results['date']}\n{results['machine']}\n")

    rows = cold_builds.measure(sizes, 10 if args.quick else 30)
    results["cold_builds"] = rows
    print("## Cold builds against feedgen alone\n" + "\n".join(cold_builds.table(rows)) + "\n")

    rows = crawl.measure(sizes[-1])
    results["crawl"] = rows
    print("## Crawl of every URL, 2 workers\n" + "\n".join(crawl.table(rows)) + "\n", flush=True)

    if shutil.which("wrk") is None:
        results["throughput"] = {"skipped": "wrk is not installed (apt-get install wrk)"}
    else:
        duration = "3" if args.quick else "10"
        results["throughput"] = script("feed_throughput.py", "--duration", duration)
    results["fanout"] = script("webhook_fanout.py")
    for name, title in (("throughput", "Cached 200/304"), ("fanout", "Webhook fan-out")):
        part = results[name]
        print(f"## {title}\n" + part.get("table", f"skipped: {part.get('skipped')}") + "\n")
    args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"results: {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
