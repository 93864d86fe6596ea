"""Formulas as MathML: the sanitiser keeps safe MathML Core and strips the rest; any TeX renders."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feedsvc.content.markdown import render_markdown
from feedsvc.content.mathml import MATHML_ATTRIBUTES, MATHML_TAGS
from feedsvc.content.sanitize import ATTRIBUTES, TAGS, sanitize_html
from tests.unit.test_sanitize import Node, all_attrs, parse

BASE = "https://example.org/posts/hello/"
TEX = "application/x-tex"


def kept(html: str) -> Node:
    return parse(sanitize_html(html, BASE))


def test_safe_mathml_survives_with_its_annotation() -> None:
    source = (
        '<p>x <math display="block"><semantics><mrow><mfrac linethickness="0">'
        '<mi mathvariant="normal">d</mi><mn>2</mn></mfrac><mo stretchy="false" lspace="0">(</mo>'
        '<msubsup><mo largeop="true">∑</mo><mn>0</mn><mi>n</mi></msubsup>'
        '<mspace width="0.167em"></mspace><mtable><mtr><mtd rowspan="1"><mtext>a</mtext></mtd>'
        '</mtr></mtable><mstyle mathcolor="red" displaystyle="true"><msqrt><mi>x</mi></msqrt>'
        "</mstyle></mrow>"
        f'<annotation encoding="{TEX}">\\frac{{d}}{{2}}</annotation></semantics></math></p>'
    )
    tree = kept(source)
    (math,) = tree.iter("math")
    assert math.attrs == {"display": "block"}
    for tag in ("semantics", "mfrac", "mi", "mn", "mo", "msubsup", "mspace", "mtable", "mtd",
                "mtext", "mstyle", "msqrt"):  # fmt: skip
        assert tree.iter(tag), tag
    assert tree.iter("mfrac")[0].attrs == {"linethickness": "0"}
    assert tree.iter("mi")[0].attrs == {"mathvariant": "normal"}
    assert tree.iter("mo")[0].attrs == {"stretchy": "false", "lspace": "0"}
    assert tree.iter("mstyle")[0].attrs == {"mathcolor": "red", "displaystyle": "true"}
    (annotation,) = tree.iter("annotation")
    assert annotation.attrs == {"encoding": TEX} and annotation.text() == "\\frac{d}{2}"


DANGEROUS_MATH = {
    "href on mrow": '<math><mrow href="javascript:alert(1)"><mi>x</mi></mrow></math>',
    "href on mi": '<math><mi href="https://evil.example/">x</mi></math>',
    "xlink href": '<math><mi xlink:href="javascript:alert(1)">x</mi></math>',
    "handler": '<math onmouseover="alert(1)"><mi onclick="alert(1)">x</mi></math>',
    "style and class": '<math><mi style="position:fixed" class="overlay">x</mi></math>',
    "maction": '<math><maction actiontype="statusline"><mi>x</mi><mtext>m</mtext></maction></math>',
    "annotation-xml with html": (
        '<math><semantics><mi>x</mi><annotation-xml encoding="text/html">'
        '<a href="javascript:alert(1)">alert</a><img src=x onerror=alert(1)></annotation-xml>'
        "</semantics></math>"
    ),
    "annotation-xml with svg": (
        '<math><semantics><mi>x</mi><annotation-xml encoding="image/svg+xml"><svg>'
        "<script>alert(1)</script></svg></annotation-xml></semantics></math>"
    ),
    "annotation of an untrusted type": (
        '<math><semantics><mi>x</mi><annotation encoding="text/html">'
        "<img src=x onerror=alert(1)></annotation></semantics></math>"
    ),
    "script in mtext": "<math><mtext><script>alert(1)</script></mtext></math>",
    "style in mi (namespace confusion)": "<math><mi><style><img src=x onerror=alert(1)>",
    "mglyph src": '<math><mglyph src="https://evil.example/t.png"></mglyph></math>',
    "menclose (not Core)": '<math><menclose notation="box"><mi>x</mi></menclose></math>',
}


@pytest.mark.parametrize("name", sorted(DANGEROUS_MATH))
def test_dangerous_mathml_is_stripped(name: str) -> None:
    tree = kept(DANGEROUS_MATH[name])
    tags = {n.tag for n in tree.iter()} - {"#root"}
    assert tags <= MATHML_TAGS | {"img"}, tags
    assert not tags & {"maction", "annotation-xml", "svg", "script", "style", "mglyph", "a"}
    for tag, attr, value in all_attrs(tree):
        assert not attr.startswith("on") and attr not in ("style", "class", "href", "xlink:href")
        if tag == "annotation" and attr == "encoding":
            assert value == TEX
        if attr == "src":
            assert value == BASE + "x"  # an <img> the parser moved out of MathML: sanitised HTML


def test_only_mathml_core_is_allowed() -> None:
    core = set(
        "math merror mfrac mi mmultiscripts mn mo mover mpadded mphantom mprescripts mroot mrow "
        "ms mspace msqrt mstyle msub msubsup msup mtable mtd mtext mtr munder munderover "
        "semantics annotation".split()
    )
    assert core == MATHML_TAGS <= TAGS
    for tag in MATHML_TAGS:
        assert ATTRIBUTES[tag] == MATHML_ATTRIBUTES[tag]
        assert not ATTRIBUTES[tag] & {"href", "src", "style", "class", "id", "xmlns"}


def test_maction_keeps_its_children_as_content() -> None:
    tree = kept("<math><maction><mi>x</mi><mn>1</mn></maction></math>")
    (math,) = tree.iter("math")
    assert [c.tag for c in math.children if isinstance(c, Node)] == ["mi", "mn"]


# Random TeX-ish strings: commands, braces, scripts, environments, delimiters and junk.
TEX_TOKENS = st.sampled_from(
    [r"\frac", r"\sqrt", r"\left(", r"\right)", r"\begin{matrix}", r"\end{matrix}",
     r"\begin{cases}", r"\end{cases}", r"\text{", r"\href{javascript:alert(1)}{", r"\style{",
     r"\color{red}", r"\mathrm", r"\mathbb", r"\unknown", r"\\", "&", "{", "}", "^", "_", "x",
     "1", " ", "<", ">", "<script>", '"', "'", "\\", "$", r"\$", "`", "*", "_x_", "\n", "#",
     r"\int", r"\sum", r"\limits", r"\over", "[", "]", "(", ")", "|", r"\|", r"\{", r"\}",
     r"\operatorname{", r"\overset", r"\hat", r"\binom", "\u0000", "\ud7ff", "\U0001d400"]
)  # fmt: skip
TEX_ISH = st.lists(TEX_TOKENS | st.text(max_size=3), max_size=25).map("".join)
DELIMITERS = st.sampled_from([("$", "$"), ("$$", "$$"), ("\\(", "\\)"), ("\\[", "\\]")])


@given(tex=TEX_ISH, delimiters=DELIMITERS)
def test_any_tex_renders_and_the_output_is_sanitised(tex: str, delimiters: tuple[str, str]) -> None:
    opening, closing = delimiters
    html = render_markdown(f"before {opening}{tex}{closing} after\n", BASE)
    assert sanitize_html(html, BASE) == html  # already what the sanitiser would let through
    tree = parse(html)
    for node in tree.iter():
        assert node.tag in TAGS or node.tag == "#root"
        assert set(node.attrs) <= ATTRIBUTES.get(node.tag, set()), (node.tag, node.attrs)
    for node in tree.iter("annotation"):
        assert node.attrs == {"encoding": TEX}
    formulas = tree.iter("math") + [c for c in tree.iter("code") if c.attrs.get("class")]
    assert all(f.tag == "math" or f.attrs == {"class": "math-tex"} for f in formulas)
