"""Markdown to sanitised HTML; TeX formulas become MathML (feedsvc.content.formulas)."""

from __future__ import annotations

import threading

import markdown
from markdown.extensions.toc import slugify_unicode

from feedsvc.content.formulas import MathExtension
from feedsvc.content.messages import message_language, messages_for
from feedsvc.content.sanitize import sanitize_html

RENDER_VERSION = "2"  # bump when rendering changes: stored posts are then rendered again
CODE_CLASS = "highlight"  # codehilite's wrapper <div>; content/codestyle.py colours it


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


def render_stamp(language: str | None) -> str:
    """What a post's stored HTML was made by: the renderer and the page-text language (footnote
    back-link titles are in the site's language). A post with another stamp is rendered again."""
    return f"{RENDER_VERSION}-{message_language(language)}"


class RenderError(ValueError):
    """A body that cannot be rendered (e.g. nested too deeply); the message is the reason."""


_local = threading.local()


def render_markdown(text: str, base_url: str | None = None, language: str | None = None) -> str:
    """Render Markdown to sanitised HTML; relative links resolve against base_url.

    ``language`` (the site's) chooses the words the HTML carries: footnote back-link titles.

    Raises RenderError when the body cannot be rendered. A failed render leaves no trace on the
    next one: the thread's Markdown instance is thrown away (a RecursionError half-way through
    leaves python-markdown's parser state broken, and ``reset()`` does not repair all of it).
    """
    backlink_title = messages_for(language).footnote_backlink
    instances: dict[str, markdown.Markdown] = _local.__dict__.setdefault("md", {})
    md = instances.get(backlink_title)
    if md is None:
        # Markdown objects are not thread-safe: one per thread (and per language)
        md = instances[backlink_title] = _new_markdown(backlink_title)
    try:
        html = md.convert(text)
        md.reset()
    except RecursionError:
        instances.pop(backlink_title, None)
        raise RenderError("the Markdown is nested too deeply to render") from None
    except Exception as exc:
        instances.pop(backlink_title, None)
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise RenderError(f"the Markdown cannot be rendered: {reason}") from exc
    try:
        return sanitize_html(html, base_url)
    except RecursionError:
        raise RenderError("the HTML is nested too deeply to sanitise") from None
