"""Markdown to sanitised HTML, with TeX math kept intact and marked for client-side rendering."""

from __future__ import annotations

import re
import threading
import xml.etree.ElementTree as etree

import markdown
from markdown.extensions import Extension
from markdown.extensions.toc import slugify_unicode
from markdown.inlinepatterns import InlineProcessor
from markdown.treeprocessors import Treeprocessor
from markdown.util import STX, AtomicString

from feedsvc.content.messages import messages_for
from feedsvc.content.sanitize import sanitize_html

# Order matters: $$ before $, and backslash forms before python-markdown's escapes see them.
# Inline $…$ follows pandoc: no space just inside either $, and no digit right after the
# closing $, so "$5 and $10" stays text.
MATH_RE = (
    r"(?<!\\)\$\$(?P<dollar_display>.+?)\$\$"
    r"|(?<!\\)\\\[(?P<bracket_display>.+?)\\\]"
    r"|(?<!\\)\\\((?P<paren_inline>.+?)\\\)"
    r"|(?<![\\$])\$(?![\s$])(?P<dollar_inline>(?:\\.|[^\\$])+?)(?<![\s\\])\$(?![\d$])"
)
RENDER_VERSION = "1"  # bump when rendering changes: every stored post is then rendered again
DISPLAY_CLASS = "math display"
INLINE_CLASS = "math inline"
CODE_CLASS = "highlight"  # codehilite's wrapper <div>; content/codestyle.py colours it


class _MathInline(InlineProcessor):
    """Turn a math span into an element whose TeX text no later pattern may touch."""

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
        if display is not None:
            el = etree.Element("div", {"class": DISPLAY_CLASS})
            el.text = AtomicString(f"\\[{tex}\\]")
        else:
            el = etree.Element("span", {"class": INLINE_CLASS})
            el.text = AtomicString(f"\\({tex}\\)")
        return el, m.start(0), m.end(0)


def _is_display(el: etree.Element) -> bool:
    return el.tag == "div" and el.get("class") == DISPLAY_CLASS


def _has_content(p: etree.Element) -> bool:
    return bool((p.text or "").strip()) or len(p) > 0


def _split_paragraph(p: etree.Element) -> list[etree.Element]:
    """Split <p> around display-math divs, since a div inside a p is invalid HTML."""
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
    """Move display math out of paragraphs (runs after inline patterns have made the divs)."""

    def run(self, root: etree.Element) -> None:
        for parent in list(root.iter()):
            for index in reversed(range(len(parent))):
                child = parent[index]
                if child.tag == "p" and any(_is_display(c) for c in child):
                    parent[index : index + 1] = _split_paragraph(child)


class MathExtension(Extension):
    """Keep $…$, \\(…\\), $$…$$ and \\[…\\] verbatim; `\\$` is a literal dollar."""

    def extendMarkdown(self, md: markdown.Markdown) -> None:
        md.ESCAPED_CHARS.append("$")
        # 185: after code spans (190) so math in code is left alone, before escapes (180).
        md.inlinePatterns.register(_MathInline(MATH_RE, md), "math", 185)
        md.treeprocessors.register(_DisplayMathLifter(md), "display_math", 19)


def _new_markdown(backlink_title: str) -> markdown.Markdown:
    return markdown.Markdown(
        extensions=[
            "fenced_code",
            "tables",
            "footnotes",
            "toc",
            "codehilite",
            "sane_lists",
            MathExtension(),
        ],
        extension_configs={
            "codehilite": {"css_class": CODE_CLASS, "guess_lang": False, "noclasses": False},
            "toc": {"slugify": slugify_unicode, "permalink": False},
            "tables": {"use_align_attribute": True},
            "footnotes": {"BACKLINK_TITLE": backlink_title},
        },
        output_format="html",
    )


_local = threading.local()


def render_markdown(text: str, base_url: str | None = None, language: str | None = None) -> str:
    """Render Markdown to sanitised HTML; relative links resolve against base_url.

    ``language`` (the site's) chooses the words the HTML carries: footnote back-link titles.
    """
    backlink_title = messages_for(language).footnote_backlink
    instances: dict[str, markdown.Markdown] = _local.__dict__.setdefault("md", {})
    md = instances.get(backlink_title)
    if md is None:
        # Markdown objects are not thread-safe: one per thread (and per language)
        md = instances[backlink_title] = _new_markdown(backlink_title)
    try:
        html = md.convert(text)
    finally:
        md.reset()
    return sanitize_html(html, base_url)
