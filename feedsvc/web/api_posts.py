"""Push API for a CMS: /api/v1/posts. The rules live in ``feedsvc.posts.push``; this module
parses requests and maps the post service's errors to HTTP.

``<ident>`` in a post URL is the numeric ``key`` of the post or its stable ``id`` (the tag URI,
URL-encoded). The body of a post is validated as a whole: a 422 names every bad field at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Response, jsonify, request, url_for
from werkzeug.exceptions import BadRequest, NotFound

from feedsvc.posts import push
from feedsvc.posts.errors import InvalidIdempotencyKey, InvalidPost, PostConflict, PostNotFound
from feedsvc.web.args import ApiConflict, ValidationFailed, json_body, positive_int_arg
from feedsvc.web.auth import api_blueprint
from feedsvc.web.state import state

bp = api_blueprint("api_posts", __name__)

MAX_PER_PAGE = 100


@contextmanager
def _as_http() -> Iterator[None]:
    """The post service's refusals as HTTP errors: 422, 404, 409, 400."""
    try:
        yield
    except InvalidPost as exc:
        raise ValidationFailed(exc.fields) from None
    except PostNotFound as exc:
        raise NotFound(str(exc)) from None
    except PostConflict as exc:
        raise ApiConflict(str(exc), **exc.extra) from None
    except InvalidIdempotencyKey as exc:
        raise BadRequest(str(exc)) from None


def _call(fn: Callable[..., Any], *args: Any) -> Any:
    st = state()
    with _as_http():
        return fn(st.db, st.cfg, *args)


@bp.get("/posts")
def list_posts() -> Response:
    """Posts of every source (or ``?source=``), newest first, ``?page=`` and ``?per_page=``."""
    page = positive_int_arg("page", 1)
    per_page = positive_int_arg("per_page", 20, MAX_PER_PAGE)
    items, total = _call(push.list_posts, request.args.get("source"), page, per_page)
    more = page * per_page < total
    return jsonify(posts=items, page=page, per_page=per_page, total=total, has_more=more)


@bp.get("/posts/<path:ident>")
def get_post(ident: str) -> Response:
    return jsonify(_call(push.get_post, ident))


@bp.post("/posts")
def create_post() -> tuple[Response, int]:
    """Create; a replay (same Idempotency-Key or same client ``id``, same body) answers 200."""
    body = json_body()
    idem = request.headers.get("Idempotency-Key")
    post, created = _call(push.create, body, idem, state().clock.now())
    resp = jsonify(post)
    resp.headers["Location"] = url_for("api_posts.get_post", ident=str(post["key"]))
    return resp, 201 if created else 200


@bp.put("/posts/<path:ident>")
def replace_post(ident: str) -> Response:
    """Replace every field; an omitted slug or published keeps the post's, updated is now."""
    return jsonify(_call(push.replace, ident, json_body(), state().clock.now()))


@bp.patch("/posts/<path:ident>")
def patch_post(ident: str) -> Response:
    """JSON merge patch (RFC 7396) over the stored fields; null removes an optional field."""
    return jsonify(_call(push.patch, ident, json_body(), state().clock.now()))


@bp.delete("/posts/<path:ident>")
def delete_post(ident: str) -> tuple[str, int]:
    """Take the post out of the feeds (a post.deleted event when it was visible)."""
    _call(push.delete, ident, state().clock.now())
    return "", 204
