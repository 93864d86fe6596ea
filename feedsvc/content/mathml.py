"""The MathML the sanitiser keeps: MathML Core's elements and attributes that are safe as they are.

From the W3C Math WG's MathML safe list (w3c/mathml-docs, mathml-safe-list.md) over MathML Core
§2.1: every Core element except ``maction`` (its tag goes, its children stay — an ``mrow`` in
all but name) and ``annotation-xml`` (it may carry HTML: dropped with its content). An
``annotation`` keeps its ``encoding`` only for TeX, and its content is text (the parser moves any
markup out of it, where it is sanitised as HTML). No ``href``, ``style``, ``on*``, ``id``,
``class`` or ``src`` on MathML elements: nothing there can link, run or load.
"""

from __future__ import annotations

MATHML_TAGS = frozenset(
    "math merror mfrac mi mmultiscripts mn mo mover mpadded mphantom mprescripts mroot mrow ms "
    "mspace msqrt mstyle msub msubsup msup mtable mtd mtext mtr munder munderover semantics "
    "annotation".split()
)
# Core attributes every MathML element may have (their values are lengths, colours, words).
_GLOBAL = frozenset(
    "dir displaystyle mathbackground mathcolor mathsize scriptlevel intent arg".split()
)
_PER_TAG = {
    "math": {"display"},
    "annotation": {"encoding"},
    "mi": {"mathvariant"},  # MathML Core 3.2.1: only on <mi> (\\mathrm{d} is an upright d)
    "mfrac": {"linethickness"},
    "mo": set(
        "form fence separator lspace rspace stretchy symmetric maxsize minsize largeop "
        "movablelimits".split()
    ),
    "mpadded": {"width", "height", "depth", "lspace", "voffset"},
    "mspace": {"width", "height", "depth"},
    "mover": {"accent"},
    "munder": {"accentunder"},
    "munderover": {"accent", "accentunder"},
    "mtd": {"columnspan", "rowspan"},
}
MATHML_ATTRIBUTES: dict[str, set[str]] = {
    tag: set(_GLOBAL) | _PER_TAG.get(tag, set()) for tag in MATHML_TAGS
}
TRUSTED_ENCODINGS = frozenset({"application/x-tex"})


def keep_mathml_attribute(element: str, attribute: str, value: str) -> str | None:
    """nh3's attribute filter: an annotation's encoding only when it is a trusted text type."""
    if element == "annotation" and attribute == "encoding":
        return value if value.strip().lower() in TRUSTED_ENCODINGS else None
    return value
