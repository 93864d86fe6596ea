"""Config loading: every key typed, unknown keys named, env overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from feedsvc.config import ConfigError, load_config, parse_duration


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "feedsvc.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("2h", 7200), ("1d", 86400), ("250ms", 0.25), (45, 45), ("10", 10)],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["5 minutes", "-1s", True, "", [1]])
def test_bad_durations(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_defaults_without_a_file():
    cfg = load_config(None, env={})
    assert cfg.storage.url == "sqlite:///feedsvc.db"
    assert cfg.feeds.page_size == 20 and cfg.feeds.summary_length == 350
    assert cfg.admin.token == ""
    assert cfg.network.allow_private_networks is False
    assert cfg.delivery.timeout == 10
    assert cfg.delivery.retry_schedule == (5, 300, 1800, 7200, 18000, 36000, 86400)
    assert [s.name for s in cfg.sources] == ["examples"]
    assert Path(cfg.sources[0].path).is_dir()


def test_full_file_is_loaded_and_relative_paths_resolved(tmp_path):
    path = write(
        tmp_path,
        """
[site]
title = "ML 笔记"
base_url = "https://notes.example"
language = "zh-CN"
[feeds]
page_size = 5
[delivery]
timeout = "3s"
retry_schedule = ["1s", "1m"]
[[sources]]
name = "blog"
kind = "markdown"
path = "content"
interval = "2m"
[[webhooks]]
url = "https://hooks.example/in"
events = ["post.published"]
""",
    )
    cfg = load_config(path, env={})
    assert cfg.site.title == "ML 笔记" and cfg.feeds.page_size == 5
    assert cfg.delivery.timeout == 3 and cfg.delivery.retry_schedule == (1, 60)
    assert cfg.sources[0].interval == 120
    assert cfg.sources[0].path == str((tmp_path / "content").resolve())
    assert cfg.webhooks[0].events == ("post.published",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[site]\ntitel = 'x'\n", "site.titel: unknown key"),
        ("[feeds]\npage_size = 'ten'\n", "feeds.page_size: expected an integer"),
        ("[feeds]\nfull_content = 1\n", "feeds.full_content: expected true or false"),
        ("[network]\nallow_private_networks = 'yes'\n", "network.allow_private_networks"),
        ("[delivery]\ntimeout = 'soon'\n", "delivery.timeout"),
        ("[bogus]\nx = 1\n", "bogus: unknown key"),
        ("[[sources]]\nname = 'a'\nkind = 'ftp'\n", "sources[0].kind"),
        ("[[sources]]\nkind = 'markdown'\npath = 'x'\n", "sources[0].name: required"),
        ("[[webhooks]]\nurl = 'https://x'\nevents = ['post.moved']\n", "webhooks[0].events"),
        ("[[webhooks]]\nurl = 'https://x'\nsecret = 'whsec_not base64!'\n", "webhooks[0].secret"),
        ("[[webhooks]]\nurl = 'https://x'\nsecret = 'whsec_'\n", "webhooks[0].secret: the secret"),
        ("[site]\nbase_url = 'example.org'\n", "site.base_url"),
        ("this is = not toml =", "not valid TOML"),
        ("[[sources]]\nname = 'api'\nkind = 'markdown'\npath = 'x'\n", "sources[0].name"),
        ("[site]\ntimezone = 'Mars/Olympus_Mons'\n", "site.timezone: unknown time zone"),
        ("[site]\ntimezone = '../../etc/passwd'\n", "site.timezone: '../../etc/passwd' is not"),
        ("[site]\ntimezone = '/usr/share/zoneinfo/UTC'\n", "site.timezone: '/usr/share"),
        ("[site]\ntimezone = ''\n", "site.timezone: '' is not an IANA time zone name"),
        ("[site]\ntimezone = 8\n", "site.timezone: expected a string"),
    ],
)
def test_bad_config_names_key_and_file(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert str(path) in str(info.value)
    assert message in str(info.value)


@pytest.mark.parametrize("name", ["UTC", "Asia/Shanghai", "America/Argentina/Buenos_Aires"])
def test_timezone_names(tmp_path, name):
    cfg = load_config(write(tmp_path, f"[site]\ntimezone = '{name}'\n"), env={})
    assert cfg.site.zone().key == name


def test_timezone_defaults_to_utc():
    assert load_config(None, env={}).site.zone().key == "UTC"


def test_env_overrides_secrets_and_database(tmp_path):
    path = write(tmp_path, "[admin]\ntoken = 'from-file'\n")
    env = {"FEEDSVC_ADMIN_TOKEN": "from-env", "FEEDSVC_DATABASE_URL": "sqlite:////tmp/x.db"}
    cfg = load_config(path, env=env)
    assert cfg.admin.token == "from-env"
    assert cfg.storage.url == "sqlite:////tmp/x.db"


def test_example_config_is_valid_and_documents_every_key():
    import tomllib
    from dataclasses import fields

    from feedsvc.config import SECTIONS, SourceConfig, WebhookConfig

    path = Path(__file__).resolve().parents[2] / "config.example.toml"
    cfg = load_config(path, env={})
    assert cfg.site.base_url == "http://localhost:8080"
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    for section, cls in SECTIONS.items():
        assert set(data[section]) == {f.name for f in fields(cls)}, section
    documented_source_keys = set().union(*(s.keys() for s in data["sources"]))
    assert documented_source_keys == {f.name for f in fields(SourceConfig)}
    assert set(data["webhooks"][0]) == {f.name for f in fields(WebhookConfig)}
