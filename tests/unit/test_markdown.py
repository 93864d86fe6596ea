"""Markdown rendering: extensions, math kept verbatim and marked, output sanitised."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feedsvc.content.markdown import RenderError, render_markdown
from tests.unit.test_sanitize import Node, parse

BASE = "https://example.org/posts/hello/"


def render(text: str, base_url: str | None = None) -> Node:
    return parse(render_markdown(text, base_url))


def classes(node: Node) -> set[str]:
    return set((node.attrs.get("class") or "").split())


def math_nodes(tree: Node) -> list[tuple[str, str]]:
    """(display, TeX annotation) of every formula, in document order; ("fallback", text) for TeX
    the converter could not read."""
    found = []
    for node in tree.iter():
        if node.tag == "math":
            semantics = [c for c in node.children if isinstance(c, Node)]
            assert [n.tag for n in semantics] == ["semantics"]
            parts = [c for c in semantics[0].children if isinstance(c, Node)]
            assert len(parts) == 2 and parts[0].tag.startswith("m"), parts
            assert parts[1].tag == "annotation"
            assert parts[1].attrs == {"encoding": "application/x-tex"}
            found.append((node.attrs.get("display") or "inline", parts[1].text()))
        elif node.tag == "code" and classes(node) == {"math-tex"}:
            found.append(("fallback", node.text()))
    return found


def test_fenced_code_gets_highlight_classes() -> None:
    tree = render("```python\ndef f(x):\n    return x\n```\n")
    (div,) = tree.iter("div")
    assert classes(div) == {"highlight"}
    code = div.iter("pre")[0].iter("code")[0]
    assert code.text() == "def f(x):\n    return x\n"
    keyword = [n for n in code.iter("span") if n.text() == "def"]
    assert keyword and classes(keyword[0]) == {"k"}
    assert all("style" not in n.attrs for n in tree.iter())


def test_fenced_code_without_language_is_not_guessed() -> None:
    tree = render("```\ndef f(x): return x\n```\n")
    assert [n for n in tree.iter("span") if n.text()] == []  # no token spans


def test_table() -> None:
    tree = render("| a | b |\n|:--|--:|\n| 1 | 2 |\n")
    assert [n.text() for n in tree.iter("th")] == ["a", "b"]
    assert [(n.text(), n.attrs.get("align")) for n in tree.iter("td")] == [
        ("1", "left"),
        ("2", "right"),
    ]


def test_footnotes() -> None:
    tree = render("Text[^1].\n\n[^1]: The note.\n")
    (sup,) = tree.iter("sup")
    assert sup.attrs["id"] == "fnref:1"
    assert sup.iter("a")[0].attrs["href"] == "#fn:1"
    footnote = [n for n in tree.iter("div") if classes(n) == {"footnote"}]
    assert len(footnote) == 1
    (item,) = footnote[0].iter("li")
    assert item.attrs["id"] == "fn:1" and item.text().strip().startswith("The note.")


def test_headings_get_ids() -> None:
    tree = render("# Hello World\n\n## 注意力机制\n\n## Hello World\n")
    assert [(n.tag, n.attrs["id"]) for n in tree.iter() if n.tag in ("h1", "h2")] == [
        ("h1", "hello-world"),
        ("h2", "注意力机制"),
        ("h2", "hello-world_1"),
    ]


ALIGNED = "\n\\begin{aligned}\na_1 &= b_1 \\\\\nc &= d\n\\end{aligned}\n"
MATH_CASES = {
    "dollar inline": (
        "$a_1 + b_2$ and $c*d*e$",
        [("inline", "a_1 + b_2"), ("inline", "c*d*e")],
    ),
    "dollar display": (r"$$\sum_{i=1}^n x_i$$", [("block", r"\sum_{i=1}^n x_i")]),
    "paren inline": (r"see \(x_a^*\) here", [("inline", "x_a^*")]),
    "bracket display": (r"\[x_1 \\ y_2\]", [("block", r"x_1 \\ y_2")]),
    "tex is escaped then decoded intact": (r"$a<b \& c>d$", [("inline", r"a<b \& c>d")]),
    "backslashes survive": (r"$\alpha\,\{x\}\_$", [("inline", r"\alpha\,\{x\}\_")]),
    "multi-line display": (f"$${ALIGNED}$$", [("block", ALIGNED)]),
    "prices are not math": ("It costs $5 and $10.", []),
    "closing dollar before a digit": ("prices of $1/$2 per unit", []),
    "code span inside dollars": ("$a `b_1` c$", []),
    "space inside dollars": ("a $ b $ c", []),
    "escaped dollars": (r"\$x_1\$ and \$y_2\$", []),
    "math in code span": ("`$a_1$` and `\\(x\\)`", []),
    "math in fenced code": ("```\n$a_1$ $$b$$\n```", []),
    "math in indented code": ("    $a_1$\n", []),
    "unreadable TeX stays as TeX": (r"$\frac{$ and \[x_\]", [("fallback", r"$\frac{$"),
                                                            ("fallback", r"\[x_\]")]),
    "braces nested too deep": ("$" + "{" * 3000 + "$", [("fallback", "$" + "{" * 3000 + "$")]),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(MATH_CASES))
def test_math(name: str) -> None:
    source, expected = MATH_CASES[name]
    tree = render(source)
    assert math_nodes(tree) == expected
    assert not tree.iter("em") and not tree.iter("strong")


def test_mathml_presentation_is_laid_out_from_the_tex() -> None:
    (math,) = render(r"$\frac{a}{b^2}$").iter("math")
    (frac,) = math.iter("mfrac")
    num, den = (c for c in frac.children if isinstance(c, Node))
    assert num.text() == "a"
    (sup,) = den.iter("msup")
    assert [c.text() for c in sup.children if isinstance(c, Node)] == ["b", "2"]
    # symbols are characters, not "&#x222B;" text, and the annotation is not in the layout
    (integral,) = render(r"$\int x$").iter("mo")
    assert integral.text() == "\u222b"


def test_math_literals_stay_literal() -> None:
    assert render("It costs $5 and $10.").text().strip() == "It costs $5 and $10."
    assert render(r"\$x_1\$ and \$y_2\$").text().strip() == "$x_1$ and $y_2$"
    assert render("`$a_1$`").iter("code")[0].text() == "$a_1$"
    assert render("$a `b_1` c$").text().strip() == "$a b_1 c$"


def test_display_math_is_lifted_out_of_its_paragraph() -> None:
    tree = render("即:\n$$\nx_1\n$$\n显然 $y$ 成立")
    top = [c for c in tree.children if isinstance(c, Node)]
    assert [(n.tag, n.attrs.get("display")) for n in top] == [
        ("p", None),
        ("math", "block"),
        ("p", None),
    ]
    assert top[0].text().strip() == "即:"
    assert math_nodes(top[1]) == [("block", "\nx_1\n")]
    assert math_nodes(top[2]) == [("inline", "y")]


@pytest.mark.parametrize(
    "source",
    [
        "<script>alert(1)</script>\n\ntext",
        "<img src=x onerror=alert(1)>",
        "[x](javascript:alert(1))",
        "[x](JAVASCRIPT:alert(1))",
        "![x](data:image/svg+xml;base64,PHN2Zz4=)",
        '<a href="vbscript:x" onclick="alert(1)">x</a>',
        "<iframe src='https://evil.example/'></iframe>",
    ],
)
def test_xss_neutralised(source: str) -> None:
    tree = render(source, BASE)
    assert not tree.iter("script") and not tree.iter("iframe")
    for node in tree.iter():
        assert not any(name.startswith("on") for name in node.attrs)
        for name in ("href", "src"):
            if name in node.attrs:
                assert (node.attrs[name] or "").startswith("https://example.org/")
    assert "alert" not in tree.text()


def test_relative_links_made_absolute() -> None:
    tree = render("![a](img/p.png) [b](../other/) [c](#fn:1) [d](https://x.org/)", BASE)
    assert tree.iter("img")[0].attrs["src"] == "https://example.org/posts/hello/img/p.png"
    assert [a.attrs["href"] for a in tree.iter("a")] == [
        "https://example.org/posts/other/",
        "#fn:1",
        "https://x.org/",
    ]


def test_raw_html_passes_through_the_sanitiser() -> None:
    tree = render(
        '<div class="note" style="color:red">Hi <kbd>Ctrl</kbd><marquee>m</marquee>'
        "</div>\n\n<p onclick='x()'>para</p>\n"
    )
    (div,) = tree.iter("div")
    assert div.attrs == {"class": "note"}
    assert div.iter("kbd")[0].text() == "Ctrl" and not div.iter("marquee")
    assert tree.iter("p")[0].attrs == {}


def test_sane_lists_do_not_mix_ordered_and_unordered() -> None:
    tree = render("1. a\n2. b\n\n* c\n")
    assert [n.text() for n in tree.iter("ol")[0].iter("li")] == ["a", "b"]
    assert [n.text() for n in tree.iter("ul")[0].iter("li")] == ["c"]


def test_output_is_deterministic_across_calls_and_threads() -> None:
    source = "# T\n\nx[^1] $a_b$\n\n```py\nx = 1\n```\n\n[^1]: n\n"
    first = render_markdown(source, BASE)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: render_markdown(source, BASE), range(16)))
    assert results == [first] * 16
    # State from a previous document (footnotes, heading ids) must not leak into the next one.
    render_markdown("# T\n\n[^1]: other\n\ny[^1]")
    assert render_markdown(source, BASE) == first


@given(st.text(st.characters(blacklist_categories=()), max_size=200))
def test_any_text_renders_to_well_nested_html(source: str) -> None:
    tree = parse(render_markdown(source, BASE))
    assert not tree.iter("script")


@pytest.mark.parametrize("deep", ["- " * 3000 + "x", "> " * 3000 + "x", "1. " * 3000 + "x"])
def test_a_failed_render_leaves_no_trace_on_the_next(deep: str) -> None:
    """Issue 12 item 4: a RecursionError once broke the thread's reused Markdown instance."""
    try:
        render_markdown(deep)
    except RenderError as exc:
        assert "nested too deeply" in str(exc)
    tree = render("first paragraph\n\nsecond *one*\n\n- item\n")
    top = [(c.tag, c.text().strip()) for c in tree.children if isinstance(c, Node)]
    assert top == [("p", "first paragraph"), ("p", "second one"), ("ul", "item")]


def test_a_deep_list_is_a_render_error() -> None:
    with pytest.raises(RenderError, match="nested too deeply"):
        render_markdown("- " * 3000 + "x")
    assert [p.text() for p in render("a\n\nb").iter("p")] == ["a", "b"]
