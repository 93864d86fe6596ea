"""Text cleaning: control characters out, everything else (emoji, CJK, astral) kept."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feedsvc.content.text import collapse_whitespace, strip_control_chars


def xml_allowed(ch: str) -> bool:
    """XML 1.0 §2.2 Char production, minus DEL and C1 which we also drop."""
    cp = ord(ch)
    if cp in (0x9, 0xA, 0xD):
        return True
    if cp < 0x20 or 0x7F <= cp <= 0x9F:
        return False
    return cp <= 0xD7FF or 0xE000 <= cp <= 0xFFFD or cp >= 0x10000


STRIP_CASES = {
    "nul and bell": ("a\x00b\x07c", "abc"),
    "tab newline cr kept": ("a\tb\nc\rd", "a\tb\nc\rd"),
    "vertical tab and form feed": ("a\x0bb\x0cc", "abc"),
    "escape and unit separator": ("\x1b[0m\x1f", "[0m"),
    "delete": ("a\x7fb", "ab"),
    "c1 controls": ("a\x80b\x85c\x9fd", "abcd"),
    "nbsp is not a control": ("a\xa0b", "a\xa0b"),
    "fffe ffff": ("a\ufffeb\uffffc", "abc"),
    "fffd kept": ("\ufffd", "\ufffd"),
    "lone surrogates": ("a\ud800b\udfffc", "abc"),
    "emoji cjk and astral kept": ("👩‍👩‍👧 中文 𝑝_1 🇨🇳", "👩‍👩‍👧 中文 𝑝_1 🇨🇳"),
    "private use kept": ("\ue000", "\ue000"),
    "empty": ("", ""),
}


@pytest.mark.parametrize("name", sorted(STRIP_CASES))
def test_strip_control_chars(name: str) -> None:
    source, expected = STRIP_CASES[name]
    assert strip_control_chars(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("  a \n\t b  ", "a b"),
        ("a\u3000b\xa0c", "a b c"),  # ideographic space and nbsp are whitespace too
        ("中文", "中文"),
        ("\n\n", ""),
        ("", ""),
    ],
)
def test_collapse_whitespace(source: str, expected: str) -> None:
    assert collapse_whitespace(source) == expected


# Every code point, lone surrogates included.
ANY_TEXT = st.text(st.characters(blacklist_categories=()))


@given(ANY_TEXT)
def test_output_has_only_xml_chars_and_keeps_the_rest(text: str) -> None:
    cleaned = strip_control_chars(text)
    assert all(xml_allowed(ch) for ch in cleaned)
    assert cleaned == "".join(ch for ch in text if xml_allowed(ch))


@given(ANY_TEXT)
def test_cleaned_text_round_trips_through_xml(text: str) -> None:
    cleaned = strip_control_chars(text)
    el = ET.Element("summary")
    el.text = cleaned
    parsed = ET.fromstring(ET.tostring(el, encoding="unicode"))
    # XML 1.0 §2.11 normalises CR and CRLF line ends to LF on parse.
    assert (parsed.text or "") == cleaned.replace("\r\n", "\n").replace("\r", "\n")


@given(ANY_TEXT)
def test_collapse_whitespace_is_idempotent_and_single_spaced(text: str) -> None:
    once = collapse_whitespace(text)
    assert collapse_whitespace(once) == once
    assert "  " not in once and once == once.strip()
