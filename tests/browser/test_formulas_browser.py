"""Formulas as a reader's browser lays them out: MathML, no script, fractions stacked."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_serve import Server

pytestmark = pytest.mark.e2e

MATH_POST = r"""---
title: 公式
date: 2026-01-03T10:00:00+08:00
---

行内 $\frac{a}{b}$ 与独立公式:

$$\sum_{i=1}^{n} x_i^2$$
"""


def box(page: Any, selector: str) -> dict[str, float]:
    found = page.locator(selector).first.bounding_box()
    assert found is not None, f"{selector} is not laid out"
    return found  # type: ignore[no-any-return]


def test_post_page_lays_out_mathml(
    site: Callable[..., Server], open_page: Callable[..., Any], output_dir: Path
) -> None:
    server = site({"math.md": MATH_POST})
    page = open_page(server.base + "/posts/math")
    page.screenshot(path=str(output_dir / "formulas.png"), full_page=True)
    # the page carries MathML (no script renders it: the CSP forbids inline script anyway)
    assert page.locator(".post-content math").count() == 2
    assert page.locator(".post-content script").count() == 0
    display = page.locator('.post-content math[display="block"]')
    assert display.count() == 1
    tex = page.locator(".post-content math annotation").all_text_contents()
    assert tex == [r"\frac{a}{b}", r"\sum_{i=1}^{n} x_i^2"]
    # MathML Core layout: the numerator sits above the denominator, the block formula has its
    # own line (wider than it is tall, below the paragraph)
    numerator, denominator = box(page, "mfrac > :nth-child(1)"), box(page, "mfrac > :nth-child(2)")
    assert numerator["y"] + numerator["height"] <= denominator["y"] + 1
    assert page.evaluate("getComputedStyle(document.querySelector('math[display=block]')).display")
    block, paragraph = box(page, 'math[display="block"]'), box(page, ".post-content p")
    assert block["y"] >= paragraph["y"] + paragraph["height"] - 1
    # the annotation (TeX source) is not shown as text
    annotation = page.locator(".post-content math annotation").first
    assert not annotation.is_visible()
