"""The outbound guard: address classification, per-hop checks, timeouts and size limits."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feedsvc.net import (
    BlockedDestination,
    FetchError,
    OutboundClient,
    OutboundPolicy,
    check_address,
    resolve_and_check,
)
from tests.httpserver import Reply, ScriptedServer

ALLOW = OutboundPolicy(allow_private_networks=True)
DENY = OutboundPolicy()


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        yield srv


@pytest.fixture
def client() -> Iterator[OutboundClient]:
    with OutboundClient(ALLOW, timeout=2.0, max_bytes=1000) as c:
        yield c


ADDRESSES = [
    ("8.8.8.8", None),
    ("93.184.216.34", None),
    ("2606:4700:4700::1111", None),
    ("127.0.0.1", "a loopback address"),
    ("127.255.0.9", "a loopback address"),
    ("::1", "a loopback address"),
    ("0.0.0.0", "an unspecified address"),
    ("::", "an unspecified address"),
    ("10.1.2.3", "a private address"),
    ("172.16.0.1", "a private address"),
    ("192.168.1.1", "a private address"),
    ("169.254.1.1", "a link-local address"),
    ("fe80::1", "a link-local address"),
    ("169.254.169.254", "the cloud metadata address"),
    ("fd00:ec2::254", "the cloud metadata address"),
    ("fd12:3456::1", "a unique-local address"),
    ("fc00::1", "a unique-local address"),
    ("100.64.0.1", "a shared (CGNAT) address"),
    ("100.127.255.254", "a shared (CGNAT) address"),
    ("224.0.0.1", "a multicast address"),
    ("ff02::1", "a multicast address"),
    ("240.0.0.1", "a reserved address"),
    ("::ffff:127.0.0.1", "an IPv4-mapped IPv6 address embedding 127.0.0.1, a loopback address"),
    ("::ffff:10.0.0.1", "an IPv4-mapped IPv6 address embedding 10.0.0.1, a private address"),
    (
        "::ffff:169.254.169.254",
        "an IPv4-mapped IPv6 address embedding 169.254.169.254, the cloud metadata address",
    ),
    ("::ffff:8.8.8.8", None),
    ("2002:7f00:1::1", "a 6to4 address embedding 127.0.0.1, a loopback address"),
    ("2002:c0a8:101::1", "a 6to4 address embedding 192.168.1.1, a private address"),
    ("2002:808:808::1", None),
    ("64:ff9b::a00:1", "a NAT64 address embedding 10.0.0.1, a private address"),
]


@pytest.mark.parametrize(("address", "reason"), ADDRESSES)
def test_check_address(address: str, reason: str | None) -> None:
    assert check_address(ipaddress.ip_address(address)) == reason


def test_teredo_embedding_a_private_client_is_refused() -> None:
    # Teredo: server 65.54.227.120, client obfuscated (bits inverted): 192.168.1.1
    teredo = ipaddress.IPv6Address("2001:0:4136:e378:8000:63bf:3f57:fefe")
    assert teredo.teredo is not None and str(teredo.teredo[1]) == "192.168.1.1"
    assert check_address(teredo) == "a Teredo address embedding 192.168.1.1, a private address"


@given(st.ip_addresses(network="10.0.0.0/8") | st.ip_addresses(network="192.168.0.0/16"))
def test_private_ranges_are_refused(ip: ipaddress.IPv4Address) -> None:
    assert check_address(ip) == "a private address"
    assert check_address(ipaddress.IPv6Address(f"::ffff:{ip}")) is not None


@given(st.ip_addresses(v=4))
def test_every_refused_ipv4_is_also_refused_when_mapped(ip: ipaddress.IPv4Address) -> None:
    mapped = ipaddress.IPv6Address(f"::ffff:{ip}")
    assert (check_address(ip) is None) == (check_address(mapped) is None)
    if not ip.is_global:
        assert check_address(ip) is not None


@given(st.ip_addresses(network="fc00::/7"))
def test_unique_local_is_refused(ip: ipaddress.IPv6Address) -> None:
    assert check_address(ip) in ("a unique-local address", "the cloud metadata address")


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://example.com/x", "gopher://example.com:70/", "//x/y"]
)
def test_non_http_schemes_are_refused(url: str, client: OutboundClient) -> None:
    with pytest.raises(BlockedDestination, match="http/https only"):
        resolve_and_check(url, ALLOW)
    with pytest.raises(BlockedDestination):
        client.request("GET", url)


def test_resolve_checks_every_address() -> None:
    def resolver(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "10.0.0.7"]

    with pytest.raises(BlockedDestination) as info:
        resolve_and_check("https://mixed.example/feed", DENY, resolver=resolver)
    assert str(info.value) == (
        "net: https://mixed.example/feed: mixed.example resolves to 10.0.0.7, a private address"
    )
    assert resolve_and_check("http://ok.example/", DENY, resolver=lambda h, p: ["8.8.8.8"]) == [
        "8.8.8.8"
    ]


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1/", "http://[::1]:8080/", "http://2130706433/", "http://0x7f.1/"]
)
def test_loopback_spellings_are_refused(url: str) -> None:
    with pytest.raises(BlockedDestination, match="loopback"):
        resolve_and_check(url, DENY)


def test_local_server_refused_by_default_and_allowed_by_policy(server: ScriptedServer) -> None:
    server.route("/", Reply(200, body=b"hello"))
    with OutboundClient(DENY) as guarded, pytest.raises(BlockedDestination) as info:
        guarded.request("GET", server.url("/"))
    assert str(info.value) == f"net: {server.url('/')}: 127.0.0.1 is a loopback address"
    assert server.requests == []  # refused before connecting
    with OutboundClient(ALLOW) as open_client:
        response = open_client.request("GET", server.url("/"))
    assert (response.status, response.body, response.url) == (200, b"hello", server.url("/"))
    assert server.requests[0].header("User-Agent") == (
        "feedsvc/0.1 (+https://github.com/feedsvc/feedsvc)"
    )


def test_redirects_are_followed_and_every_hop_is_checked(
    server: ScriptedServer, client: OutboundClient
) -> None:
    server.route("/start", Reply(302, {"Location": "/next"}))
    server.route("/next", Reply(301, {"Location": server.url("/end")}))
    server.route("/end", Reply(200, body=b"done"))
    response = client.request("GET", server.url("/start"))
    assert (response.body, response.url) == (b"done", server.url("/end"))
    server.route("/meta", Reply(302, {"Location": "http://169.254.169.254/latest/meta-data/"}))
    with pytest.raises(BlockedDestination, match="169.254.169.254 is the cloud metadata"):
        client.request("GET", server.url("/meta"))
    server.route("/file", Reply(302, {"Location": "file:///etc/passwd"}))
    with pytest.raises(BlockedDestination, match="'file' is refused"):
        client.request("GET", server.url("/file"))


def test_redirect_from_an_allowed_host_to_loopback_is_refused(server: ScriptedServer) -> None:
    only_this_host = OutboundPolicy(allowed_networks=("127.0.0.1/32",))
    server.route("/hop", Reply(302, {"Location": f"http://[::1]:{server.port}/x"}))
    server.route("/hop2", Reply(307, {"Location": f"http://127.0.0.2:{server.port}/x"}))
    with OutboundClient(only_this_host) as client:
        with pytest.raises(BlockedDestination, match=r"::1 is a loopback address"):
            client.request("GET", server.url("/hop"))
        with pytest.raises(BlockedDestination, match=r"127\.0\.0\.2 is a loopback address"):
            client.request("GET", server.url("/hop2"))
    assert [r.path for r in server.requests] == ["/hop", "/hop2"]


def test_redirect_loop_is_cut(server: ScriptedServer) -> None:
    server.route("/loop", Reply(302, {"Location": "/loop"}))
    with OutboundClient(ALLOW, max_redirects=3) as client:
        with pytest.raises(FetchError, match="more than 3 redirects"):
            client.request("GET", server.url("/loop"))
        assert client.request("GET", server.url("/loop"), follow_redirects=False).status == 302
    assert len(server.requests) == 5


def test_dns_rebinding_is_caught_at_connect(server: ScriptedServer) -> None:
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])  # public when checked, loopback later

    def rebinding(host: str, port: int) -> list[str]:
        return next(answers)

    with OutboundClient(DENY, resolver=rebinding) as client:
        with pytest.raises(BlockedDestination, match="rebind.test resolves to 127.0.0.1"):
            client.request("GET", f"http://rebind.test:{server.port}/")
    assert server.requests == []


def test_connects_to_the_checked_address_and_keeps_the_host_name(server: ScriptedServer) -> None:
    server.route("/feed", Reply(200, body=b"ok"))
    with OutboundClient(ALLOW, resolver=lambda host, port: ["127.0.0.1"]) as client:
        response = client.request("GET", f"http://feeds.example.test:{server.port}/feed")
    assert response.body == b"ok"
    assert server.requests[0].header("Host") == f"feeds.example.test:{server.port}"


def test_declared_oversize_body_fails_fast(server: ScriptedServer, client: OutboundClient) -> None:
    server.route("/big", Reply(200, {"Content-Length": "10000000"}, b"x" * 10, delay=0))
    with pytest.raises(FetchError, match=r"exceeds 1000 bytes \(Content-Length 10000000\)"):
        client.request("GET", server.url("/big"))


def test_streamed_oversize_body_is_cut(server: ScriptedServer, client: OutboundClient) -> None:
    server.route("/big", Reply(200, body=b"x" * 50_000, content_length=False))
    with pytest.raises(FetchError) as info:
        client.request("GET", server.url("/big"))
    assert str(info.value) == f"net: {server.url('/big')}: response body exceeds 1000 bytes"
    server.route("/fits", Reply(200, body=b"y" * 1000, content_length=False))
    assert client.request("GET", server.url("/fits")).body == b"y" * 1000


def test_slow_server_times_out_naming_the_url(server: ScriptedServer) -> None:
    server.route("/slow", Reply(200, body=b"late", delay=5))
    with OutboundClient(ALLOW, timeout=0.3) as client:
        started = time.monotonic()
        with pytest.raises(FetchError) as info:
            client.request("GET", server.url("/slow"))
    assert time.monotonic() - started < 2
    assert str(info.value) == f"net: {server.url('/slow')}: timed out after 0.3s"
    assert info.value.__cause__ is not None


def test_trickling_server_hits_the_total_timeout(server: ScriptedServer) -> None:
    # each chunk arrives well within a per-read timeout; only a total deadline stops this
    server.route("/drip", Reply(200, body=b"z" * 40, chunk_size=1, chunk_delay=0.1))
    with OutboundClient(ALLOW, timeout=0.5) as client:
        started = time.monotonic()
        with pytest.raises(FetchError, match="timed out after 0.5s"):
            client.request("GET", server.url("/drip"))
    assert time.monotonic() - started < 1.5


def test_connection_refused_names_the_url() -> None:
    with ScriptedServer() as closed:
        url = closed.url("/gone")
    with OutboundClient(ALLOW) as client, pytest.raises(FetchError) as info:
        client.request("GET", url)
    assert str(info.value).startswith(f"net: {url}: ConnectError")
