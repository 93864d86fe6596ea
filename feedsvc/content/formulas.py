"""TeX formulas in Markdown become MathML at render time (latex2mathml), with the TeX kept.

Inline ``$…$`` and ``\\(…\\)``, display ``$$…$$`` and ``\\[…\\]`` become
``<math [display="block"]><semantics>PRESENTATION<annotation encoding="application/x-tex">TEX
</annotation></semantics></math>``: browsers lay MathML Core out natively, feed readers keep it,
and the TeX stays for copy-paste. A formula the converter cannot read stays as readable TeX in
``<code class="math-tex">`` (never an error that drops the post).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as etree

import markdown
from latex2mathml.converter import convert_to_element
from markdown.extensions import Extension
from markdown.inlinepatterns import InlineProcessor
from markdown.treeprocessors import Treeprocessor
from markdown.util import STX, AtomicString

# Order matters: $$ before $, and backslash forms before python-markdown's escapes see them.
# Inline $…$ follows pandoc: no space just inside either $, and no digit right after the
# closing $, so "$5 and $10" stays text.
MATH_RE = (
    r"(?<!\\)\$\$(?P<dollar_display>.+?)\$\$"
    r"|(?<!\\)\\\[(?P<bracket_display>.+?)\\\]"
    r"|(?<!\\)\\\((?P<paren_inline>.+?)\\\)"
    r"|(?<![\\$])\$(?![\s$])(?P<dollar_inline>(?:\\.|[^\\$])+?)(?<![\s\\])\$(?![\d$])"
)
TEX_ENCODING = "application/x-tex"
FALLBACK_CLASS = "math-tex"  # <code class="math-tex">: a formula left as TeX
_CHARREF = re.compile(r"&#x([0-9A-Fa-f]{1,6});")


def _char(match: re.Match[str]) -> str:
    code = int(match.group(1), 16)
    return chr(code) if code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"


def _atomic(text: str | None) -> str | None:
    """latex2mathml writes symbols as "&#x222B;" text: the character itself, safe from patterns."""
    return None if text is None else AtomicString(_CHARREF.sub(_char, text))


def tex_to_mathml(tex: str, *, display: bool) -> etree.Element | None:
    """The MathML element for a TeX formula, or None when the converter cannot read it."""
    try:
        converted = convert_to_element(tex, display="block" if display else "inline")
    except RecursionError:  # braces nested thousands deep
        return None
    except Exception:  # latex2mathml's own errors, and IndexError & co. on TeX it cannot read
        return None
    math = etree.Element("math", {"display": "block"} if display else {})
    semantics = etree.SubElement(math, "semantics")
    presentation = list(converted)
    if len(presentation) == 1:
        semantics.append(presentation[0])
    else:  # <semantics> takes one presentation child
        etree.SubElement(semantics, "mrow").extend(presentation)
    for el in semantics.iter():
        el.text, el.tail = _atomic(el.text), _atomic(el.tail)
    annotation = etree.SubElement(semantics, "annotation", {"encoding": TEX_ENCODING})
    annotation.text = AtomicString(tex)
    return math


def fallback(source: str) -> etree.Element:
    """A formula the converter cannot read: its TeX as written, readable, in a code span."""
    el = etree.Element("code", {"class": FALLBACK_CLASS})
    el.text = AtomicString(source)
    return el


class _MathInline(InlineProcessor):
    """Turn a math span into MathML (or its fallback) that no later pattern may touch."""

    def handleMatch(  # type: ignore[override]
        self, m: re.Match[str], data: str
    ) -> tuple[etree.Element | None, int | None, int | None]:
        groups = m.groupdict()
        display = groups["dollar_display"] or groups["bracket_display"]
        inline = groups["paren_inline"] or groups["dollar_inline"]
        tex = display if display is not None else inline
        # A stash marker means a code span sits inside: leave that text to the code pattern.
        if tex is None or STX in tex:
            return None, None, None
        el = tex_to_mathml(tex, display=display is not None)
        return (el if el is not None else fallback(m.group(0))), m.start(0), m.end(0)


def _is_display(el: etree.Element) -> bool:
    return el.tag == "math" and el.get("display") == "block"


def _has_content(p: etree.Element) -> bool:
    return bool((p.text or "").strip()) or len(p) > 0


def _split_paragraph(p: etree.Element) -> list[etree.Element]:
    """Split <p> around display math, so a formula on its own lines is a block of its own."""
    parts: list[etree.Element] = []
    current = etree.Element("p")
    current.text = p.text
    for child in list(p):
        if not _is_display(child):
            current.append(child)
            continue
        if _has_content(current):
            parts.append(current)
        current = etree.Element("p")
        current.text, child.tail = child.tail, None
        parts.append(child)
    if _has_content(current):
        parts.append(current)
    parts[-1].tail = p.tail
    return parts


class _DisplayMathLifter(Treeprocessor):
    """Move display math out of paragraphs (runs after inline patterns have made it)."""

    def run(self, root: etree.Element) -> None:
        for parent in list(root.iter()):
            for index in reversed(range(len(parent))):
                child = parent[index]
                if child.tag == "p" and any(_is_display(c) for c in child):
                    parent[index : index + 1] = _split_paragraph(child)


class MathExtension(Extension):
    """$…$, \\(…\\), $$…$$ and \\[…\\] as MathML; `\\$` is a literal dollar."""

    def extendMarkdown(self, md: markdown.Markdown) -> None:
        md.ESCAPED_CHARS.append("$")
        # 185: after code spans (190) so math in code is left alone, before escapes (180).
        md.inlinePatterns.register(_MathInline(MATH_RE, md), "math", 185)
        md.treeprocessors.register(_DisplayMathLifter(md), "display_math", 19)
