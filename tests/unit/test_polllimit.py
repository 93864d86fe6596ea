"""[server] poll_limit: the budget, the client address behind proxies, the config keys."""

from __future__ import annotations

import pytest

from feedsvc.config import ConfigError, parse_poll_limit
from feedsvc.web.polllimit import PollBudget, client_address, networks
from tests.conftest import make_config


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_budget_refuses_past_the_limit_and_refills_after_the_window():
    ticks = Ticks()
    budget = PollBudget(2, 60.0, monotonic=ticks)
    assert budget.take("a") is None
    assert budget.take("a") is None
    ticks.now += 10
    assert budget.take("a") == pytest.approx(50.0)
    assert budget.take("b") is None  # another key has its own budget
    ticks.now += 50
    assert budget.take("a") is None


def test_budget_forgets_expired_windows_when_full():
    ticks = Ticks()
    budget = PollBudget(1, 10.0, monotonic=ticks, max_keys=2)
    budget.take("a")
    budget.take("b")
    ticks.now += 11
    assert budget.take("c") is None
    assert budget.take("c") is not None


PROXIES = networks(["10.0.0.0/8", "127.0.0.1"])


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("203.0.113.9", "198.51.100.1", "203.0.113.9"),  # untrusted peer: header ignored
        ("127.0.0.1", "198.51.100.1", "198.51.100.1"),
        ("127.0.0.1", "6.6.6.6, 198.51.100.1, 10.1.2.3", "198.51.100.1"),  # forged hop left
        ("10.0.0.5", "10.0.0.7", "10.0.0.7"),  # only proxies: the first hop
        ("127.0.0.1", "", "127.0.0.1"),
    ],
)
def test_client_address(peer, forwarded, expected):
    environ = {"REMOTE_ADDR": peer, "HTTP_X_FORWARDED_FOR": forwarded}
    assert client_address(environ, PROXIES) == expected


def test_no_trusted_proxies_means_the_peer():
    environ = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "198.51.100.1"}
    assert client_address(environ, ()) == "127.0.0.1"


def test_poll_limit_values():
    assert parse_poll_limit("") is None
    assert parse_poll_limit("60/1h") == (60, 3600.0)
    for bad in ("60", "0/1h", "x/1h", "60/soon", "60/0"):
        with pytest.raises(ValueError):
            parse_poll_limit(bad)


@pytest.mark.parametrize(
    ("server", "message"),
    [
        ({"poll_limit": "lots"}, "server.poll_limit: 'lots' is not a limit"),
        ({"trusted_proxies": ["10.0.0.0/33"]}, "server.trusted_proxies[0]: '10.0.0.0/33'"),
    ],
)
def test_config_errors_name_the_key(tmp_path, server, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        make_config(tmp_path, server=server)
