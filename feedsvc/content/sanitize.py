"""Allow-list HTML sanitiser (nh3) for post bodies from Markdown and from upstream feeds."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urljoin

import nh3

from feedsvc.content.mathml import MATHML_ATTRIBUTES, MATHML_TAGS, keep_mathml_attribute
from feedsvc.content.text import strip_control_chars

_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_PLAIN = (
    "p", "br", "hr", "em", "strong", "b", "i", "del", "s", "ins", "sup", "sub", "ul", "ol",
    "li", "blockquote", "pre", "code", "span", "div", "table", "thead", "tbody", "tfoot", "tr",
    "th", "td", "caption", "figure", "figcaption", "dl", "dt", "dd", "abbr", "a", "img", "kbd",
    "mark", "small", "q", "cite",
)  # fmt: skip
TAGS = frozenset(_PLAIN + _HEADINGS) | MATHML_TAGS

# Elements whose content is dangerous or meaningless as text: dropped together with the content.
# annotation-xml may carry HTML or SVG (an integration point): never kept, nor its content.
CLEAN_CONTENT_TAGS = frozenset(
    {"script", "style", "iframe", "object", "embed", "template", "noscript", "textarea", "select",
     "annotation-xml"}
)  # fmt: skip

ATTRIBUTES: dict[str, set[str]] = {
    **{h: {"id"} for h in _HEADINGS},
    "a": {"href", "title", "class"},  # class keeps footnote-ref / footnote-backref markers
    "img": {"src", "alt", "title", "width", "height"},
    "abbr": {"title"},
    # class carries Pygments token classes and the `math inline` / `math display` markers
    "code": {"class"},
    "pre": {"class"},
    "span": {"class"},
    "div": {"class"},
    "sup": {"id"},
    "ol": {"start"},
    "li": {"id"},
    "th": {"align"},
    "td": {"align"},
    **MATHML_ATTRIBUTES,
}

URL_SCHEMES = frozenset({"http", "https", "mailto"})


def _relative_resolver(base_url: str | None) -> Callable[[str], str]:
    def resolve(url: str) -> str:
        # Fragment-only links (footnotes, heading anchors) point inside the post itself.
        if base_url is None or url.startswith("#"):
            return url
        return urljoin(base_url, url)

    return resolve


def sanitize_html(html: str, base_url: str | None = None) -> str:
    """Keep only the allow-listed tags/attributes/URL schemes; resolve relative URLs on base_url."""
    cleaned = nh3.clean(
        strip_control_chars(html),
        tags=set(TAGS),
        clean_content_tags=set(CLEAN_CONTENT_TAGS),
        attributes={tag: set(names) for tag, names in ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        url_relative=_relative_resolver(base_url),
        attribute_filter=keep_mathml_attribute,
        strip_comments=True,
    )
    # Character references such as &#x7f; are decoded by the parser, so strip once more.
    return strip_control_chars(cleaned)
