"""Markdown ingest against the machine's render limit, the no-op rescan, and peak RSS.

Generates ``--files`` Markdown files of about 5 KB (front matter, code blocks, ``$…$`` and
``$$…$$`` formulas, Chinese and English prose) into a temp dir, then measures in one run:

* the render limit: python-markdown with the extensions feedsvc uses (content/markdown.py) plus
  nh3, in a ``multiprocessing.Pool`` on all cores over the same files (posts/s);
* feedsvc's full ingest of those files into a fresh SQLite file with ``[ingest] workers`` at its
  default (all cores) and at 1 (in-process, as before): posts/s and the ratio to the limit;
* the no-op rescan of the unchanged files (seconds, median of ``--repeat``);
* peak RSS of the ingesting process (RUSAGE_SELF) and of the pool workers (RUSAGE_CHILDREN).

Each ingest runs in a fresh child process so the RSS numbers are its own. Compare ratios.

    python bench/ingest.py [--files 10000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORDS = "softmax attention 梯度 下降 的 笔记 transformer 张量 loss 优化器 batch 学习率".split()
FORMULAS = [r"\frac{e^{x_i}}{\sum_j e^{x_j}}", r"\nabla_\theta L(\theta)", r"a^2 + b^2 = c^2"]
CODE = 'def softmax(x):\n    e = np.exp(x - x.max())\n    return e / e.sum()\n\nprint("ok")\n'


def write_corpus(root: Path, n: int, seed: int = 15) -> None:
    """``n`` Markdown files of about 5 KB each in ``root`` (100 to a folder)."""
    rng = random.Random(seed)
    for i in range(n):
        folder = root / f"d{i // 100:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        parts = [
            "---",
            f"title: 笔记 {i}",
            f"date: 2025-{1 + i % 12:02d}-{1 + i % 28:02d}T08:00:00Z",
            f"categories: [{['Python', 'ML', 'Math'][i % 3]}]",
            f"tags: [t{i % 40}, t{(i * 7) % 40}]",
            "---",
            "",
        ]
        while sum(len(p) for p in parts) < 5000:
            words = " ".join(rng.choice(WORDS) for _ in range(40))
            formula = rng.choice(FORMULAS)
            parts.append(f"## 小节 {len(parts)}\n\n{words} 公式 ${formula}$ 以及 **重点**。\n")
            parts.append(f"$$\n{rng.choice(FORMULAS)}\n$$\n")
            parts.append(f"```python\n{CODE}```\n")
            parts.append(f"- {words[:60]}\n- [链接](../p{i}.md)\n")
        (folder / f"p{i:05d}.md").write_text("\n".join(parts), encoding="utf-8")


def _render_one(path: str) -> int:
    import nh3

    from feedsvc.content.markdown import _new_markdown

    global _MD
    try:
        md = _MD
    except NameError:
        md = _MD = _new_markdown("back")
    text = Path(path).read_text(encoding="utf-8").split("---\n", 2)[2]
    html = md.convert(text)
    md.reset()
    return len(nh3.clean(html))


def render_limit(root: Path) -> dict[str, Any]:
    """python-markdown (feedsvc's extensions) + nh3 on every core: the machine's limit."""
    files = sorted(str(p) for p in root.rglob("*.md"))
    start = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(os.cpu_count()) as pool:
        sum(pool.imap_unordered(_render_one, files, chunksize=16))
    seconds = time.perf_counter() - start
    return {"files": len(files), "seconds": seconds, "rate": len(files) / seconds}


CHILD = r"""
import json, resource, statistics, sys, time
from feedsvc.clock import SystemClock
from feedsvc.config import config_from_mapping
from feedsvc.sources.ingest import ingest_source
from feedsvc.storage.db import Database
from feedsvc.storage.migrate import upgrade
root, url, workers, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
cfg = config_from_mapping({
    "site": {"title": "bench", "base_url": "http://127.0.0.1", "language": "zh-CN"},
    "storage": {"url": url}, "ingest": {"workers": workers},
    "sources": [{"name": "notes", "kind": "markdown", "path": root}],
}, "bench.toml", env={})
db = Database(url)
upgrade(db)
start = time.perf_counter()
report = ingest_source(db, cfg, cfg.sources[0], SystemClock())
seconds = time.perf_counter() - start
assert report.failed == 0 and report.new > 0, report
rescans = []
for _ in range(repeat):
    t0 = time.perf_counter()
    again = ingest_source(db, cfg, cfg.sources[0], SystemClock())
    rescans.append(time.perf_counter() - t0)
    assert again.unchanged == report.new and again.new == again.updated == 0, again
print(json.dumps({
    "new": report.new, "seconds": seconds, "rate": report.new / seconds,
    "rescan_s": statistics.median(rescans),
    "rss_self_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "rss_children_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
}))
"""


def ingest_once(root: Path, workers: int, repeat: int) -> dict[str, Any]:
    """feedsvc's full ingest into a fresh SQLite file, in a child process of its own."""
    with tempfile.TemporaryDirectory(prefix="feedsvc-ingest-db-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(root), url, str(workers), str(repeat)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=True,
        )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def measure(files: int = 10_000, repeat: int = 5, single: bool = True) -> list[dict[str, Any]]:
    sys.path.insert(0, str(ROOT))
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="feedsvc-ingest-") as tmp:
        root = Path(tmp) / "posts"
        write_corpus(root, files)
        limit = render_limit(root)
        rows.append({"what": f"render limit (markdown + nh3, {os.cpu_count()} procs)", **limit})
        cores = os.cpu_count() or 1
        runs = [(0, f"feedsvc ingest, workers = {cores} (default)")]
        if single:
            runs.append((1, "feedsvc ingest, workers = 1 (in-process, as before)"))
        for workers, label in runs:
            result = ingest_once(root, workers, repeat)
            rows.append({"what": label, "files": result["new"], **result})
        for row in rows:
            row["vs_limit"] = row["rate"] / limit["rate"]
    return rows


def table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| what | files | seconds | posts/s | vs render limit | no-op rescan s | "
        "peak RSS MB (self / workers) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        rescan = f"{r['rescan_s']:.3f}" if "rescan_s" in r else ""
        rss = f"{r['rss_self_mb']:.0f} / {r['rss_children_mb']:.0f}" if "rss_self_mb" in r else ""
        lines.append(
            f"| {r['what']} | {r['files']:,} | {r['seconds']:.1f} | {r['rate']:.0f} | "
            f"{r['vs_limit']:.2f}x | {rescan} | {rss} |"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5, help="no-op rescans (median)")
    parser.add_argument("--no-single", action="store_true", help="skip the workers = 1 run")
    args = parser.parse_args()
    print("\n".join(table(measure(args.files, args.repeat, not args.no_single))))
    return 0


if __name__ == "__main__":
    resource.getrusage(resource.RUSAGE_SELF)
    raise SystemExit(main())
