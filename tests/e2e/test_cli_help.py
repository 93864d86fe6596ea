"""Issue 14 item 2: ``feedsvc --version`` and help for every option, defaults shown."""

from __future__ import annotations

import argparse
import re
import subprocess
from collections.abc import Iterator

import pytest

from feedsvc import __version__
from feedsvc.cli.main import build_parser
from tests.e2e.test_serve import clean_env, feedsvc_command

pytestmark = pytest.mark.e2e


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*feedsvc_command(), *args], capture_output=True, text=True, env=clean_env(), timeout=60,
        check=False,
    )  # fmt: skip


def commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from commands(sub, (*path, name))


def test_version() -> None:
    result = run("--version")
    assert (result.returncode, result.stdout) == (0, f"feedsvc {__version__}\n")


@pytest.mark.parametrize("path", [p for p, _ in commands(build_parser())], ids=" ".join)
def test_every_option_has_help_and_shows_its_default(path: tuple[str, ...]) -> None:
    parser = dict(commands(build_parser()))[path]
    result = run(*path, "--help")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) or action.help == argparse.SUPPRESS:
            continue
        assert action.help, f"{' '.join(path)} {action.option_strings or action.dest}: no help"
        if action.default not in (None, [], False, argparse.SUPPRESS):
            shown = re.search(r"\(default: ([^)]*)\)", text[text.index(action.help.split()[0]) :])
            assert shown, f"{action.dest}: default not shown in\n{result.stdout}"
