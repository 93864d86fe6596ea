"""A small scripted HTTP/1.1 server for tests: real sockets on 127.0.0.1, no network.

Usage::

    with ScriptedServer() as server:
        server.route("/feed", Reply(200, {"Content-Type": "application/rss+xml"}, body))
        server.route("/slow", Reply(200, body=b"late", delay=2.0))
        server.route("/twice", Reply(200, body=b"first"), Reply(304))   # in order; last repeats
        server.route("/echo", lambda req: Reply(200, body=req.body))     # computed per request
        ... server.url("/feed") ...
        assert server.requests_to("/feed")[0].headers["User-Agent"].startswith("feedsvc/")

Unknown paths answer 404. Every request is recorded (method, path with query, headers, body).
Delays are interruptible: closing the server wakes sleeping handlers and joins their threads, so
tests run cleanly under ``filterwarnings = error`` (no ResourceWarning, no stray threads).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

__all__ = ["RecordedRequest", "Reply", "ScriptedServer"]


@dataclass(frozen=True)
class Reply:
    """One scripted response.

    ``delay`` sleeps before the status line is sent; ``chunk_delay`` sleeps between body chunks of
    ``chunk_size`` bytes (a trickling server). ``content_length=False`` omits Content-Length and
    closes the connection after the body (the length is then only known by reading to the end).
    """

    status: int = 200
    headers: Mapping[str, str] | Iterable[tuple[str, str]] = ()
    body: bytes = b""
    delay: float = 0.0
    chunk_delay: float = 0.0
    chunk_size: int = 1024
    content_length: bool = True


@dataclass(frozen=True)
class RecordedRequest:
    """What the server received; ``headers`` is case-insensitive (``email.message.Message``)."""

    method: str
    path: str
    headers: Message
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


Responder = Reply | Callable[[RecordedRequest], Reply]


@dataclass
class _Route:
    replies: list[Responder] = field(default_factory=list)
    served: int = 0

    def next(self) -> Responder:
        reply = self.replies[min(self.served, len(self.replies) - 1)]
        self.served += 1
        return reply


class ScriptedServer:
    """A threaded HTTP server on 127.0.0.1 (port chosen by the OS) answering scripted replies."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._routes: dict[str, _Route] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.requests: list[RecordedRequest] = []
        self._httpd = _Server((host, 0), _make_handler(self))
        self.host = host
        self.port: int = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def url(self, path: str = "/") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def route(self, path: str, *replies: Responder) -> None:
        """Script ``path`` (without query): the replies are used in order, the last one repeats."""
        if not replies:
            raise ValueError("route() needs at least one reply")
        with self._lock:
            self._routes[path] = _Route(list(replies))

    def requests_to(self, path: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if urlsplit(r.path).path == path]

    def close(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()  # joins handler threads (block_on_close)
        self._thread.join()

    def __enter__(self) -> ScriptedServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _respond_to(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            route = self._routes.get(urlsplit(request.path).path)
            responder = route.next() if route else Reply(404, body=b"not scripted")
        return responder(request) if callable(responder) else responder

    def _sleep(self, seconds: float) -> bool:
        """Sleep unless the server is closing; True when the handler should carry on."""
        return not (seconds and self._stopping.wait(seconds))


class _Server(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True
    # socketserver's default listen backlog is 5: a burst of concurrent deliveries overflows it,
    # and a dropped SYN is only retried after 1 s, which a test's short timeout then reports
    request_queue_size = 128

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), which can stall on hosts without DNS
        super(ThreadingHTTPServer, self).server_bind()
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients that hang up early (timeouts, size limits) are expected in these tests


def _make_handler(server: ScriptedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = RecordedRequest(self.command, self.path, self.headers, body)
            reply = server._respond_to(request)
            if not server._sleep(reply.delay):
                self.close_connection = True
                return
            self._send(reply)

        def _send(self, reply: Reply) -> None:
            self.send_response(reply.status)
            headers = reply.headers.items() if isinstance(reply.headers, Mapping) else reply.headers
            names = set()
            for name, value in headers:
                self.send_header(name, value)
                names.add(name.lower())
            if not reply.content_length:
                self.send_header("Connection", "close")
                self.close_connection = True
            elif "content-length" not in names:
                self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            if self.command == "HEAD" or reply.status in (204, 304):
                return
            for start in range(0, len(reply.body), max(reply.chunk_size, 1)):
                if start and not server._sleep(reply.chunk_delay):
                    self.close_connection = True
                    return
                self.wfile.write(reply.body[start : start + reply.chunk_size])
                self.wfile.flush()

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle

    return Handler
