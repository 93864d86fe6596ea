"""The words pages, feeds' browser view and footnotes show, in the site's language (zh or en)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Messages:
    """One language's page text; ``%d`` in ``footnote_backlink`` is the footnote's number."""

    lang: str  # "zh" or "en"
    previous: str
    next: str
    pagination: str
    latest_updates: str
    not_found: str
    home: str
    footnote_backlink: str
    published: str
    updated: str
    feed_heading: str
    feed_about: str
    feed_subscribe: str
    feed_url_label: str
    feed_copy: str
    feed_entries: str
    feed_site: str


ZH = Messages(
    lang="zh",
    previous="上一页",
    next="下一页",
    pagination="分页",
    latest_updates="最近更新",
    not_found="页面不存在。",
    home="返回首页",
    footnote_backlink="跳回正文中第 %d 个脚注处",
    published="发布于",
    updated="更新于",
    feed_heading="订阅源",
    feed_about=(
        "这是一个订阅源(feed):阅读器软件定期读取它,网站有新文章时就会告诉你,不必再回来查看。"
    ),
    feed_subscribe="订阅方法:复制下面的网址,粘贴到你的阅读器(如 Miniflux、NetNewsWire、Feedly)中。",
    feed_url_label="订阅网址",
    feed_copy="复制",
    feed_entries="最近的文章",
    feed_site="访问网站",
)

EN = Messages(
    lang="en",
    previous="Previous",
    next="Next",
    pagination="Pagination",
    latest_updates="Latest updates",
    not_found="Page not found.",
    home="Back to the home page",
    footnote_backlink="Jump back to footnote %d in the text",
    published="Published",
    updated="Updated",
    feed_heading="Feed",
    feed_about=(
        "This is a feed: feed reader software checks it regularly and tells you when the site "
        "publishes something new, so you do not have to come back to look."
    ),
    feed_subscribe=(
        "To subscribe, copy the address below and paste it into your feed reader "
        "(Miniflux, NetNewsWire, Feedly…)."
    ),
    feed_url_label="Feed address",
    feed_copy="Copy",
    feed_entries="Recent posts",
    feed_site="Visit the site",
)

_TABLE = {"zh": ZH, "en": EN}


def message_language(language: str | None) -> str:
    """The message table for a BCP 47 tag: "zh" for zh, zh-CN, zh-Hans…; "en" for anything else."""
    primary = (language or "").strip().lower().replace("_", "-").split("-")[0]
    return primary if primary in _TABLE else "en"


def messages_for(language: str | None) -> Messages:
    """The page text for a site language, falling back to English."""
    return _TABLE[message_language(language)]
