"""Markdown to sanitised HTML; TeX formulas become MathML (feedsvc.content.formulas)."""

from __future__ import annotations

import threading

import markdown
from markdown.extensions.toc import slugify_unicode

from feedsvc.content.formulas import MathExtension
from feedsvc.content.sanitize import sanitize_html

RENDER_VERSION = "2"  # bump when rendering changes: stored posts are then rendered again


def _new_markdown() -> markdown.Markdown:
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
            "codehilite": {"css_class": "highlight", "guess_lang": False, "noclasses": False},
            "toc": {"slugify": slugify_unicode, "permalink": False},
            "tables": {"use_align_attribute": True},
        },
        output_format="html",
    )


class RenderError(ValueError):
    """A body that cannot be rendered (e.g. nested too deeply); the message is the reason."""


_local = threading.local()


def render_markdown(text: str, base_url: str | None = None) -> str:
    """Render Markdown to sanitised HTML; relative links resolve against base_url.

    Raises RenderError when the body cannot be rendered. A failed render leaves no trace on the
    next one: the thread's Markdown instance is thrown away (a RecursionError half-way through
    leaves python-markdown's parser state broken, and ``reset()`` does not repair all of it).
    """
    md: markdown.Markdown | None = getattr(_local, "md", None)
    if md is None:
        md = _local.md = _new_markdown()  # Markdown objects are not thread-safe: one per thread
    try:
        html = md.convert(text)
        md.reset()
    except RecursionError:
        _local.md = None
        raise RenderError("the Markdown is nested too deeply to render") from None
    except Exception as exc:
        _local.md = None
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise RenderError(f"the Markdown cannot be rendered: {reason}") from exc
    try:
        return sanitize_html(html, base_url)
    except RecursionError:
        raise RenderError("the HTML is nested too deeply to sanitise") from None
