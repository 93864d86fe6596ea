"""No title twice (issue 13 item 5): a body beginning with its title as a heading loses that
heading in what is stored, so the page, the feeds and the summary show the title once."""

from __future__ import annotations

import feedparser
import lxml.html

from tests.integration.test_api import AUTH
from tests.integration.test_ingest_markdown import all_posts, post_md, run, write


def page_headings(client, path: str) -> list[str]:
    resp = client.get(path)
    assert resp.status_code == 200
    doc = lxml.html.fromstring(resp.data)
    return [" ".join(h.text_content().split()) for h in doc.xpath("//h1 | //h2 | //h3")]


def test_markdown_posts_show_their_title_once(db, cfg, clock, posts_dir, client):
    body = "# Softmax  与数值稳定性\n\n多分类的最后一层。\n\n## 为什么会溢出\n\n因为。"
    write(posts_dir / "softmax.md", post_md("Softmax 与数值稳定性", body))
    write(posts_dir / "untitled.md", "# 没有 front matter 的标题\n\n正文。\n")  # title from it
    write(posts_dir / "other.md", post_md("Another", "# A different heading\n\n正文。"))
    run(db, cfg, clock)
    stored = all_posts(db)
    assert stored["softmax.md"].summary == "多分类的最后一层。 为什么会溢出 因为。"
    assert stored["untitled.md"].title == "没有 front matter 的标题"
    assert stored["untitled.md"].summary == "正文。"
    assert stored["other.md"].summary == "A different heading 正文。"
    assert page_headings(client, "/posts/softmax") == ["Softmax 与数值稳定性", "为什么会溢出"]
    assert page_headings(client, "/posts/untitled") == ["没有 front matter 的标题"]
    assert page_headings(client, "/posts/other") == ["Another", "A different heading"]
    # feeds carry the same content: the entry's title, then the body without it
    atom = feedparser.parse(client.get("/feed.atom").data)
    assert atom.bozo == 0
    entry = next(e for e in atom.entries if e.title == "Softmax 与数值稳定性")
    content = lxml.html.fragment_fromstring(entry.content[0].value, create_parent="div")
    assert [h.text_content() for h in content.xpath("//h1 | //h2")] == ["为什么会溢出"]


def test_pushed_posts_show_their_title_once(api_client):
    body = {"title": "梯度裁剪", "markdown": "# 梯度裁剪\n\n为什么要裁剪。"}
    post = api_client.post("/api/v1/posts", json=body, headers=AUTH).json
    assert post["summary"] == "为什么要裁剪。"
    assert post["content_html"] == "<p>为什么要裁剪。</p>"
