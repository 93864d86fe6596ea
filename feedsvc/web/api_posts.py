"""Push API for a CMS: /api/v1/posts. Pushed posts are source "api" and go through apply_item.

``<ident>`` in a post URL is the numeric ``key`` of the post or its stable ``id`` (the tag URI,
URL-encoded). The body of a post is validated as a whole: a 422 names every bad field at once.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Response, jsonify, request, url_for
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.exceptions import BadRequest, Conflict, NotFound, UnprocessableEntity

from feedsvc import urls
from feedsvc.config import Config
from feedsvc.content.markdown import render_markdown
from feedsvc.content.sanitize import sanitize_html
from feedsvc.content.text import strip_control_chars
from feedsvc.sources.ingest import SlugTaken, apply_item, remove_post
from feedsvc.sources.model import SourceItem
from feedsvc.storage import posts
from feedsvc.storage.models import Post
from feedsvc.web.auth import api_blueprint
from feedsvc.web.state import state

bp = api_blueprint("api_posts", __name__)

SOURCE = "api"
RENDER_VERSION = "1"  # bump when rendering changes: every pushed post then hashes differently
FIELDS = frozenset(
    {"title", "markdown", "html", "slug", "summary", "categories", "tags", "published",
     "updated", "author", "url", "draft", "id"}
)  # fmt: skip
MAX_PER_PAGE = 100
_RFC3339 = re.compile(  # RFC 3339 §5.6 date-time
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
_CLIENT_ID = re.compile(r"[A-Za-z0-9._~:@/+=-]{1,200}")
_URL = re.compile(r"https?://[^/?#\s]+[^\s]*", re.IGNORECASE)
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")


class ValidationFailed(UnprocessableEntity):
    """422 whose body names every bad field: ``{"error": ..., "fields": {name: reason}}``."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("validation failed")
        self.extra = {"fields": fields}


class ApiConflict(Conflict):
    def __init__(self, description: str, **extra: Any) -> None:
        super().__init__(description)
        self.extra = extra


# -- validation (pure) ---------------------------------------------------------------------


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_rfc3339(value: object) -> datetime | None:
    """An aware UTC datetime from an RFC 3339 date-time, or None when it is not one."""
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        return None
    try:
        return datetime.fromisoformat(value.upper().replace("Z", "+00:00")).astimezone(UTC)
    except (ValueError, OverflowError):
        return None


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
    if len(cleaned) != len(value) or any(len(v) > 200 or not posts.slugify(v) for v in cleaned):
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
        return (iso(dt), None) if dt else (None, "not an RFC 3339 date")
    if name == "draft":
        return (value, None) if isinstance(value, bool) else (None, "must be true or false")
    if name == "slug":
        ok = isinstance(value, str) and value != "" and bool(posts.slugify(value) == value)
        return (value, None) if ok else (None, "not a valid slug (e.g. 'my-first-post')")
    if name == "url":
        ok = isinstance(value, str) and bool(_URL.fullmatch(value)) and len(value) <= 2000
        ok = ok and value == strip_control_chars(value)
        return (value, None) if ok else (None, "must be an absolute http or https URL")
    ok = isinstance(value, str) and bool(_CLIENT_ID.fullmatch(value))  # id
    return (value, None) if ok else (None, "must be 1 to 200 of A-Z a-z 0-9 . _ ~ : @ / + = -")


def validate_post(body: dict[str, Any]) -> dict[str, Any]:
    """The normalised post document; raises ValidationFailed naming every bad field."""
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
        raise ValidationFailed(errors)
    return doc


def digest(value: Any) -> str:
    data = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def build_item(
    cfg: Config, key: str, doc: dict[str, Any], slug: str, published: datetime
) -> SourceItem:
    """The SourceItem for a validated document: content rendered or sanitised, hash of fields.

    ``published`` stands in for an omitted ``published``: the post's own date for an edit (an
    omitted date keeps it, as an omitted slug keeps the URL), now for a new post. The hash is of
    what the document means, not how it is spelt: dates in UTC, the date a post keeps, and no
    client ``id`` (it names the post; a PUT may repeat it or not). So a PUT or a replayed POST
    of the same post changes nothing and emits nothing.
    """
    published = parse_rfc3339(doc.get("published")) or published
    updated = parse_rfc3339(doc.get("updated"))
    meaning = {name: value for name, value in doc.items() if name != "id"}
    meaning["published"] = iso(published)
    if updated is not None:
        meaning["updated"] = iso(updated)
    base = urls.absolute(cfg.site.base_url, urls.post_path(slug) + "/")
    if "markdown" in doc:
        html = render_markdown(doc["markdown"], base_url=base)
    else:
        html = sanitize_html(doc["html"], base_url=base)
    return SourceItem(
        external_key=key,
        title=doc["title"],
        content_html=html,
        content_hash=digest([meaning, slug, cfg.site.base_url, RENDER_VERSION]),
        slug=slug,
        markdown=doc.get("markdown"),
        summary=doc.get("summary"),
        published=published,
        updated=updated,
        categories=tuple(doc.get("categories", ())),
        tags=tuple(doc.get("tags", ())),
        author=doc.get("author"),
        url=doc.get("url"),
        draft=doc.get("draft", False),
    )


def stored_document(post: Post) -> dict[str, Any]:
    """A stored post as a push document (PATCH merges into it); ``updated`` is left to now."""
    doc: dict[str, Any] = {
        "title": post.title,
        "slug": post.slug,
        "published": iso(post.published),
        "draft": post.draft,
    }
    if post.markdown is not None:
        doc["markdown"] = post.markdown
    else:
        doc["html"] = post.content_html
    optional = {"summary": post.summary_explicit, "author": post.author, "url": post.url}
    doc.update({k: v for k, v in optional.items() if v is not None})
    if post.categories:
        doc["categories"] = [c.name for c in post.categories]
    if post.tags:
        doc["tags"] = [t.name for t in post.tags]
    return doc


# -- request helpers -----------------------------------------------------------------------


def json_body() -> dict[str, Any]:
    """The request body as a JSON object (400 otherwise; 413 past MAX_CONTENT_LENGTH)."""
    raw = request.get_data(cache=False)
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise BadRequest("request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    return body


def _int_arg(name: str, default: int, maximum: int | None = None) -> int:
    value = request.args.get(name, str(default))
    if not re.fullmatch(r"[0-9]{1,9}", value) or int(value) < 1:
        raise BadRequest(f"{name} must be a positive integer")
    if maximum is not None and int(value) > maximum:
        raise BadRequest(f"{name} must be at most {maximum}")
    return int(value)


def representation(post: Post) -> dict[str, Any]:
    """The API's view of a post: the event snapshot plus ``key``, ``external_id``, ``visible``."""
    return {
        **posts.snapshot(post, state().cfg.site.base_url),
        "key": post.id,
        "external_id": post.external_key,
        "visible": post.visible,
    }


def _respond(post: Post, status: int) -> tuple[Response, int]:
    resp = jsonify(representation(post))
    if status in (200, 201) and request.method == "POST":
        resp.headers["Location"] = url_for("api_posts.get_post", ident=str(post.id))
    return resp, status


def find_post(session: Session, ident: str) -> Post:
    """The live post named by numeric key or guid; 404 otherwise."""
    if re.fullmatch(r"[0-9]{1,18}", ident):
        post = session.get(Post, int(ident))
    else:
        post = posts.get_by_guid(session, ident)
    if post is None or post.removed:
        raise NotFound(f"no post {ident!r}")
    return post


def _pushed_post(session: Session, ident: str) -> Post:
    post = find_post(session, ident)
    if post.source != SOURCE:
        raise ApiConflict(
            f"post {ident!r} comes from source {post.source!r}: change it there, not here"
        )
    return post


def _claim(session: Session, doc: dict[str, Any], post: Post | None, key: str) -> str:
    """The slug: given, else the post's own, else from the title with -2, -3… when taken."""
    if "slug" in doc:
        return str(doc["slug"])
    if post is not None and not post.removed:
        return post.slug
    base = posts.slugify(doc["title"]) or "post-" + hashlib.sha256(key.encode()).hexdigest()[:8]
    slug, n = base, 2
    while (holder := posts.get_by_slug(session, slug)) is not None and not holder.removed:
        slug, n = f"{base}-{n}", n + 1
    return slug


def _apply(session: Session, item: SourceItem) -> Post:
    st = state()
    try:
        apply_item(session, st.cfg, SOURCE, item, st.clock.now())
    except SlugTaken as exc:
        holder = posts.get_by_slug(session, item.slug or "")
        extra = {"holder": {"key": holder.id, "id": holder.guid}} if holder else {}
        raise ApiConflict(str(exc), **extra) from exc
    post = posts.get_by_key(session, SOURCE, item.external_key)
    assert post is not None
    return post


# -- handlers ------------------------------------------------------------------------------


@bp.get("/posts")
def list_posts() -> Response:
    """Posts of every source (or ``?source=``), newest first, ``?page=`` and ``?per_page=``."""
    page = _int_arg("page", 1)
    per_page = _int_arg("per_page", 20, MAX_PER_PAGE)
    source = request.args.get("source")
    with state().db.read() as session:
        rows, total = posts.admin_page(session, source, page, per_page)
        items = [representation(p) for p in rows]
    more = page * per_page < total
    return jsonify(posts=items, page=page, per_page=per_page, total=total, has_more=more)


@bp.get("/posts/<path:ident>")
def get_post(ident: str) -> tuple[Response, int]:
    with state().db.read() as session:
        return _respond(find_post(session, ident), 200)


@bp.post("/posts")
def create_post() -> tuple[Response, int]:
    """Create; a replay (same Idempotency-Key or same client ``id``, same body) answers 200."""
    doc = validate_post(json_body())
    idem = request.headers.get("Idempotency-Key")
    if idem is not None and not _IDEMPOTENCY_KEY.fullmatch(idem):
        raise BadRequest("Idempotency-Key must be 1 to 255 visible ASCII characters")
    try:
        return _create(doc, idem)
    except IntegrityError:
        # A concurrent twin won the unique (source, key) race; the retry replays it.
        return _create(doc, idem)


def _create(doc: dict[str, Any], idem: str | None) -> tuple[Response, int]:
    st = state()
    idem_digest = hashlib.sha256(idem.encode()).hexdigest() if idem else None
    stamp = f"{idem_digest}:{digest(doc)}" if idem_digest else None
    with st.db.write() as session:
        if idem_digest and (replay := posts.get_by_idempotency_prefix(session, idem_digest + ":")):
            if replay.idempotency_key != stamp:
                raise ApiConflict("Idempotency-Key was already used with a different request")
            if replay.removed:
                raise ApiConflict("the post created with this Idempotency-Key has been deleted")
            return _respond(replay, 200)
        key = doc.get("id") or (idem_digest[:32] if idem_digest else uuid.uuid4().hex)
        existing = posts.get_by_key(session, SOURCE, key)
        # a post deleted and created again keeps its date, as it keeps its id
        published = existing.first_seen if existing is not None else st.clock.now()
        item = build_item(st.cfg, key, doc, _claim(session, doc, existing, key), published)
        if existing is not None and not existing.removed:
            if existing.content_hash != item.content_hash:
                raise ApiConflict(
                    f"a post with id {key!r} exists with other content: use PUT to change it",
                    key=existing.id,
                )
            return _respond(existing, 200)
        post = _apply(session, item)
        if stamp:
            post.idempotency_key = stamp
            session.flush()
        return _respond(post, 201)


@bp.put("/posts/<path:ident>")
def replace_post(ident: str) -> tuple[Response, int]:
    """Replace every field; an omitted slug or published keeps the post's, updated is now."""
    doc = validate_post(json_body())
    with state().db.write() as session:
        return _update(session, _pushed_post(session, ident), doc)


@bp.patch("/posts/<path:ident>")
def patch_post(ident: str) -> tuple[Response, int]:
    """JSON merge patch (RFC 7396) over the stored fields; null removes an optional field."""
    patch = json_body()
    with state().db.write() as session:
        post = _pushed_post(session, ident)
        current = stored_document(post)
        merged = dict(current)
        if "markdown" in patch or "html" in patch:
            merged.pop("markdown", None)
            merged.pop("html", None)
        merged.update(patch)
        doc = _same_id(validate_post(merged), post)
        if doc == current:
            return _respond(post, 200)
        return _update(session, post, doc)


def _same_id(doc: dict[str, Any], post: Post) -> dict[str, Any]:
    """The document without ``id``, which may repeat the post's own but not change it."""
    if doc.pop("id", post.external_key) != post.external_key:
        raise ValidationFailed({"id": "cannot be changed"})
    return doc


def _update(session: Session, post: Post, doc: dict[str, Any]) -> tuple[Response, int]:
    doc = _same_id(doc, post)
    slug = _claim(session, doc, post, "")
    item = build_item(state().cfg, post.external_key, doc, slug, post.published)
    return _respond(_apply(session, item), 200)


@bp.delete("/posts/<path:ident>")
def delete_post(ident: str) -> tuple[str, int]:
    """Take the post out of the feeds (a post.deleted event when it was visible)."""
    st = state()
    with st.db.write() as session:
        remove_post(session, st.cfg, _pushed_post(session, ident), st.clock.now())
    return "", 204
