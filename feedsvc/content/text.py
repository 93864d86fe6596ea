"""Plain-text cleaning shared by rendering, summaries and feeds (pure functions)."""

from __future__ import annotations

import re
import unicodedata

# XML 1.0 §2.2 Char excludes C0 controls other than tab/LF/CR, surrogates, U+FFFE and U+FFFF;
# DEL and the C1 block are legal XML but invisible junk in a feed, so they go too.
_DISALLOWED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def strip_control_chars(text: str) -> str:
    """Remove characters that XML 1.0 forbids plus the C0/C1 controls; keep everything else."""
    return _DISALLOWED.sub("", text)


def collapse_whitespace(text: str) -> str:
    """Turn every run of whitespace (Unicode-aware) into one space and strip both ends."""
    return " ".join(text.split())


_SLUG_STRIP = re.compile(r"[^\w\s-]", re.UNICODE)
_SLUG_DASH = re.compile(r"[\s_-]+", re.UNICODE)
MAX_SLUG_LENGTH = 200


def slugify(value: str) -> str:
    """A URL slug that keeps letters of every script ("深度学习" stays readable)."""
    value = unicodedata.normalize("NFKC", value).lower()
    value = _SLUG_STRIP.sub("", value)
    return _SLUG_DASH.sub("-", value).strip("-")[:MAX_SLUG_LENGTH].rstrip("-")
