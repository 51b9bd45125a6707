"""HTTP plumbing: request and response objects and a threaded TLS server on the standard library.

Responses are either a byte body (with Content-Length) or a stream of byte chunks sent with
chunked transfer encoding, so large Bulk results never sit in memory. A response can be
marked ``drop`` to cut the connection half-way (the fault injector's dropped page).
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

log = logging.getLogger("emulator.web")

JSON_TYPE = "application/json;charset=UTF-8"


class Request:
    """One HTTP request, with lazy body reading.

    Attributes:
        method: HTTP method.
        raw_path: Path as sent (percent-encoded, without the query string).
        segments: Path segments, percent-decoded after splitting on ``/``.
        query: Parsed query string.
        headers: Request headers.
    """

    def __init__(self, handler: BaseHTTPRequestHandler) -> None:
        self._handler = handler
        self.method = handler.command
        parts = urlsplit(handler.path)
        self.raw_path = parts.path
        self.segments = [unquote(s) for s in parts.path.split("/")]
        self.query = parse_qs(parts.query, keep_blank_values=True)
        self.headers = handler.headers
        self._body: bytes | None = None
        self._consumed = False
        self.user_id: str | None = None

    def param(self, name: str, default: str | None = None) -> str | None:
        """First value of a query parameter."""
        values = self.query.get(name)
        return values[0] if values else default

    def header(self, name: str, default: str | None = None) -> str | None:
        """A request header (case-insensitive)."""
        return self.headers.get(name, default)

    @property
    def host(self) -> str:
        """The Host header (``127.0.0.1:PORT``), used to build instance URLs."""
        return self.headers.get("Host") or f"127.0.0.1:{self._handler.server.server_address[1]}"

    def _chunks(self) -> Iterable[bytes]:
        rfile = self._handler.rfile
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            while True:
                size_line = rfile.readline(65537)
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return
                remaining = size
                while remaining:
                    data = rfile.read(min(remaining, 1 << 20))
                    if not data:
                        raise ConnectionError("client closed the connection mid-body")
                    remaining -= len(data)
                    yield data
                rfile.readline(3)
        else:
            remaining = int(self.headers.get("Content-Length") or 0)
            while remaining > 0:
                data = rfile.read(min(remaining, 1 << 20))
                if not data:
                    raise ConnectionError("client closed the connection mid-body")
                remaining -= len(data)
                yield data

    def body(self) -> bytes:
        """The whole request body."""
        if self._body is None:
            self._body = b"" if self._consumed else b"".join(self._chunks())
            self._consumed = True
        return self._body

    def body_to_file(self, path: Path) -> int:
        """Stream the request body into a file; returns its size in bytes."""
        size = 0
        with open(path, "wb") as handle:
            for chunk in self._chunks():
                handle.write(chunk)
                size += len(chunk)
        self._consumed = True
        return size

    def json(self) -> Any:
        """The body parsed as JSON (None when empty); ValueError if it is not JSON."""
        raw = self.body()
        if not raw.strip():
            return None
        return json.loads(raw)

    def drain(self) -> None:
        """Read whatever body the handler left unread, so the connection can be reused."""
        if not self._consumed:
            for _chunk in self._chunks():
                pass
            self._consumed = True


@dataclass
class Response:
    """An HTTP response: ``body`` bytes or a ``stream`` of chunks."""

    status: int = 200
    body: bytes = b""
    content_type: str | None = JSON_TYPE
    headers: list[tuple[str, str]] = field(default_factory=list)
    stream: Iterable[bytes] | None = None
    drop: bool = False

    def add_header(self, name: str, value: str) -> Response:
        """Append a header and return self."""
        self.headers.append((name, value))
        return self


def json_response(status: int, payload: Any, headers: list[tuple[str, str]] | None = None) -> Response:
    """A JSON response."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(status, body, JSON_TYPE, list(headers or []))


def error_response(status: int, code: str, message: str, fields: list[str] | None = None) -> Response:
    """Salesforce's REST error body: a JSON list of ``{"message", "errorCode"}``."""
    entry: dict[str, Any] = {"message": message, "errorCode": code}
    if fields is not None:
        entry["fields"] = fields
    return json_response(status, [entry])


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "SFDC"
    sys_version = ""
    timeout = 600

    def _dispatch(self) -> None:
        app: Callable[[Request], Response] = self.server.app  # type: ignore[attr-defined]
        request = Request(self)
        try:
            response = app(request)
        except Exception:  # the server must keep serving whatever a handler does
            log.exception("unhandled error on %s %s", self.command, request.raw_path)
            response = error_response(500, "UNKNOWN_EXCEPTION", "An unexpected error occurred. Please include this "
                                      "ErrorId if you contact support: emulator")
        try:
            request.drain()
        except (ConnectionError, ValueError, OSError):
            self.close_connection = True
        self._send(response)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _dispatch  # noqa: N815

    def _send(self, response: Response) -> None:
        try:
            self.send_response(response.status)
            if response.content_type and (response.body or response.stream is not None):
                self.send_header("Content-Type", response.content_type)
            for name, value in response.headers:
                self.send_header(name, value)
            if response.stream is not None:
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                self._send_stream(response)
            else:
                body = response.body if self.command != "HEAD" else b""
                self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                if response.drop:
                    self.wfile.write(body[: max(1, len(body) // 2)])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, TimeoutError, OSError):
            self.close_connection = True

    def _send_stream(self, response: Response) -> None:
        assert response.stream is not None
        sent_chunks = 0
        for chunk in response.stream:
            if not chunk:
                continue
            if response.drop and sent_chunks >= 1:
                self.wfile.write(b"%x\r\n" % len(chunk) + chunk[: len(chunk) // 2])
                self.wfile.flush()
                self.close_connection = True
                close = getattr(response.stream, "close", None)
                if close:
                    close()
                return
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent_chunks += 1
        if response.drop:  # a single-chunk body: cut inside the terminating frame
            self.close_connection = True
            return
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.info("%s - %s", self.address_string(), format % args)


class TlsServer(ThreadingHTTPServer):
    """Threaded HTTPS server: the TLS handshake happens in each connection's own thread."""

    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, port: int, cert: Path, key: Path, app: Callable[[Request], Response]) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(str(cert), str(key))
        self.ssl_context = context
        self.app = app
        self.active = 0
        self._active_lock = threading.Lock()

    @property
    def port(self) -> int:
        """The bound port."""
        return self.server_address[1]

    def finish_request(self, request: Any, client_address: Any) -> None:
        with self._active_lock:
            self.active += 1
        try:
            request.settimeout(30)
            try:
                tls = self.ssl_context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return
            try:
                tls.settimeout(_Handler.timeout)
                self.RequestHandlerClass(tls, client_address, self)
            except (ConnectionError, ssl.SSLError, TimeoutError, OSError):
                pass
            finally:
                try:
                    tls.close()
                except OSError:
                    pass
        finally:
            with self._active_lock:
                self.active -= 1

    def shutdown_request(self, request: Any) -> None:
        try:
            request.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        self.close_request(request)

