"""HTML sanitiser: allow-list of tags, attributes and URL schemes; relative URLs resolved."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feedsvc.content.sanitize import sanitize_html

BASE = "https://example.org/posts/hello/"
VOID = {"br", "hr", "img", "input", "meta", "link", "col", "wbr", "source"}


@dataclass
class Node:
    """A parsed element: enough structure to assert on without matching HTML strings."""

    tag: str
    attrs: dict[str, str | None] = field(default_factory=dict)
    children: list[Node | str] = field(default_factory=list)

    def iter(self, tag: str | None = None) -> list[Node]:
        found = [self] if tag in (None, self.tag) else []
        for child in self.children:
            if isinstance(child, Node):
                found += child.iter(tag)
        return found

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack = [Node("#root")]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, dict(attrs))
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack[-1].tag == tag, f"mis-nested </{tag}> in sanitiser output"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(html: str) -> Node:
    """Parse an HTML fragment into a Node tree, asserting it is well nested."""
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    assert len(builder.stack) == 1, "unclosed element in sanitiser output"
    return builder.stack[0]


def all_attrs(tree: Node) -> list[tuple[str, str, str | None]]:
    return [(n.tag, k, v) for n in tree.iter() for k, v in n.attrs.items()]


DANGEROUS = {
    "script": "<p>a</p><script>alert(1)</script>",
    "style": "<style>body{display:none}</style><p>a</p>",
    "iframe": '<iframe src="https://evil.example/"></iframe><p>a</p>',
    "object and embed": '<object data="x.swf"></object><embed src="x.swf"><p>a</p>',
    "form": '<form action="https://evil.example/"><input name="q"><p>a</p></form>',
    "onerror": '<img src="x" onerror="alert(1)"><p onclick="alert(1)">a</p>',
    "javascript href": '<a href="javascript:alert(1)">a</a>',
    "javascript href obfuscated": '<a href="JaVa&#x09;ScRiPt:alert(1)">a</a>',
    "vbscript href": '<a href="vbscript:msgbox(1)">a</a>',
    "data href": '<a href="data:text/html,<script>alert(1)</script>">a</a>',
    "data img": '<img src="data:image/svg+xml,<svg onload=alert(1)>"><p>a</p>',
    "style attribute": '<td style="background:url(javascript:alert(1))">a</td>',
    "svg": "<svg><script>alert(1)</script></svg><p>a</p>",
}


@pytest.mark.parametrize("name", sorted(DANGEROUS))
def test_dangerous_markup_is_removed(name: str) -> None:
    tree = parse(sanitize_html(DANGEROUS[name], BASE))
    tags = {n.tag for n in tree.iter()} - {"#root"}
    assert tags <= {"p", "a", "img", "table", "tbody", "tr", "td"}
    for _tag, attr, value in all_attrs(tree):
        assert not attr.startswith("on") and attr != "style"
        if attr in ("href", "src"):
            assert value is not None and value.startswith(("https://", "http://", "#"))
    assert "alert" not in tree.text()


def test_allowed_structure_survives() -> None:
    source = (
        '<h2 id="intro">Intro</h2><p><em>e</em><strong>s</strong><del>d</del>x<sup>2</sup>'
        'H<sub>2</sub>O<br><abbr title="Softmax">SM</abbr></p><hr><blockquote><p>q</p></blockquote>'
        '<ul><li>u</li></ul><ol start="3"><li>o</li></ol><dl><dt>t</dt><dd>d</dd></dl>'
        '<figure><img src="https://x.org/a.png" alt="A" title="T" width="10" height="20">'
        "<figcaption>c</figcaption></figure>"
        '<table><thead><tr><th align="left">h</th></tr></thead>'
        '<tbody><tr><td align="right">1</td></tr></tbody></table>'
    )
    tree = parse(sanitize_html(source))
    assert tree.iter("h2")[0].attrs == {"id": "intro"}
    assert tree.iter("abbr")[0].attrs == {"title": "Softmax"}
    assert tree.iter("ol")[0].attrs == {"start": "3"}
    assert tree.iter("img")[0].attrs == {
        "src": "https://x.org/a.png",
        "alt": "A",
        "title": "T",
        "width": "10",
        "height": "20",
    }
    assert tree.iter("th")[0].attrs == {"align": "left"}
    assert tree.iter("td")[0].attrs == {"align": "right"}
    for tag in (
        "em",
        "strong",
        "del",
        "sup",
        "sub",
        "br",
        "hr",
        "blockquote",
        "ul",
        "li",
        "dl",
        "dt",
        "dd",
        "figure",
        "figcaption",
        "thead",
        "tbody",
        "tr",
    ):
        assert tree.iter(tag), tag


def test_classes_kept_for_highlighting_math_and_footnotes() -> None:
    source = (
        '<div class="highlight"><pre class="p"><span class="k">def</span>'
        '<code class="language-py">x</code></pre></div>'
        '<span class="math inline">\\(x_1\\)</span><div class="math display">\\[y\\]</div>'
        '<p>t<sup id="fnref:1"><a class="footnote-ref" href="#fn:1">1</a></sup></p>'
        '<div class="footnote"><ol><li id="fn:1"><p>n</p></li></ol></div>'
        '<p class="dropped">p</p>'
    )
    tree = parse(sanitize_html(source, BASE))
    classes = {(n.tag, n.attrs.get("class")) for n in tree.iter() if "class" in n.attrs}
    assert classes == {
        ("div", "highlight"),
        ("pre", "p"),
        ("span", "k"),
        ("code", "language-py"),
        ("span", "math inline"),
        ("div", "math display"),
        ("a", "footnote-ref"),
        ("div", "footnote"),
    }
    assert tree.iter("a")[0].attrs["href"] == "#fn:1"  # fragment-only: not made absolute
    assert tree.iter("sup")[0].attrs == {"id": "fnref:1"}
    assert tree.iter("li")[0].attrs == {"id": "fn:1"}
    assert tree.iter("span")[1].text() == "\\(x_1\\)"


@pytest.mark.parametrize(
    ("href", "expected"),
    [
        ("img/p.png", "https://example.org/posts/hello/img/p.png"),
        ("../other/", "https://example.org/posts/other/"),
        ("/about", "https://example.org/about"),
        ("?page=2", "https://example.org/posts/hello/?page=2"),
        ("//cdn.example.net/x.png", "https://cdn.example.net/x.png"),
        ("#fn:1", "#fn:1"),
        ("https://other.example/a", "https://other.example/a"),
        ("mailto:me@example.org", "mailto:me@example.org"),
    ],
)
def test_relative_urls_resolved_against_base(href: str, expected: str) -> None:
    tree = parse(sanitize_html(f'<a href="{href}">a</a><img src="{href}">', BASE))
    assert tree.iter("a")[0].attrs["href"] == expected
    assert tree.iter("img")[0].attrs["src"] == expected


def test_relative_urls_left_alone_without_base() -> None:
    tree = parse(sanitize_html('<a href="../x/">a</a>'))
    assert tree.iter("a")[0].attrs["href"] == "../x/"


def test_control_characters_stripped_even_from_references() -> None:
    tree = parse(sanitize_html("<p>a\x01b&#x1;c&#x7f;d&#xfffe;e\x9ff&#x85;</p>"))
    assert tree.text() == "abcdef\u2026"  # HTML maps &#x85; to U+2026 (windows-1252)


@given(st.text(st.characters(blacklist_categories=())))
def test_any_input_gives_well_nested_safe_html(source: str) -> None:
    out = sanitize_html(source, BASE)
    tree = parse(out)
    assert not {n.tag for n in tree.iter()} & {"script", "style", "iframe", "object", "embed"}
    assert not any(attr.startswith("on") for _tag, attr, _v in all_attrs(tree))
    assert not any(0xD800 <= ord(ch) <= 0xDFFF or ord(ch) < 9 for ch in out)
