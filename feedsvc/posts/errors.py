"""The post service's error vocabulary; the web layer maps each to an HTTP status."""

from __future__ import annotations

from typing import Any


class PostError(Exception):
    """Base of every refusal by the post service."""


class InvalidPost(PostError):
    """A post document with bad fields; ``fields`` maps each bad field to its reason."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("validation failed: " + "; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


class PostNotFound(PostError):
    pass


class PostConflict(PostError):
    """The change contradicts what is stored; ``extra`` says more (e.g. who holds a slug)."""

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.extra = extra


class SlugTaken(PostConflict):
    """An explicit slug that another live post already has."""


class InvalidIdempotencyKey(PostError):
    pass


class ItemFailed(PostError):
    """One item could not be stored; the message is the reason (the pass goes on)."""
