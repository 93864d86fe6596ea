"""Outbound HTTP with a private-network guard (upstream feeds, webhook deliveries, WebSub).

Every address a request connects to is checked: the URL is checked before each request and on
every redirect hop, and the transport resolves and checks the host again at connect time and then
connects to the very address it checked (Host and TLS SNI keep the name), so a DNS answer that
changes between the check and the connection (DNS rebinding) cannot reach a private address.
"""

from __future__ import annotations

import contextvars
import ipaddress
import socket
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from feedsvc import __version__
from feedsvc.config import Config

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]

DEFAULT_USER_AGENT = "feedsvc/0.1 (+https://github.com/feedsvc/feedsvc)"
# Instance metadata services hand out cloud credentials: refused even when private networks are
# allowed (AWS/GCP/Azure/OpenStack 169.254.169.254, AWS IPv6 fd00:ec2::254).
METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")  # RFC 6598 shared address space
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052 well-known prefix, embeds IPv4
_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")  # RFC 4193
_DEFAULT_PORTS = {"http": 80, "https": 443}
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "feedsvc_net_deadline", default=None
)


class BlockedDestination(Exception):
    """A request the guard refused: names the URL (or host) and why."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"net: {url}: {reason}")
        self.url = url
        self.reason = reason


class FetchError(Exception):
    """A request that failed (timeout, too large, refused…): names the URL and the reason."""

    def __init__(self, url: str, reason: str, *, component: str = "net") -> None:
        super().__init__(f"{component}: {url}: {reason}")
        self.url = url
        self.reason = reason


@dataclass(frozen=True)
class OutboundPolicy:
    """``allow_private_networks`` lifts the guard (tests, intranets) except for metadata addresses;
    ``allowed_networks`` (CIDR strings) exempts only the networks listed."""

    allow_private_networks: bool = False
    allowed_networks: tuple[str, ...] = ()

    def permits(self, ip: IPAddress) -> str | None:
        """The reason ``ip`` is refused under this policy, or None."""
        if _is_metadata(ip):
            return "the cloud metadata address"
        reason = check_address(ip)
        if reason is None or self.allow_private_networks:
            return None
        if any(ip in ipaddress.ip_network(net, strict=False) for net in self.allowed_networks):
            return None
        return reason


@dataclass(frozen=True)
class Response:
    status: int
    headers: httpx.Headers
    body: bytes
    url: str  # the final URL, after redirects


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    if ip.ipv4_mapped is not None:
        return "an IPv4-mapped IPv6 address", ip.ipv4_mapped
    if ip.sixtofour is not None:
        return "a 6to4 address", ip.sixtofour
    if ip.teredo is not None:
        return "a Teredo address", ip.teredo[1]
    if ip in _NAT64:
        return "a NAT64 address", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _is_metadata(ip: IPAddress) -> bool:
    if ip in METADATA_ADDRESSES:
        return True
    embedded = _embedded_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) else None
    return embedded is not None and embedded[1] in METADATA_ADDRESSES


_KINDS: tuple[tuple[str, Callable[[Any], bool]], ...] = (
    ("an unspecified address", lambda ip: ip.is_unspecified),
    ("a loopback address", lambda ip: ip.is_loopback),
    ("a link-local address", lambda ip: ip.is_link_local),
    ("a multicast address", lambda ip: ip.is_multicast),
    ("a shared (CGNAT) address", lambda ip: ip in _CGNAT),
    ("a unique-local address", lambda ip: ip in _UNIQUE_LOCAL),
    ("a site-local address", lambda ip: getattr(ip, "is_site_local", False)),
    ("a reserved address", lambda ip: ip.is_reserved),
    ("a private address", lambda ip: ip.is_private),
    ("not a globally routable address", lambda ip: not ip.is_global),
)


def check_address(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public destination ("a loopback address"…), or None if it is."""
    if ip in METADATA_ADDRESSES:
        return "the cloud metadata address"
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            kind, inner = embedded
            reason = check_address(inner)
            if reason is not None:
                return f"{kind} embedding {inner}, {reason}"
            if kind != "a Teredo address":  # the Teredo prefix itself is not global
                return None
    for reason, test in _KINDS:
        if test(ip):
            return reason
    return None


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, in the resolver's order, without duplicates."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _check_host(
    label: str, host: str, port: int, policy: OutboundPolicy, resolver: Resolver
) -> list[str]:
    try:
        literal: IPAddress | None = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        reason = policy.permits(literal)
        if reason:
            raise BlockedDestination(label, f"{literal} is {reason}")
        return [str(literal)]
    try:
        addresses = list(resolver(host, port))
    except (OSError, UnicodeError) as exc:
        raise FetchError(label, f"cannot resolve {host}: {exc}") from exc
    if not addresses:
        raise FetchError(label, f"cannot resolve {host}: no addresses")
    for address in addresses:
        reason = policy.permits(ipaddress.ip_address(address))
        if reason:
            # one bad address refuses the host: the connection could land on any of them
            raise BlockedDestination(label, f"{host} resolves to {address}, {reason}")
    return addresses


def resolve_and_check(
    url: str, policy: OutboundPolicy, *, resolver: Resolver = system_resolver
) -> list[str]:
    """The addresses ``url`` may be fetched from; BlockedDestination when any is refused."""
    try:
        parts = urlsplit(url)
        scheme, host, port = parts.scheme.lower(), parts.hostname, parts.port
    except ValueError as exc:
        raise BlockedDestination(url, f"not a valid URL ({exc})") from exc
    if scheme not in _DEFAULT_PORTS:
        raise BlockedDestination(url, f"scheme {scheme or '(none)'!r} is refused: http/https only")
    if not host:
        raise BlockedDestination(url, "the URL has no host")
    return _check_host(url, host, port or _DEFAULT_PORTS[scheme], policy, resolver)


def _bounded(timeout: float | None, timeout_error: type[Exception]) -> float | None:
    """Cap a per-operation timeout by the current request's total deadline."""
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise timeout_error("total timeout exceeded")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every read/write/handshake also respects the total deadline."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        timeout = _bounded(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _GuardedBackend(httpcore.NetworkBackend):
    """Resolves and checks the host itself, then connects to a checked address only."""

    def __init__(self, policy: OutboundPolicy, resolver: Resolver) -> None:
        self._policy = policy
        self._resolver = resolver
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = _check_host(f"{host}:{port}", host, port, self._policy, self._resolver)
        error: Exception = httpcore.ConnectError(f"no address for {host}")
        for address in addresses:
            try:
                stream = self._inner.connect_tcp(
                    address,
                    port,
                    _bounded(timeout, httpcore.ConnectTimeout),
                    local_address,
                    socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
                continue
            return _DeadlineStream(stream)
        raise error

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise BlockedDestination(path, "unix sockets are refused")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class _GuardedTransport(httpx.HTTPTransport):
    def __init__(self, backend: _GuardedBackend) -> None:
        super().__init__(trust_env=False)
        # httpx.HTTPTransport does not take a network backend: swap in a pool that uses ours.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False), network_backend=backend
        )


class OutboundClient:
    """HTTP client for untrusted destinations: guarded, size-capped, with a total timeout."""

    def __init__(
        self,
        policy: OutboundPolicy,
        *,
        timeout: float = 10.0,
        max_bytes: int = 5_000_000,
        user_agent: str = DEFAULT_USER_AGENT,
        max_redirects: int = 5,
        resolver: Resolver = system_resolver,
    ) -> None:
        self.policy = policy
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self._resolver = resolver
        self._client = httpx.Client(
            transport=_GuardedTransport(_GuardedBackend(policy, resolver)),
            trust_env=False,  # no proxies from the environment: the guard checks destinations
            follow_redirects=False,  # followed by hand below, re-checking every hop
            headers={"User-Agent": user_agent},
            timeout=timeout,
        )

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        follow_redirects: bool = True,
        timeout: float | None = None,
    ) -> Response:
        """Send a request; any status comes back as a Response, failures as FetchError.

        ``timeout`` (default: the client's) bounds the whole exchange, redirects and body
        included. :raises BlockedDestination: the URL or a redirect target is refused.
        """
        total = self.timeout if timeout is None else timeout
        token = _DEADLINE.set(time.monotonic() + total)
        try:
            request = self._client.build_request(
                method, url, headers=headers, content=content, timeout=total
            )
            return self._follow(url, request, follow_redirects)
        except httpx.TimeoutException as exc:
            raise FetchError(url, f"timed out after {total:g}s") from exc
        except httpx.HTTPError as exc:
            raise FetchError(url, f"{type(exc).__name__}: {exc}") from exc
        except httpx.InvalidURL as exc:
            raise BlockedDestination(url, f"not a valid URL ({exc})") from exc
        finally:
            _DEADLINE.reset(token)
            self._client.cookies.clear()  # no state carried from one request to the next

    def _follow(self, url: str, request: httpx.Request, follow_redirects: bool) -> Response:
        for _hop in range(self.max_redirects + 1):
            current = str(request.url)
            resolve_and_check(current, self.policy, resolver=self._resolver)
            try:
                response = self._client.send(request, stream=True)
            except BlockedDestination as exc:  # the connect-time check (DNS changed since)
                raise BlockedDestination(current, exc.reason) from exc
            if not follow_redirects or response.next_request is None:
                return self._read(url, response)
            response.close()
            request = response.next_request
        raise FetchError(url, f"more than {self.max_redirects} redirects")

    def _read(self, url: str, response: httpx.Response) -> Response:
        """Read the body, refusing more than max_bytes (declared or actual, after decoding)."""
        try:
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > self.max_bytes:
                raise FetchError(
                    url, f"response body exceeds {self.max_bytes} bytes (Content-Length {declared})"
                )
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > self.max_bytes:
                    raise FetchError(url, f"response body exceeds {self.max_bytes} bytes")
                chunks.append(chunk)
        finally:
            response.close()
        return Response(response.status_code, response.headers, b"".join(chunks), str(response.url))

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> OutboundClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def user_agent(cfg: Config) -> str:
    """Names feedsvc and the site, so the operators of what we call know whom to ask."""
    return cfg.network.user_agent or f"feedsvc/{__version__} (+{cfg.site.base_url})"


def make_client(
    cfg: Config, *, timeout: float, max_bytes: int, max_redirects: int = 5
) -> OutboundClient:
    """The one factory of outbound clients: the config's network policy and user agent."""
    return OutboundClient(
        OutboundPolicy(allow_private_networks=cfg.network.allow_private_networks),
        timeout=timeout,
        max_bytes=max_bytes,
        user_agent=user_agent(cfg),
        max_redirects=max_redirects,
    )
