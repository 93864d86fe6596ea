"""Load and validate the TOML config; environment variables override secrets and the DB URL."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import MISSING, Field, dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from feedsvc.config_sections import (  # noqa: F401 (parse_duration, parse_poll_limit: API)
    IngestConfig,
    LoggingConfig,
    logging_problem,
    parse_duration,
    parse_poll_limit,
    polling_problem,
    served_base_url,
    storage_url_problem,
    timezone_problem,
)
from feedsvc.kinds import API_SOURCE, EventType, SourceKind
from feedsvc.signing import SecretError, secret_key

EXAMPLES_DIR = Path(__file__).parent / "examples" / "posts"
DEFAULT_RETRY_SCHEDULE = ("5s", "5m", "30m", "2h", "5h", "10h", "24h")


class ConfigError(Exception):
    """A config file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class SiteConfig:
    title: str = "feedsvc example site"
    base_url: str = "http://localhost:8080"
    language: str = "zh-CN"
    author: str = "feedsvc"
    description: str = ""  # empty: the message table's "Latest updates" in the site language
    timezone: str = "UTC"  # IANA name: the dates pages show (feeds keep full timestamps)

    def zone(self) -> ZoneInfo:
        """The site's time zone (validated at load: this does not raise for a loaded config)."""
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class StorageConfig:
    url: str = "sqlite:///feedsvc.db"


@dataclass(frozen=True)
class FeedsConfig:
    page_size: int = 20
    summary_length: int = 350
    full_content: bool = True
    cache_max_age: int = 300
    # empty: chosen by site language ("[公式]" for zh, "[formula]" otherwise)
    formula_placeholder: str = ""
    code_placeholder: str = ""
    # RFC 3229 feed deltas: versions kept per feed page (0 = no deltas) and for how long
    delta_history: int = 50
    delta_max_age: float = 7 * 86400.0


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 2
    server: str = "granian"
    threads: int = 0  # Python threads per granian worker; 0 = 2 x CPU cores + 1
    access_log: bool = False
    poll_limit: str = ""  # "60/1h": requests per client per feed URL and window; "" = off
    trusted_proxies: tuple[str, ...] = ()  # addresses/CIDRs whose X-Forwarded-For is believed


@dataclass(frozen=True)
class AdminConfig:
    token: str = ""
    max_body_bytes: int = 1_000_000


@dataclass(frozen=True)
class NetworkConfig:
    allow_private_networks: bool = False
    user_agent: str = ""


@dataclass(frozen=True)
class DeliveryConfig:
    timeout: float = 10.0
    retry_schedule: tuple[float, ...] = tuple(parse_duration(d) for d in DEFAULT_RETRY_SCHEDULE)
    concurrency: int = 16
    per_host_concurrency: int = 4  # sends in flight to one target (scheme, host, port) at once
    poll_interval: float = 1.0


@dataclass(frozen=True)
class WebSubConfig:
    lease_seconds: int = 86400 * 10
    max_lease_seconds: int = 86400 * 30
    external_hubs: tuple[str, ...] = ()
    max_pending_per_host: int = 100  # requests waiting for verification per callback host
    verify_concurrency: int = 8  # verification GETs at once


@dataclass(frozen=True)
class SourceConfig:
    name: str
    kind: str
    path: str = ""
    url: str = ""
    interval: float = 300.0
    max_file_bytes: int = 5_000_000
    timeout: float = 10.0


@dataclass(frozen=True)
class WebhookConfig:
    url: str
    secret: str = ""
    events: tuple[str, ...] = tuple(EventType)
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class Config:
    site: SiteConfig = field(default_factory=SiteConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    feeds: FeedsConfig = field(default_factory=FeedsConfig)
    server: ServerConfig = field(default_factory=ServerConfig)
    admin: AdminConfig = field(default_factory=AdminConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)
    websub: WebSubConfig = field(default_factory=WebSubConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    sources: tuple[SourceConfig, ...] = ()
    webhooks: tuple[WebhookConfig, ...] = ()
    path: str = "<defaults>"

    def source(self, name: str) -> SourceConfig:
        for src in self.sources:
            if src.name == name:
                return src
        raise KeyError(name)


EVENT_TYPES = tuple(EventType)
SECTIONS: dict[str, type] = {
    "site": SiteConfig,
    "storage": StorageConfig,
    "feeds": FeedsConfig,
    "server": ServerConfig,
    "admin": AdminConfig,
    "network": NetworkConfig,
    "delivery": DeliveryConfig,
    "websub": WebSubConfig,
    "logging": LoggingConfig,
    "ingest": IngestConfig,
}
DURATION_KEYS = {"timeout", "interval", "poll_interval", "delta_max_age"}


def _coerce(where: str, name: str, value: Any, default: Any) -> Any:
    """Check one value against its default's type; durations accept strings."""
    if name in DURATION_KEYS:
        return parse_duration(value)
    if name == "retry_schedule":
        if not isinstance(value, list) or not value:
            raise ValueError("expected a non-empty list of durations")
        return tuple(parse_duration(v) for v in value)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected an integer, got {value!r}")
        if value < 0:
            raise ValueError("must not be negative")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"expected a number, got {value!r}")
        return float(value)
    if isinstance(default, tuple):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError("expected a list of strings")
        return tuple(value)
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value


def _default_of(fld: Field[Any]) -> Any:
    if fld.default is not MISSING:
        return fld.default
    if fld.default_factory is not MISSING:
        return fld.default_factory()
    return ""  # required fields (name, kind, url) are strings


def _build(cls: type, data: Mapping[str, Any], where: str, required: tuple[str, ...] = ()) -> Any:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a table")
    known = {f.name: f for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            raise ConfigError(f"{where}.{key}: unknown key")
        default = _default_of(known[key])
        try:
            kwargs[key] = _coerce(where, key, value, default)
        except ValueError as exc:
            raise ConfigError(f"{where}.{key}: {exc}") from None
    for key in required:
        if not kwargs.get(key):
            raise ConfigError(f"{where}.{key}: required")
    return cls(**kwargs)


def _validate(cfg: Config) -> None:
    if not re.match(r"^https?://[^/\s]+", cfg.site.base_url):
        raise ConfigError("site.base_url: must be an absolute http(s) URL")
    problem = timezone_problem(cfg.site.timezone) or logging_problem(cfg.logging)
    if problem is None:
        problem = storage_url_problem(cfg.storage.url)
    if problem:
        raise ConfigError(problem)
    if cfg.feeds.page_size < 1:
        raise ConfigError("feeds.page_size: must be at least 1")
    if cfg.feeds.summary_length < 10:
        raise ConfigError("feeds.summary_length: must be at least 10")
    if cfg.server.server not in ("granian", "gunicorn"):
        raise ConfigError('server.server: must be "granian" or "gunicorn"')
    if cfg.server.workers < 1:
        raise ConfigError("server.workers: must be at least 1")
    for key in ("max_pending_per_host", "verify_concurrency"):
        if getattr(cfg.websub, key) < 1:
            raise ConfigError(f"websub.{key}: must be at least 1")
    if cfg.delivery.per_host_concurrency < 1:
        raise ConfigError("delivery.per_host_concurrency: must be at least 1")
    if not 1 <= cfg.server.port <= 65535:
        raise ConfigError(f"server.port: must be between 1 and 65535, got {cfg.server.port}")
    if cfg.feeds.delta_max_age <= 0:
        raise ConfigError("feeds.delta_max_age: must be longer than 0 seconds")
    problem = polling_problem(cfg.server.poll_limit, cfg.server.trusted_proxies)
    if problem:
        raise ConfigError(problem)
    names = set()
    for i, src in enumerate(cfg.sources):
        where = f"sources[{i}]"
        if src.name == API_SOURCE:
            raise ConfigError(
                f"{where}.name: {API_SOURCE!r} is reserved for posts pushed through the API"
            )
        if src.name in names:
            raise ConfigError(f"{where}.name: duplicate source name {src.name!r}")
        names.add(src.name)
        if src.kind not in tuple(SourceKind):
            raise ConfigError(f'{where}.kind: must be "markdown" or "feed", got {src.kind!r}')
        if src.kind == SourceKind.MARKDOWN and not src.path:
            raise ConfigError(f"{where}.path: required for a markdown source")
        if src.kind == SourceKind.FEED and not re.match(r"^https?://", src.url):
            raise ConfigError(f"{where}.url: an http(s) URL is required for a feed source")
        if src.interval < 1:
            raise ConfigError(f"{where}.interval: must be at least 1 second")
    for i, hook in enumerate(cfg.webhooks):
        if not re.match(r"^https?://", hook.url):
            raise ConfigError(f"webhooks[{i}].url: an http(s) URL is required")
        bad = [e for e in hook.events if e not in EVENT_TYPES]
        if bad:
            raise ConfigError(f"webhooks[{i}].events: unknown event {bad[0]!r}")
        if hook.secret:
            try:
                secret_key(hook.secret)
            except SecretError as exc:
                reason = str(exc).removeprefix("signing: ")
                raise ConfigError(f"webhooks[{i}].secret: {reason}") from None


def config_from_mapping(
    data: Mapping[str, Any], path: str = "<mapping>", env: Mapping[str, str] | None = None
) -> Config:
    """Build a validated Config from parsed TOML; errors are prefixed with ``path``."""
    env = os.environ if env is None else env
    try:
        return _config_from_mapping(data, path, env)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _config_from_mapping(data: Mapping[str, Any], path: str, env: Mapping[str, str]) -> Config:
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key in SECTIONS:
            kwargs[key] = _build(SECTIONS[key], value, key)
        elif key in ("sources", "webhooks"):
            if not isinstance(value, list):
                raise ConfigError(f"{key}: expected an array of tables ([[{key}]])")
            cls = SourceConfig if key == "sources" else WebhookConfig
            required = ("name", "kind") if key == "sources" else ("url",)
            kwargs[key] = tuple(
                _build(cls, item, f"{key}[{i}]", required) for i, item in enumerate(value)
            )
        else:
            raise ConfigError(f"{key}: unknown key")
    if "sources" not in kwargs:
        kwargs["sources"] = (
            SourceConfig(
                name="examples", kind=SourceKind.MARKDOWN, path=str(EXAMPLES_DIR), interval=60.0
            ),
        )
    cfg = _apply_env(Config(path=path, **kwargs), env)
    site = data.get("site")
    if not (isinstance(site, Mapping) and "base_url" in site):
        # no base_url: links follow the address served (production sets base_url: ids use it)
        base = served_base_url(cfg.server.host, cfg.server.port)
        cfg = replace(cfg, site=replace(cfg.site, base_url=base))
    _validate(cfg)
    return cfg


def _apply_env(cfg: Config, env: Mapping[str, str]) -> Config:
    """FEEDSVC_DATABASE_URL, FEEDSVC_ADMIN_TOKEN; FEEDSVC_SERVER_HOST/PORT (``serve --host``,
    ``--port`` pass theirs to the workers and the scheduler through them)."""
    if env.get("FEEDSVC_SERVER_HOST"):
        cfg = replace(cfg, server=replace(cfg.server, host=env["FEEDSVC_SERVER_HOST"]))
    if env.get("FEEDSVC_SERVER_PORT"):
        try:
            port = int(env["FEEDSVC_SERVER_PORT"])
        except ValueError:
            raise ConfigError("FEEDSVC_SERVER_PORT: expected a port number") from None
        cfg = replace(cfg, server=replace(cfg.server, port=port))
    if env.get("FEEDSVC_DATABASE_URL"):
        cfg = replace(cfg, storage=replace(cfg.storage, url=env["FEEDSVC_DATABASE_URL"]))
    if env.get("FEEDSVC_ADMIN_TOKEN"):
        cfg = replace(cfg, admin=replace(cfg.admin, token=env["FEEDSVC_ADMIN_TOKEN"]))
    return cfg


def resolve_config_path(cli_path: str | None, env: Mapping[str, str] | None = None) -> Path | None:
    """--config, else FEEDSVC_CONFIG, else ./feedsvc.toml if it exists, else None (defaults)."""
    env = os.environ if env is None else env
    if cli_path:
        return Path(cli_path)
    if env.get("FEEDSVC_CONFIG"):
        return Path(env["FEEDSVC_CONFIG"])
    local = Path("feedsvc.toml")
    return local if local.is_file() else None


def load_config(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate a TOML config file; None gives the built-in defaults."""
    if path is None:
        return config_from_mapping({}, "<defaults>", env)
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    cfg = config_from_mapping(data, str(path), env)
    return _resolve_relative_paths(cfg, path.parent)


def _resolve_relative_paths(cfg: Config, base: Path) -> Config:
    """Markdown source paths are relative to the config file, as users expect."""
    sources = tuple(
        replace(s, path=str((base / s.path).resolve()))
        if s.kind == SourceKind.MARKDOWN and not Path(s.path).is_absolute()
        else s
        for s in cfg.sources
    )
    return replace(cfg, sources=sources)
