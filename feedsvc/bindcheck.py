"""Before ``feedsvc serve`` starts its server: can it listen on the address at all?

granian binds with SO_REUSEPORT, so a second feedsvc on a port another one holds would start
silently beside it (the kernel then splits connections between them). This check binds a plain
socket first, with SO_REUSEADDR (a port left in TIME_WAIT by a restart is free) but without
SO_REUSEPORT: on Linux that bind fails while any socket listens on the address, whoever holds it.
"""

from __future__ import annotations

import errno
import socket


class CannotListen(Exception):
    """The address is in use, not on this machine, or not allowed; one line for the operator."""


def check_can_listen(host: str, port: int) -> None:
    """Raise CannotListen naming ``host:port`` and the reason when serve could not bind it."""
    shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (OSError, UnicodeError) as exc:
        raise CannotListen(f"cannot listen on {shown}: cannot resolve {host!r} ({exc})") from None
    for family, kind, proto, _name, address in infos:
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(address)
                sock.listen(1)
            except OSError as exc:
                raise CannotListen(f"cannot listen on {shown}: {_reason(exc)}") from None


def _reason(exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (
            "address already in use (another feedsvc or another program is listening there;"
            " stop it or choose another [server] port / --port)"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return "no such address on this machine (check [server] host / --host)"
    if exc.errno == errno.EACCES:
        return "permission denied (ports below 1024 need privileges; use a higher port)"
    return exc.strerror or str(exc)
