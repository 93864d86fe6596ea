"""Issue 14: [server] port range, [logging], database URL schemes, base_url that follows the
address served."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feedsvc.config import ConfigError, config_from_mapping
from feedsvc.storage.db import describe_url, normalize_url


@given(st.integers(min_value=-(2**70), max_value=2**70))
def test_port_is_valid_exactly_in_1_to_65535(port: int) -> None:
    data = {"server": {"port": port}}
    if 1 <= port <= 65535:
        assert config_from_mapping(data, "t.toml", env={}).server.port == port
    elif port < 0:
        with pytest.raises(ConfigError, match=r"^t.toml: server.port: must not be negative$"):
            config_from_mapping(data, "t.toml", env={})
    else:
        with pytest.raises(ConfigError) as err:
            config_from_mapping(data, "t.toml", env={})
        assert str(err.value) == (f"t.toml: server.port: must be between 1 and 65535, got {port}")


@given(st.integers(min_value=1, max_value=65535), st.sampled_from(["127.0.0.1", "0.0.0.0", "::"]))
def test_without_base_url_links_follow_the_port(port: int, host: str) -> None:
    cfg = config_from_mapping({"server": {"host": host, "port": port}}, "t.toml", env={})
    assert cfg.site.base_url == f"http://localhost:{port}"


def test_served_address_comes_from_the_environment_but_base_url_wins() -> None:
    env = {"FEEDSVC_SERVER_HOST": "feeds.lan", "FEEDSVC_SERVER_PORT": "9000"}
    assert config_from_mapping({}, "t", env=env).site.base_url == "http://feeds.lan:9000"
    explicit = {"site": {"base_url": "https://feeds.example.org"}}
    assert config_from_mapping(explicit, "t", env=env).site.base_url == "https://feeds.example.org"
    with pytest.raises(ConfigError, match="FEEDSVC_SERVER_PORT: expected a port number"):
        config_from_mapping({}, "t", env={"FEEDSVC_SERVER_PORT": "http"})


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            {"level": "loud"},
            "logging.level: must be one of debug, info, warning, error, got 'loud'",
        ),
        ({"format": "xml"}, 'logging.format: must be "text" or "json", got \'xml\''),
        ({"colour": True}, "logging.colour: unknown key"),
    ],
)
def test_logging_section_is_validated(section: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        config_from_mapping({"logging": section}, "t.toml", env={})
    assert str(err.value) == f"t.toml: {message}"


@pytest.mark.parametrize(
    ("url", "normalized", "shown"),
    [
        ("postgres://u:pw@db:5433/feeds", "postgresql+psycopg://u:pw@db:5433/feeds",
         "postgresql://u@db:5433/feeds"),
        ("postgresql+psycopg2://u@db/feeds", "postgresql+psycopg://u@db/feeds",
         "postgresql://u@db:5432/feeds"),
        ("sqlite:///x/feedsvc.db", "sqlite:///x/feedsvc.db", "SQLite file x/feedsvc.db"),
    ],
)  # fmt: skip
def test_database_urls(url: str, normalized: str, shown: str) -> None:
    assert normalize_url(url) == normalized
    assert describe_url(url) == shown
    assert config_from_mapping({"storage": {"url": url}}, "t", env={}).storage.url == url


@pytest.mark.parametrize("url", ["mysql://root@db/feeds", "redis://x", "feedsvc.db"])
def test_unknown_database_scheme(url: str) -> None:
    with pytest.raises(ConfigError, match="storage.url: unknown database URL scheme"):
        config_from_mapping({"storage": {"url": url}}, "t", env={})
