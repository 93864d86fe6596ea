"""The stylesheet for code that codehilite marks up: Pygments colours, light and dark."""

from __future__ import annotations

from pygments.formatters import HtmlFormatter

from feedsvc.content.markdown import CODE_CLASS

LIGHT_STYLE = "default"
DARK_STYLE = "github-dark"


def _rules(style: str) -> str:
    """One Pygments style's token rules under the code block's class (no line-number rules)."""
    defs = HtmlFormatter(style=style).get_style_defs(f".{CODE_CLASS}")
    return "\n".join(line for line in defs.splitlines() if line.startswith(f".{CODE_CLASS}"))


def code_style_css() -> str:
    """Light colours by default, dark ones under ``prefers-color-scheme: dark``."""
    dark = "\n".join(f"  {line}" for line in _rules(DARK_STYLE).splitlines())
    return (
        f"/* Pygments {LIGHT_STYLE!r} and {DARK_STYLE!r} for .{CODE_CLASS} blocks */\n"
        f".{CODE_CLASS} pre {{ line-height: 125%; }}\n"
        f"{_rules(LIGHT_STYLE)}\n"
        f"@media (prefers-color-scheme: dark) {{\n{dark}\n}}\n"
    )
