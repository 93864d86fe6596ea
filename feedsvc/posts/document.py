"""Pushed post documents (the admin API's JSON): validation, meaning hash, the SourceItem."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import Any

from feedsvc import urls
from feedsvc.config import Config
from feedsvc.content.markdown import RenderError, render_markdown, render_stamp
from feedsvc.content.sanitize import sanitize_html
from feedsvc.content.text import slugify, strip_control_chars
from feedsvc.posts.errors import InvalidPost
from feedsvc.posts.model import HASH_VERSION, SourceItem
from feedsvc.storage.models import Post
from feedsvc.timefmt import parse_rfc3339, rfc3339

FIELDS = frozenset(
    {"title", "markdown", "html", "slug", "summary", "categories", "tags", "published",
     "updated", "author", "url", "image", "draft", "id"}
)  # fmt: skip
_CLIENT_ID = re.compile(r"[A-Za-z0-9._~:@/+=-]{1,200}")


def _text(value: object, max_len: int | None = None) -> tuple[str | None, str | None]:
    """(cleaned text, None) or (None, reason)."""
    if not isinstance(value, str):
        return None, "must be a string"
    value = strip_control_chars(value)
    if max_len is not None and len(value) > max_len:
        return None, f"must be at most {max_len} characters"
    return value, None


def _names(value: object) -> tuple[list[str] | None, str | None]:
    reason = "must be a list of names (1 to 200 characters, at least one letter or digit)"
    if not isinstance(value, list) or len(value) > 100:
        return None, reason + ", at most 100 of them"
    cleaned = [strip_control_chars(v).strip() for v in value if isinstance(v, str)]
    if len(cleaned) != len(value) or any(len(v) > 200 or not slugify(v) for v in cleaned):
        return None, reason
    return cleaned, None


def _check(name: str, value: Any) -> tuple[Any, str | None]:
    """Validate and normalise one field of a post document."""
    if name in ("title", "author"):
        text, err = _text(value, 1000 if name == "title" else 300)
        if text is not None and not text.strip():
            return None, "required" if name == "title" else "must not be blank"
        return (text.strip() if text else text), err
    if name in ("markdown", "html", "summary"):
        return _text(value)
    if name in ("categories", "tags"):
        return _names(value)
    if name in ("published", "updated"):
        dt = parse_rfc3339(value)
        return (rfc3339(dt), None) if dt else (None, "not an RFC 3339 date")
    if name == "draft":
        return (value, None) if isinstance(value, bool) else (None, "must be true or false")
    if name == "slug":
        ok = isinstance(value, str) and value != "" and bool(slugify(value) == value)
        return (value, None) if ok else (None, "not a valid slug (e.g. 'my-first-post')")
    if name in ("url", "image"):  # absolute only: a pushed document names no site to resolve
        reason = "must be an absolute http or https URL"  # the API's contract wording
        try:
            return urls.publishable_url(value, None), None
        except urls.UnsafeURL:
            return None, reason
    ok = isinstance(value, str) and bool(_CLIENT_ID.fullmatch(value))  # id
    return (value, None) if ok else (None, "must be 1 to 200 of A-Z a-z 0-9 . _ ~ : @ / + = -")


def validate_post(body: dict[str, Any]) -> dict[str, Any]:
    """The normalised post document; raises InvalidPost naming every bad field."""
    errors: dict[str, str] = {}
    doc: dict[str, Any] = {}
    for name, value in body.items():
        if name not in FIELDS:
            errors[strip_control_chars(name) or repr(name)] = "unknown field"
        elif value is not None:  # null is "not given" (and removes a field in a PATCH)
            doc[name], err = _check(name, value)
            if err:
                errors[name] = err
    if "title" not in doc and "title" not in errors:
        errors["title"] = "required"
    given = [name for name in ("markdown", "html") if body.get(name) is not None]
    if len(given) == 2:
        errors["markdown"] = errors["html"] = "give markdown or html, not both"
    elif not given:
        errors["markdown"] = "required (or html)"
    if errors:
        raise InvalidPost(errors)
    return doc


def digest(value: Any) -> str:
    data = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def build_item(
    cfg: Config, key: str, doc: dict[str, Any], slug: str, published: datetime
) -> SourceItem:
    """The SourceItem for a validated document: content rendered or sanitised, hash of meaning.

    ``published`` stands in for an omitted ``published``: the post's own date for an edit (an
    omitted date keeps it, as an omitted slug keeps the URL), now for a new post. The hash is of
    what the document means, not how it is spelt: dates in UTC, the date a post keeps, and no
    client ``id`` (it names the post; a PUT may repeat it or not). So a PUT or a replayed POST
    of the same post changes nothing and emits nothing. ``slug`` is the URL the post will have
    (decided by the slug rule before the item is built: it is part of what a reader sees).
    """
    published = parse_rfc3339(doc.get("published")) or published
    updated = parse_rfc3339(doc.get("updated"))
    meaning = {name: value for name, value in doc.items() if name != "id"}
    meaning["published"] = rfc3339(published)
    if updated is not None:
        meaning["updated"] = rfc3339(updated)
    base = urls.absolute(cfg.site.base_url, urls.post_path(slug) + "/")
    try:
        if "markdown" in doc:
            html = render_markdown(doc["markdown"], base_url=base, language=cfg.site.language)
        else:
            html = sanitize_html(doc["html"], base_url=base)
    except RenderError as exc:
        raise InvalidPost({"markdown": str(exc)}) from None
    except RecursionError:
        raise InvalidPost({"html": "nested too deeply to sanitise"}) from None
    return SourceItem(
        external_key=key,
        title=doc["title"],
        content_html=html,
        content_hash=digest([meaning, slug, cfg.site.base_url, HASH_VERSION]),
        render_version=render_stamp(cfg.site.language),
        slug=slug,
        markdown=doc.get("markdown"),
        summary=doc.get("summary"),
        published=published,
        updated=updated,
        categories=tuple(doc.get("categories", ())),
        tags=tuple(doc.get("tags", ())),
        author=doc.get("author"),
        url=doc.get("url"),
        image=doc.get("image"),
        draft=doc.get("draft", False),
    )


def stored_document(post: Post) -> dict[str, Any]:
    """A stored post as a push document (PATCH merges into it); ``updated`` is left to now."""
    doc: dict[str, Any] = {
        "title": post.title,
        "slug": post.slug,
        "published": rfc3339(post.published),
        "draft": post.draft,
    }
    if post.markdown is not None:
        doc["markdown"] = post.markdown
    else:
        doc["html"] = post.content_html
    optional = {
        "summary": post.summary_explicit,
        "author": post.author,
        "url": post.url,
        "image": post.image,
    }
    doc.update({k: v for k, v in optional.items() if v is not None})
    if post.categories:
        doc["categories"] = [c.name for c in post.categories]
    if post.tags:
        doc["tags"] = [t.name for t in post.tags]
    return doc
