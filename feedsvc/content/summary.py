"""Plain-text excerpts of post HTML: formulas and code blocks shown as placeholders, cut safely."""

from __future__ import annotations

from html.parser import HTMLParser

import regex

from feedsvc.content.text import collapse_whitespace, strip_control_chars

FORMULA_PLACEHOLDERS = {"zh": "[公式]", "default": "[formula]"}
CODE_PLACEHOLDERS = {"zh": "[代码]", "default": "[code]"}
ELLIPSIS = "..."

_CJK_LANGUAGES = ("zh", "ja", "ko")
# Elements that start a new line of text: their edges become spaces when text is joined.
_BLOCKS = frozenset(
    "address article aside blockquote br caption dd details div dl dt figcaption figure footer "
    "h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section summary table tbody td tfoot th "
    "thead tr ul".split()
)
_VOID = frozenset("area base br col embed hr img input link meta param source track wbr".split())
# Never text: the contents go with the element.
_HIDDEN = frozenset("script style template noscript head title svg textarea select".split())
_FOOTNOTE_CLASSES = frozenset({"footnote", "footnotes", "footnote-ref", "footnote-backref"})
_CODE_BLOCK_CLASSES = frozenset({"highlight", "codehilite"})
# MathML is the formula; "math" marks client-rendered TeX upstream, "math-tex" our fallback.
_FORMULA_CLASSES = frozenset({"math", "math-tex"})
# Trailing clusters dropped before the ellipsis in word mode ("foo, ..." reads badly).
_TRAILING_JUNK = frozenset(",;:、，；：")
_WORD_WINDOW = 0.3  # word mode looks for a space only in the last 30% of the limit


def _primary(language: str | None) -> str:
    return (language or "").strip().lower().replace("_", "-").split("-")[0]


def placeholders_for(language: str | None) -> tuple[str, str]:
    """(formula, code) placeholders for a site language: Chinese ones for zh*, else English."""
    key = "zh" if _primary(language) == "zh" else "default"
    return FORMULA_PLACEHOLDERS[key], CODE_PLACEHOLDERS[key]


def is_cjk_language(language: str | None) -> bool:
    """True for Chinese, Japanese and Korean, whatever the region or script subtag."""
    return _primary(language) in _CJK_LANGUAGES


class _TextExtractor(HTMLParser):
    """Collect visible text; swap formulas and code blocks for placeholders; skip footnotes."""

    def __init__(self, formula: str, code: str) -> None:
        super().__init__(convert_charrefs=True)
        self.formula, self.code = formula, code
        self.parts: list[str] = []
        self.lists: list[int | None] = []  # next number per open list; None for <ul>
        self.skip_tag: str | None = None  # while set, everything up to its close is dropped
        self.skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.skip_tag is not None:
            if tag == self.skip_tag and tag not in _VOID:
                self.skip_depth += 1  # same tag nested inside: its end tag is not ours
            return
        attr = {name: value or "" for name, value in attrs}
        replacement = self._replacement(tag, attr)
        if replacement is not None:
            pad = " " if tag in _BLOCKS else ""
            self.parts.append(f"{pad}{replacement}{pad}")
            if tag not in _VOID:
                self.skip_tag, self.skip_depth = tag, 1
            return
        if tag in _BLOCKS:
            self.parts.append(" ")
        if tag == "ol":
            self.lists.append(_int(attr.get("start"), 1))
        elif tag == "ul":
            self.lists.append(None)
        elif tag == "li" and self.lists and self.lists[-1] is not None:
            number = self.lists[-1]
            self.lists[-1] = number + 1
            self.parts.append(f"{number}. ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.skip_tag is not None:
            if tag == self.skip_tag:
                self.skip_depth -= 1
                if self.skip_depth == 0:
                    self.skip_tag = None
            return
        if tag in ("ol", "ul") and self.lists:
            self.lists.pop()
        if tag in _BLOCKS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if self.skip_tag is None:
            self.parts.append(data)

    def _replacement(self, tag: str, attr: dict[str, str]) -> str | None:
        """ "" to drop the element, a placeholder to stand for it, None to descend into it."""
        classes = set(attr.get("class", "").split())
        if tag in _HIDDEN or tag == "img" or classes & _FOOTNOTE_CLASSES:
            return ""
        if tag == "sup" and attr.get("id", "").startswith("fnref"):
            return ""
        if classes & _FORMULA_CLASSES or tag == "math":
            return self.formula
        if tag == "pre" or (tag == "div" and classes & _CODE_BLOCK_CLASSES):
            return self.code
        return None


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def html_to_text(html: str, formula: str, code: str) -> str:
    """Visible text of HTML on one line, with placeholders for formulas and code blocks."""
    parser = _TextExtractor(formula, code)
    parser.feed(strip_control_chars(html))
    parser.close()
    return collapse_whitespace(strip_control_chars("".join(parser.parts)))


def _clusters_to(text: str, limit: int) -> tuple[list[str], str | None]:
    """Whole grapheme clusters fitting in `limit` code points, and the cluster after them."""
    taken: list[str] = []
    size = 0
    for match in regex.finditer(r"\X", text):
        cluster = match.group()
        if size + len(cluster) > limit:
            return taken, cluster
        taken.append(cluster)
        size += len(cluster)
    return taken, None


def _word_cut(clusters: list[str], following: str | None, length: int) -> list[str]:
    """Clusters up to the last space in the final 30% of the limit (or all), tidied at the end."""
    cut = len(clusters)
    if following is None or not following.isspace():
        floor = length * (1 - _WORD_WINDOW)
        size = sum(map(len, clusters))
        for index in range(len(clusters) - 1, -1, -1):
            size -= len(clusters[index])
            if size < floor:
                break
            if clusters[index].isspace():
                cut = index
                break
    kept = clusters[:cut]
    while kept and (kept[-1].isspace() or kept[-1] in _TRAILING_JUNK):
        kept.pop()
    return kept


def summarize(
    html: str,
    *,
    length: int = 350,
    formula: str = "[formula]",
    code: str = "[code]",
    cjk: bool = False,
) -> str:
    """Plain-text excerpt of at most `length` code points (plus "..." when cut)."""
    if length < 0:
        raise ValueError(f"summary: length must not be negative, got {length}")
    text = html_to_text(html, formula, code)
    if len(text) <= length:
        return text
    clusters, following = _clusters_to(text, length)
    if not cjk:
        # CJK sites cut mid-word and keep a trailing space (the reference excerpts do).
        clusters = _word_cut(clusters, following, length)
    return "".join(clusters) + ELLIPSIS
