"""A local HTTP server whose answers each test scripts: statuses, headers, redirects,
slow or oversized bodies, raw bytes sent at a chosen pace (a status line or headers that
trickle, a body that stalls); over TLS with a self-signed certificate if asked. Every
request is recorded. ``SilentServer`` accepts connections and never says a word."""

from __future__ import annotations

import datetime
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    drip: float = 0.0  # seconds between body bytes (a slow server)
    # Instead of all the above: bytes to send as they are, each followed by a pause in
    # seconds (a status line trickled a byte at a time, a body that stops half-way).
    raw: tuple[tuple[bytes, float], ...] = ()


def trickled(data: bytes, every: float) -> tuple[tuple[bytes, float], ...]:
    """``data`` sent one byte every ``every`` seconds."""
    return tuple((data[i : i + 1], every) for i in range(len(data)))


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    at: float
    body: bytes = b""  # what a POST sent


Script = list[Reply] | Callable[[BaseHTTPRequestHandler], Reply]


def self_signed_context() -> ssl.SSLContext:
    """A server context whose certificate no client trusts (signed by itself)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    with tempfile.NamedTemporaryFile(suffix=".pem") as pem:
        pem.write(cert.public_bytes(serialization.Encoding.PEM))
        pem.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        pem.flush()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(pem.name)
    return context


class ScriptedServer:
    def __init__(self, tls: bool = False) -> None:
        self.routes: dict[str, Script] = {}
        self.hits: list[Hit] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.do_GET(self.rfile.read(length))

            def do_GET(self, body: bytes = b"") -> None:
                with server._lock:
                    hit = Hit(self.path, dict(self.headers.items()), time.monotonic(), body)
                    server.hits.append(hit)
                    script = server.routes.get(self.path.split("?")[0])
                    if script is None:
                        reply = Reply(404, b"not found")
                    elif callable(script):
                        reply = script(self)
                    else:
                        reply = script.pop(0) if len(script) > 1 else script[0]
                if reply.raw:
                    for data, pause in reply.raw:
                        try:
                            self.wfile.write(data)
                            self.wfile.flush()
                        except OSError:
                            return
                        if server._closing.wait(pause):
                            return
                    self.close_connection = True
                    return
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if "Content-Length" not in reply.headers:
                    self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if reply.drip:
                    for byte in reply.body:
                        try:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                        except OSError:
                            return
                        time.sleep(reply.drip)
                else:
                    try:
                        self.wfile.write(reply.body)
                    except OSError:  # the client gave up (a byte cap, a timeout)
                        return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.scheme = "https" if tls else "http"
        if tls:
            self._server.socket = self_signed_context().wrap_socket(
                self._server.socket, server_side=True
            )

    @property
    def base(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self._server.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path

    def route(self, path: str, *replies: Reply) -> None:
        self.routes[path] = list(replies)

    def paths(self) -> list[str]:
        with self._lock:
            return [hit.path for hit in self.hits]

    def __enter__(self) -> ScriptedServer:
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()


class SilentServer:
    """Accepts every connection and never sends a byte: a server that hangs before the
    status line, or, reached over https, a TLS handshake that never completes."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.settimeout(0.1)
        self._held: list[socket.socket] = []
        self._closing = threading.Event()
        self.connections = 0

    def base(self, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self._socket.getsockname()[1]}"

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            self._held.append(connection)

    def __enter__(self) -> SilentServer:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        for connection in self._held:
            connection.close()
        self._socket.close()
