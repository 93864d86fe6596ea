"""Page text by language, dates by time zone, code colours, the feeds' stylesheet PI."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta
from xml.sax.saxutils import unescape
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree, html

from feedsvc.content.codestyle import DARK_STYLE, code_style_css
from feedsvc.content.markdown import render_markdown
from feedsvc.content.messages import EN, ZH, messages_for
from feedsvc.feeds import builder
from feedsvc.timefmt import local_time
from feedsvc.web.conditional import is_navigation
from tests.unit.test_builder import make_doc


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("zh-CN", ZH),
        ("zh", ZH),
        ("ZH_tw", ZH),
        ("zh-Hans-CN", ZH),
        ("en", EN),
        ("en-GB", EN),
        ("ja", EN),
        ("", EN),
        (None, EN),
    ],
)
def test_message_table_by_language(language, expected):
    assert messages_for(language) is expected


def test_both_tables_say_everything():
    for table in (ZH, EN):
        values = dataclasses.asdict(table)
        assert all(isinstance(v, str) and v.strip() for v in values.values())
        assert table.footnote_backlink % 3  # one %d: the footnote's number
    assert ZH.previous == "上一页" and EN.next == "Next"


FOOTNOTE = "正文[^1]。\n\n[^1]: 脚注。\n"


@pytest.mark.parametrize(("language", "title"), [("zh-CN", ZH), ("en", EN), (None, EN)])
def test_footnote_backlink_title_follows_the_language(language, title):
    doc = html.fromstring(render_markdown(FOOTNOTE, language=language))
    (backref,) = doc.xpath("//a[contains(@class, 'footnote-backref')]")
    assert backref.get("title") == title.footnote_backlink % 1


def test_languages_do_not_leak_between_renders():
    for language in ("zh-CN", "en", "zh-CN"):
        doc = html.fromstring(render_markdown(FOOTNOTE, language=language))
        (title,) = doc.xpath("//a[contains(@class, 'footnote-backref')]/@title")
        assert title == messages_for(language).footnote_backlink % 1


def test_local_time_picks_the_site_calendar_day():
    when = datetime(2026, 1, 1, 0, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert f"{local_time(when, ZoneInfo('UTC')):%Y-%m-%d}" == "2025-12-31"
    assert f"{local_time(when.astimezone(UTC), ZoneInfo('Asia/Shanghai')):%Y-%m-%d}" == (
        "2026-01-01"
    )


ZONES = ["UTC", "Asia/Shanghai", "America/Los_Angeles", "Pacific/Kiritimati", "Etc/GMT+12"]


@given(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59)),
    st.sampled_from(ZONES),
)
def test_local_time_is_the_same_instant(naive, zone_name):
    when = naive.replace(tzinfo=UTC)
    shown = local_time(when, ZoneInfo(zone_name))
    assert shown == when  # the same instant, whatever calendar it is read in
    assert shown.utcoffset() is not None
    if datetime(2, 1, 1, tzinfo=UTC) < when < datetime(9999, 1, 1, tzinfo=UTC):
        assert shown.tzinfo == ZoneInfo(zone_name)
        assert abs(shown.replace(tzinfo=None) - naive) <= timedelta(hours=14)


def test_local_time_refuses_naive():
    with pytest.raises(ValueError):
        local_time(datetime(2026, 1, 1), ZoneInfo("UTC"))


CODE = "```python\nimport os  # c\nclass A:\n    x = 'a' + 1.5\n```\n"


def css_rules(css: str) -> tuple[set[str], set[str]]:
    """Class selectors with colours outside and inside the dark-scheme media block."""
    light, _, dark = css.partition("@media (prefers-color-scheme: dark)")

    def coloured(text: str) -> set[str]:
        return set(re.findall(r"\.highlight \.(\w+) \{[^}]*color", text))

    return coloured(light), coloured(dark)


def test_code_css_colours_every_token_class_the_html_uses():
    doc = html.fromstring(render_markdown(CODE))
    (block,) = doc.xpath("//div[@class='highlight']")
    used = {c for span in block.iter("span") for c in (span.get("class") or "").split()}
    light, dark = css_rules(code_style_css())
    assert {"kn", "nn", "c1", "k", "nc", "s1", "mf"} <= used
    # every token class in the HTML has a colour in both schemes (else text stays plain)
    assert used - light <= {"w", "n", "p", "o"}, used - light
    assert used - dark <= {"w", "n", "p", "o"}, used - dark
    assert {"k", "c1", "s1"} <= light & dark


def test_dark_rules_are_the_dark_style():
    css = code_style_css()
    _, dark = css.split("@media (prefers-color-scheme: dark) {")
    assert dark.rstrip().endswith("}")
    assert "/* Keyword */" in dark and DARK_STYLE in css
    light_k = re.search(r"^\.highlight \.k \{ (color: [^;}]+)", css, re.M)
    dark_k = re.search(r"^  \.highlight \.k \{ (color: [^;}]+)", css, re.M)
    assert light_k and dark_k and light_k.group(1) != dark_k.group(1)


@pytest.mark.parametrize("fmt", ["atom", "rss"])
def test_stylesheet_pi_precedes_the_root(fmt):
    href = "https://example.org/feed.xsl?a=1&b=2"
    body = builder.build(fmt, make_doc(stylesheet_url=href))
    assert body.startswith(b"<?xml version='1.0' encoding='UTF-8'?>\n<?xml-stylesheet ")
    root = etree.fromstring(body)
    (pi,) = list(root.itersiblings(preceding=True))
    assert pi.target == "xml-stylesheet"
    # pseudo-attributes take the predefined entity references (Associating Style Sheets §2)
    assert pi.get("type") == "text/xsl" and unescape(pi.get("href")) == href
    assert pi.get("href") == "https://example.org/feed.xsl?a=1&amp;b=2"
    # the same document as without it, but for the PI
    plain = etree.fromstring(builder.build(fmt, make_doc()))
    assert list(plain.itersiblings(preceding=True)) == []
    assert etree.tostring(root) == etree.tostring(plain)


def test_no_stylesheet_no_pi_and_json_never():
    assert b"xml-stylesheet" not in builder.build("json", make_doc(stylesheet_url="https://x/s"))
    assert b"xml-stylesheet" not in builder.build("atom", make_doc())


@pytest.mark.parametrize(
    ("accept", "navigation"),
    [
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", True),  # Chrome
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8 ", True),
        ("TEXT/HTML", True),
        ("text/html;q=0", False),
        ("", False),
        ("*/*", False),
        (
            "application/atom+xml,application/rdf+xml,application/rss+xml,application/x-netcdf,"
            "application/xml;q=0.9,text/xml;q=0.2,*/*;q=0.1",  # feedparser
            False,
        ),
        ("application/rss+xml, text/html;q=0.5", False),  # a reader that takes pages too
        ("application/atom+xml;q=0, text/html", True),
    ],
)
def test_navigation_by_accept(accept, navigation):
    assert is_navigation(accept) is navigation
