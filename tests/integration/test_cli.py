"""The installed ``feedsvc`` command, run as a real subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

FEEDSVC = shutil.which("feedsvc") or str(Path(sys.executable).parent / "feedsvc")


def feedsvc(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
    full_env.update(env or {})
    return subprocess.run(
        [FEEDSVC, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=120
    )


def write_config(tmp_path: Path) -> Path:
    (tmp_path / "posts").mkdir()
    path = tmp_path / "feedsvc.toml"
    path.write_text(
        '[site]\nbase_url = "https://example.org"\n'
        f'[storage]\nurl = "sqlite:///{tmp_path / "cli.db"}"\n'
        '[[sources]]\nname = "posts"\nkind = "markdown"\npath = "posts"\n',
        encoding="utf-8",
    )
    return path


def test_ingest_json_counts_and_exit_codes(tmp_path):
    config = write_config(tmp_path)
    posts = tmp_path / "posts"
    (posts / "a.md").write_text("---\ntitle: A\n---\nhello\n", encoding="utf-8")
    (posts / "b.md").write_text("# B\n\nworld\n", encoding="utf-8")
    first = feedsvc("--config", str(config), "ingest", "--json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == {
        "new": 2,
        "updated": 0,
        "unchanged": 0,
        "removed": 0,
        "failed": 0,
        "errors": [],
    }
    (posts / "b.md").unlink()
    (posts / "c.md").write_bytes(b"---\ntitle: [x\n---\n")
    second = feedsvc("--config", str(config), "ingest", "--json", cwd=tmp_path)
    assert second.returncode == 1
    result = json.loads(second.stdout)
    assert {k: result[k] for k in ("new", "updated", "unchanged", "removed", "failed")} == {
        "new": 0,
        "updated": 0,
        "unchanged": 1,
        "removed": 1,
        "failed": 1,
    }
    assert result["errors"][0]["source"] == "posts"
    assert result["errors"][0]["item"] == "c.md"
    assert "not valid YAML" in result["errors"][0]["reason"]


def test_ingest_text_output_names_the_file(tmp_path):
    config = write_config(tmp_path)
    (tmp_path / "posts" / "bad.md").write_bytes(b"\x00\x01")
    result = feedsvc("ingest", cwd=tmp_path, env={"FEEDSVC_CONFIG": str(config)})
    assert result.returncode == 1
    assert "error: posts: bad.md: binary file (contains NUL bytes)" in result.stdout.splitlines()


def test_config_error_exits_2_without_traceback(tmp_path):
    (tmp_path / "feedsvc.toml").write_text("[feeds]\npage_sise = 3\n", encoding="utf-8")
    result = feedsvc("ingest", cwd=tmp_path)
    assert result.returncode == 2
    assert "feeds.page_sise: unknown key" in result.stderr
    assert str(tmp_path / "feedsvc.toml") in result.stderr or "feedsvc.toml" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("argv", [["db", "upgrade"], ["sources", "--json"]])
def test_db_upgrade_and_sources(tmp_path, argv):
    config = write_config(tmp_path)
    result = feedsvc("--config", str(config), *argv, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    if argv[0] == "sources":
        assert json.loads(result.stdout)[0]["name"] == "posts"


def test_python_dash_m_works(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "feedsvc", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and "ingest" in result.stdout
