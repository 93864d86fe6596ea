"""A post's body that begins with its own title as a heading: that heading is left out.

The title is shown by whatever shows the post (the page's <h1>, a reader's entry title), so a
body starting with ``# <title>`` would show it twice, and its summary would start with it again.
"""

from __future__ import annotations

import re
import unicodedata

from feedsvc.content.summary import html_to_text

# Sanitised HTML (nh3 writes tags one way): a leading <h1>…<h6>, up to its own end tag.
_LEADING_HEADING = re.compile(r"\A\s*<h([1-6])(?:\s[^>]*)?>(.*?)</h\1>\s*", re.DOTALL)


def _normal(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def without_title_heading(html: str, title: str) -> str:
    """``html`` without a first heading whose text equals ``title`` (whitespace and case aside)."""
    match = _LEADING_HEADING.match(html)
    if match is None or not _normal(title):
        return html
    heading = html_to_text(match.group(2), formula="", code="")
    return html[match.end() :] if _normal(heading) == _normal(title) else html
