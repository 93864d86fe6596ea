"""Names for the kinds: each status or kind spelt once (a StrEnum serialises as its string)."""

from __future__ import annotations

from enum import StrEnum


class SourceKind(StrEnum):
    MARKDOWN = "markdown"
    FEED = "feed"


class SourceStatus(StrEnum):
    """A source's state as `feedsvc sources` and /api/v1/sources show it."""

    IDLE = "idle"  # never run
    OK = "ok"
    ERROR = "error"  # the last pass had failed items
    BACKOFF = "backoff"  # failing: waits 2, 4, 8… intervals
    DEFERRED = "deferred"  # the upstream asked us to come back later


class FeedFormat(StrEnum):
    ATOM = "atom"
    RSS = "rss"
    JSON = "json"


class ScopeKind(StrEnum):
    """A feed narrower than the site's: one category, tag or author (the URL's first segment)."""

    CATEGORIES = "categories"
    TAGS = "tags"
    AUTHORS = "authors"


class EventType(StrEnum):
    PUBLISHED = "post.published"
    UPDATED = "post.updated"
    DELETED = "post.deleted"


class Outcome(StrEnum):
    """What one ingest of one item did."""

    NEW = "new"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    REMOVED = "removed"


class DeliveryKind(StrEnum):
    WEBHOOK = "webhook"  # a Standard Webhooks message to a subscriber
    WEBSUB = "websub"  # a WebSub content distribution to a subscriber's callback
    HUB_PING = "hub-ping"  # a publish ping to an external hub


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    DEAD = "dead"
    CANCELLED = "cancelled"


class WebhookOrigin(StrEnum):
    CONFIG = "config"  # [[webhooks]] in the config file
    API = "api"  # the admin API or the CLI


class HubMode(StrEnum):
    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"


API_SOURCE = "api"  # the source name of posts pushed through the admin API (reserved)
