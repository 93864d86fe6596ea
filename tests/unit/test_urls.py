"""The one check every published URL goes through."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feedsvc.urls import UnsafeURL, publishable_url

BASE = "https://example.org"


@pytest.mark.parametrize(
    ("given_url", "published"),
    [
        ("https://a.example/x?y=1#z", "https://a.example/x?y=1#z"),
        ("HTTP://A.example/", "HTTP://A.example/"),
        ("/posts/x", "https://example.org/posts/x"),
        ("img/cover.png", "https://example.org/img/cover.png"),
        ("https://例子.测试/路径", "https://例子.测试/路径"),
    ],
)
def test_http_and_site_paths_are_published(given_url, published):
    assert publishable_url(given_url, BASE) == published


@pytest.mark.parametrize(
    "bad",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "vbscript:msgbox",
        "data:text/html,<script>alert(1)</script>",
        "file:///etc/passwd",
        "ftp://example.org/x",
        "//evil.example/x",
        "https://",
        "https://a.example:99999/",
        "https://a.example/\x00",
        "",
        "x" * 2001,
        None,
        42,
    ],
)
def test_everything_else_is_refused_with_a_reason(bad):
    with pytest.raises(UnsafeURL) as refused:
        publishable_url(bad, BASE)
    assert str(refused.value)


@given(st.text(max_size=60))
def test_whatever_comes_out_is_http_or_https_with_a_host(text):
    try:
        url = publishable_url(text, BASE)
    except UnsafeURL:
        return
    scheme, _, rest = url.partition("://")
    assert scheme.lower() in ("http", "https")
    assert rest and not rest.startswith("/")


@pytest.mark.parametrize("relative", ["/posts/x", "img/cover.png", "?q=1"])
def test_without_a_base_only_absolute_urls_pass(relative):
    with pytest.raises(UnsafeURL, match="absolute"):
        publishable_url(relative, None)
    assert publishable_url("https://a.example/x", None) == "https://a.example/x"
