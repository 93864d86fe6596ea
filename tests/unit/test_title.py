"""A body that begins with its title as a heading leaves that heading out (issue 13 item 5)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feedsvc.content.markdown import render_markdown
from feedsvc.content.title import without_title_heading
from tests.unit.test_sanitize import Node, parse


def top(html: str) -> list[tuple[str, str]]:
    return [(c.tag, c.text().strip()) for c in parse(html).children if isinstance(c, Node)]


@pytest.mark.parametrize(
    ("markdown", "title"),
    [
        ("# Softmax 与数值稳定性\n\nbody", "Softmax 与数值稳定性"),
        ("#   softmax   与数值稳定性  \n\nbody", "Softmax 与数值稳定性"),  # whitespace, case
        ("## Ｓｏｆｔｍａｘ\n\nbody", "Softmax"),  # full-width letters (NFKC)
        ("Softmax *Notes*\n===\n\nbody", "softmax notes"),  # setext, inline markup
        ("\n\n# T\n\nbody", "T"),
    ],
)
def test_a_leading_heading_equal_to_the_title_goes(markdown: str, title: str) -> None:
    assert top(without_title_heading(render_markdown(markdown), title)) == [("p", "body")]


@pytest.mark.parametrize(
    ("markdown", "title"),
    [
        ("# Another heading\n\nbody", "Softmax"),  # not the title
        ("intro\n\n# Softmax\n\nbody", "Softmax"),  # not where the body begins
        ("# Softmax in practice\n\nbody", "Softmax"),  # only the same words
        ("# x\n\nbody", ""),
    ],
)
def test_other_headings_stay(markdown: str, title: str) -> None:
    html = render_markdown(markdown)
    assert without_title_heading(html, title) == html


def test_only_the_first_heading_goes() -> None:
    html = render_markdown("# T\n\n# T\n\nbody")
    assert top(without_title_heading(html, "T")) == [("h1", "T"), ("p", "body")]


@given(st.text(max_size=40), st.text(max_size=80))
def test_never_more_than_the_heading_goes(title: str, body: str) -> None:
    html = render_markdown(body)
    out = without_title_heading(html, title)
    first = next((c for c in parse(html).children if isinstance(c, Node)), None)
    assert out == html or (html.endswith(out) and first is not None and first.tag[:1] == "h")
