"""Polite, bounded HTTP: the one client every stage uses to reach the web.

One deadline per exchange (``total_timeout``) covers all of it: the DNS lookup, the
connection, the TLS handshake, the status line, the headers and the body, however slowly
each trickles in; connect and read timeouts bound silences within it. Also: a byte cap on
the decoded body, a redirect cap, an honest user agent, robots.txt (cached per host), one
request at a time per host with a delay between their starts (and a few more beside one
that has stalled), retries with backoff on 429 and 5xx honouring Retry-After (a timeout
is tried once more at most: a deadline that ran out is not worth several more), and a
network guard that checks every address a connection is about to use: loopback, private,
link-local and metadata addresses are refused unless explicitly allowed, also after a
redirect or a DNS answer that points somewhere unexpected.
"""

from __future__ import annotations

import contextvars
import email.utils
import ipaddress
import queue
import socket
import ssl
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx
from protego import Protego

from pipeline.settings import FetchPolicy
from pipeline.urls import DEFAULT_PORTS, host_key

ROBOTS_AGENT = "newsflow"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_TRANSIENT = frozenset({"timeout", "deadline", "connect", "transport", "dns", "internal-error"})


class FetchError(Exception):
    """A URL could not be fetched. ``reason`` is a short stable code for the rejects table."""

    def __init__(self, url: str, reason: str, detail: str, status: int | None = None) -> None:
        super().__init__(f"{url}: {reason}: {detail}")
        self.url = url
        self.reason = reason
        self.detail = detail
        self.status = status

    @property
    def transient(self) -> bool:
        """Whether the same request may well succeed later: worth asking again next run."""
        return self.reason in _TRANSIENT or self.status in RETRY_STATUSES


class BlockedAddress(httpcore.ConnectError):
    """The network guard refused the address a connection was about to use."""


# The monotonic time by which the exchange under way in this thread must be over: set by
# the fetcher around each request, read by the network layer at every step.
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "newsflow_fetch_deadline", default=None
)


def _remaining(timeout: float | None, phase: str, error: type[Exception]) -> float | None:
    """``timeout`` cut to what is left of the exchange's deadline; raises ``error`` once
    the deadline has passed."""
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise error(f"the deadline passed during {phase}")
    return left if timeout is None else min(timeout, left)


def _resolve_within(
    resolve: Callable[..., list[Any]], host: str, port: int, timeout: float | None
) -> list[Any]:
    """``resolve(host, port)`` given at most ``timeout`` seconds: the system resolver has
    no timeout of its own, so it runs in a thread of its own that is left behind if slow."""
    if timeout is None:
        return resolve(host, port, type=socket.SOCK_STREAM)
    answer: queue.SimpleQueue[tuple[list[Any] | None, BaseException | None]]
    answer = queue.SimpleQueue()

    def lookup() -> None:
        try:
            answer.put((resolve(host, port, type=socket.SOCK_STREAM), None))
        except BaseException as exc:  # handed to the caller's thread
            answer.put((None, exc))

    threading.Thread(target=lookup, name=f"dns {host}", daemon=True).start()
    try:
        answers, error = answer.get(timeout=timeout)
    except queue.Empty:
        raise httpcore.ConnectTimeout(f"DNS lookup of {host} outlasted the deadline") from None
    if error is not None:
        raise error
    assert answers is not None
    return answers


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read, write and handshake ends by the deadline of the
    exchange using it (a pooled connection serves several exchanges, each its own)."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        timeout = _remaining(timeout, "the response", httpcore.ReadTimeout)
        return self._stream.read(max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        timeout = _remaining(timeout, "the request", httpcore.WriteTimeout)
        self._stream.write(buffer, timeout)

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _remaining(timeout, "the TLS handshake", httpcore.ConnectTimeout)
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


@dataclass(frozen=True)
class NetworkPolicy:
    """Which addresses a connection may reach.

    Public addresses always; loopback and private ones only with ``allow_private`` and
    only for the ``(host, port)`` pairs named in ``allowed_hosts`` (the feeds file's own
    servers). Link-local (cloud metadata) and unspecified addresses never.
    """

    allow_private: bool = False
    allowed_hosts: frozenset[tuple[str, int]] = frozenset()

    @classmethod
    def for_urls(cls, urls: Iterable[str], allow_private: bool) -> NetworkPolicy:
        hosts = set()
        for url in urls:
            parts = urlsplit(url)
            if parts.hostname:
                port = parts.port or DEFAULT_PORTS.get(parts.scheme.lower(), 0)
                hosts.add((parts.hostname.lower(), port))
        return cls(allow_private=allow_private, allowed_hosts=frozenset(hosts))

    def refusal(self, host: str, port: int, address: str) -> str | None:
        """Why connecting to ``address`` for ``host:port`` is refused, or None if allowed."""
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if ip.is_global and not ip.is_multicast:
            return None
        if ip.is_link_local or ip.is_unspecified or ip.is_multicast:
            return f"{address} is a link-local, multicast or unspecified address"
        if not self.allow_private:
            return f"{address} is a loopback or private address (see --allow-private-network)"
        if (host.lower(), port) not in self.allowed_hosts:
            return f"{address} is private and {host}:{port} is not a host named by the feeds"
        return None


class _GuardedBackend(httpcore.SyncBackend):
    """Resolves names itself, checks every answer, and connects to a checked address."""

    def __init__(
        self,
        policy: NetworkPolicy,
        resolve: Callable[..., list[Any]] = socket.getaddrinfo,
    ) -> None:
        self._policy = policy
        self._resolve = resolve

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _remaining(timeout, "the connection", httpcore.ConnectTimeout)
        try:
            answers = _resolve_within(self._resolve, host, port, timeout)
        except (socket.gaierror, UnicodeError) as exc:
            raise httpcore.ConnectError(f"DNS lookup of {host} failed: {exc}") from exc
        addresses = list(dict.fromkeys(str(info[4][0]) for info in answers))
        if not addresses:
            raise httpcore.ConnectError(f"DNS lookup of {host} returned no address")
        # Refuse if any answer is forbidden: a name that mixes public and private answers
        # is exactly the shape of a rebinding attack.
        for address in addresses:
            why = self._policy.refusal(host, port, address)
            if why:
                raise BlockedAddress(f"refused to connect to {host}:{port}: {why}")
        timeout = _remaining(timeout, "the connection", httpcore.ConnectTimeout)
        stream = super().connect_tcp(addresses[0], port, timeout, local_address, socket_options)
        return _DeadlineStream(stream)


class _GuardedTransport(httpx.HTTPTransport):
    def __init__(self, policy: NetworkPolicy, max_connections: int = 32) -> None:
        super().__init__(trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=max_connections,
            network_backend=_GuardedBackend(policy),
        )


@dataclass
class Page:
    """One HTTP response as fetched: what the raw archive keeps."""

    url: str
    final_url: str
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    fetched_at: datetime
    redirects: list[str] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), None)


class _HostSlot:
    """One host's share of the fetcher: ``concurrency`` exchanges at a time, their starts
    spaced by the host's delay. An exchange that has gone on for ``stall_after`` seconds
    (a server that trickles or says nothing) stops counting against ``concurrency``, so
    the host's other pages need not wait out its deadline; at most ``max_stalled`` such
    exchanges stay open beside the others."""

    def __init__(self, concurrency: int, stall_after: float, max_stalled: int) -> None:
        self.lock = threading.Lock()
        self._free = threading.Condition(self.lock)
        self.concurrency, self.stall_after, self.max_stalled = concurrency, stall_after, max_stalled
        self.active = 0  # exchanges under way and not stalled
        self.stalled = 0
        self.next_start = 0.0
        self.timeouts = 0  # exchanges with this host that ran out of time

    @contextmanager
    def turn(self) -> Iterator[None]:
        with self._free:
            self._free.wait_for(
                lambda: (
                    self.active < self.concurrency
                    and self.active + self.stalled < self.concurrency + self.max_stalled
                )
            )
            self.active += 1
        state: dict[str, bool | None] = {"stalled": False}  # None once over

        def stall() -> None:
            with self._free:
                if state["stalled"] is None:  # already over
                    return
                state["stalled"] = True
                self.active -= 1
                self.stalled += 1
                self._free.notify_all()

        timer = threading.Timer(self.stall_after, stall)
        timer.daemon = True
        timer.start()
        try:
            yield
        finally:
            timer.cancel()
            with self._free:
                if state["stalled"]:
                    self.stalled -= 1
                else:
                    self.active -= 1
                state["stalled"] = None
                self._free.notify_all()


def _retry_after(value: str | None, now: float) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def _describe(exc: httpx.HTTPError) -> tuple[str, str]:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, BlockedAddress):
            return "blocked-address", str(cause)
        if isinstance(cause, ssl.SSLError):
            return "tls", str(cause)
        cause = cause.__cause__ or cause.__context__
    message = str(exc)
    if message.startswith("DNS lookup"):
        return "dns", message
    if isinstance(exc, httpx.ConnectError):
        return "tls" if "SSL" in message or "CERTIFICATE" in message else "connect", message
    return "transport", f"{type(exc).__name__}: {message}"


class _Decoder:
    """A body as it arrives, decompressed (gzip or deflate) a bounded piece at a time, so
    that a compression bomb stops at ``cap`` decoded bytes, never allocating more."""

    def __init__(self, url: str, encoding: str, cap: int) -> None:
        self.url, self.cap, self.size = url, cap, 0
        self.chunks: list[bytes] = []
        encoding = encoding.strip().lower()
        if encoding in ("", "identity"):
            self._zlib = None
        elif encoding in ("gzip", "x-gzip", "deflate"):
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS if "gzip" in encoding else 0)
            self._deflate = encoding == "deflate"
        else:
            raise FetchError(url, "bad-encoding", f"unsupported Content-Encoding {encoding!r}")

    def _add(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.cap:
            raise FetchError(self.url, "too-large", f"body exceeds {self.cap} bytes (decoded)")
        self.chunks.append(data)

    def feed(self, raw: bytes) -> None:
        if self._zlib is None:
            self._add(raw)
            return
        if self._deflate and not self.size and not self.chunks and raw:
            # "deflate" is zlib-wrapped by the standard and raw in practice: look at the header.
            wbits = zlib.MAX_WBITS if (raw[0] & 0x0F) == 8 and raw[0] >> 4 <= 7 else -zlib.MAX_WBITS
            self._zlib = zlib.decompressobj(wbits)
            self._deflate = False
        try:
            while raw:
                self._add(self._zlib.decompress(raw, self.cap + 1 - self.size))
                raw = self._zlib.unconsumed_tail
        except zlib.error as exc:
            raise FetchError(
                self.url, "bad-encoding", f"cannot decompress the body: {exc}"
            ) from None

    def finish(self) -> bytes:
        if self._zlib is not None:
            try:
                self._add(self._zlib.flush())
            except zlib.error as exc:
                raise FetchError(self.url, "bad-encoding", f"truncated body: {exc}") from None
        return b"".join(self.chunks)


T = TypeVar("T")
R = TypeVar("R")


def by_host(
    items: Iterable[T],
    url_of: Callable[[T], str],
    work: Callable[[T], R],
    workers: int,
    per_host: int = 1,
) -> Iterator[tuple[T, R | Exception]]:
    """``work`` on every item, yielded as each finishes: up to ``workers`` hosts at once,
    each host's items taken in their order by ``per_host`` threads (the fetcher's host
    turns decide how many of them actually talk to the host at once), so that a slow host
    holds only its own queue and never a thread that another host's items wait for. An
    exception ``work`` raises is yielded in place of its result."""
    queues: dict[str, deque[T]] = {}
    for item in items:
        queues.setdefault(host_key(url_of(item)), deque()).append(item)
    total = sum(len(q) for q in queues.values())
    if not total:
        return
    done: queue.SimpleQueue[tuple[T, R | Exception]] = queue.SimpleQueue()
    stop = threading.Event()

    def drain(waiting: deque[T]) -> None:
        while not stop.is_set():
            try:
                item = waiting.popleft()
            except IndexError:
                return
            try:
                done.put((item, work(item)))
            except Exception as exc:
                done.put((item, exc.with_traceback(None)))

    drainers = [q for q in queues.values() for _ in range(min(per_host, len(q)))]
    pool = ThreadPoolExecutor(max_workers=max(1, min(workers * per_host, len(drainers))))
    try:
        for waiting in drainers:
            pool.submit(drain, waiting)
        for _ in range(total):
            yield done.get()
    finally:
        # Left early (Ctrl-C, a consumer that stopped): start nothing more, and wait for
        # nothing; what is under way ends by its own deadline.
        stop.set()
        pool.shutdown(wait=False, cancel_futures=True)


class Fetcher:
    """The shared HTTP client. Thread-safe; use one per run and close it."""

    def __init__(
        self,
        policy: FetchPolicy | None = None,
        network: NetworkPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.policy = policy or FetchPolicy()
        self.network = network or NetworkPolicy()
        self._sleep = sleep
        self._client = httpx.Client(
            transport=transport or _GuardedTransport(self.network),
            timeout=httpx.Timeout(self.policy.read_timeout, connect=self.policy.connect_timeout),
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": self.policy.user_agent, "Accept-Encoding": "gzip, deflate"},
        )
        self._slots: dict[str, _HostSlot] = {}
        self._robots: dict[str, Protego | FetchError | None] = {}
        self._site_files: dict[tuple[str, str], bytes | None] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- public ---------------------------------------------------------------------

    def get(self, url: str, headers: dict[str, str] | None = None) -> Page:
        """Fetch ``url`` following redirects. Returns 2xx and 304 responses; raises
        :class:`FetchError` for everything else, after retries where they make sense."""
        parts = urlsplit(url)
        if parts.scheme.lower() not in DEFAULT_PORTS or not parts.hostname:
            raise FetchError(url, "bad-url", "only absolute http(s) URLs can be fetched")
        redirects: list[str] = []
        current = url
        while True:
            self._check_robots(url, current)
            response, body, fetched_at = self._request_with_retries(url, current, headers)
            if response.status_code in (301, 302, 303, 307, 308):
                location = response.headers.get("location")
                if not location:
                    raise FetchError(
                        url, "bad-redirect", f"{response.status_code} without Location"
                    )
                target = urljoin(current, location)
                if urlsplit(target).scheme.lower() not in DEFAULT_PORTS:
                    raise FetchError(url, "bad-redirect", f"redirect to non-HTTP URL {target!r}")
                redirects.append(current)
                if len(redirects) > self.policy.max_redirects:
                    raise FetchError(
                        url,
                        "too-many-redirects",
                        f"more than {self.policy.max_redirects} redirects",
                    )
                current = target
                continue
            status = response.status_code
            if status >= 400 or (300 <= status < 400 and status != 304):
                raise FetchError(url, f"http-{status}", f"server answered {status}", status)
            return Page(
                url=url,
                final_url=current,
                status=status,
                headers=[(k, v) for k, v in response.headers.multi_items()],
                body=body,
                fetched_at=fetched_at,
                redirects=redirects,
            )

    @property
    def threads_per_host(self) -> int:
        """Threads that may wait for one host's turns: its concurrency, and a thread for
        each exchange that may stall beside them."""
        return self.policy.per_host_concurrency + self.policy.max_stalled_per_host

    def post_json(self, url: str, document: Any) -> int:
        """POST ``document`` as JSON to an endpoint of the operator's (a webhook), within
        one deadline and no retry; its status. Raises :class:`FetchError`."""
        token = _DEADLINE.set(time.monotonic() + self.policy.total_timeout)
        try:
            response = self._client.post(url, json=document)
        except httpx.TimeoutException as exc:
            limit = self.policy.total_timeout
            raise FetchError(url, "timeout", f"no answer within {limit:g}s ({exc})") from None
        except httpx.HTTPError as exc:
            raise FetchError(url, *_describe(exc)) from None
        finally:
            _DEADLINE.reset(token)
        if response.status_code >= 400:
            status = response.status_code
            raise FetchError(url, f"http-{status}", f"server answered {status}", status)
        return response.status_code

    def robots(self, url: str) -> Protego | None:
        """The parsed robots.txt of ``url``'s host, read once per host (also when robots
        are not obeyed); None when it could not be read."""
        robots = self._robots_of(url)
        return robots if isinstance(robots, Protego) else None

    def site_file(self, url: str, path: str) -> bytes | None:
        """A file that sites publish at a fixed ``path`` (``/.well-known/…``), read once per
        host: its body, empty when the site has none (4xx), None when it could not be read."""
        key = (host_key(url), path)
        with self._lock:
            if key in self._site_files:
                return self._site_files[key]
        try:
            body: bytes | None = self.get(urljoin(url, path)).body
        except FetchError as exc:
            body = b"" if exc.status is not None and 400 <= exc.status < 500 else None
        with self._lock:
            return self._site_files.setdefault(key, body)

    def get_many(
        self, urls: Iterable[str], workers: int = 8, deadline: float | None = None
    ) -> Iterator[tuple[str, Page | FetchError]]:
        """Fetch many URLs, several hosts at once, each host politely; yields as they finish.

        A URL not yet started by ``deadline`` (monotonic) is not fetched: it comes back as
        a ``deadline`` error, so that a slow host costs a bounded time."""

        def one(u: str) -> Page | FetchError:
            if deadline is not None and time.monotonic() >= deadline:
                return FetchError(u, "deadline", "not fetched: the batch ran out of time")
            try:
                return self.get(u)
            except FetchError as exc:
                return exc.with_traceback(None)  # not the frames, and the bytes they hold

        for url, outcome in by_host(urls, str, one, workers, self.threads_per_host):
            if isinstance(outcome, Exception) and not isinstance(outcome, FetchError):
                outcome = FetchError(url, "internal-error", f"{type(outcome).__name__}: {outcome}")
            yield url, outcome

    # -- internals ------------------------------------------------------------------

    def _slot(self, key: str) -> _HostSlot:
        with self._lock:
            slot = self._slots.get(key)
            if slot is None:
                policy = self.policy
                slot = self._slots[key] = _HostSlot(
                    policy.per_host_concurrency, policy.stall_after, policy.max_stalled_per_host
                )
            return slot

    def _host_delay(self, key: str) -> float:
        robots = self._robots.get(key)
        delay = self.policy.per_host_delay
        if isinstance(robots, Protego):
            crawl_delay = robots.crawl_delay(ROBOTS_AGENT)
            if crawl_delay:
                delay = max(delay, min(float(crawl_delay), self.policy.max_crawl_delay))
        return delay

    def _request_with_retries(
        self, url: str, current: str, headers: dict[str, str] | None
    ) -> tuple[httpx.Response, bytes, datetime]:
        attempt = 0
        while True:
            try:
                response, body, fetched_at = self._request_once(url, current, headers)
            except FetchError as exc:
                if exc.reason == "timeout":
                    slot = self._slot(host_key(current))
                    with slot.lock:
                        slot.timeouts += 1
                        again = attempt < self.policy.timeout_retries and slot.timeouts == 1
                    if not again:
                        raise
                elif exc.reason not in ("connect", "transport") or attempt >= self.policy.retries:
                    raise
                wait = self.policy.backoff * 2**attempt
            else:
                if response.status_code not in RETRY_STATUSES or attempt >= self.policy.retries:
                    return response, body, fetched_at
                wait = _retry_after(response.headers.get("retry-after"), time.time()) or (
                    self.policy.backoff * 2**attempt
                )
                if wait > self.policy.max_retry_after:
                    return response, body, fetched_at
            attempt += 1
            self._sleep(wait)

    def _request_once(
        self, url: str, current: str, headers: dict[str, str] | None
    ) -> tuple[httpx.Response, bytes, datetime]:
        key = host_key(current)
        slot = self._slot(key)
        with slot.turn():
            with slot.lock:
                wait = slot.next_start - time.monotonic()
                slot.next_start = max(slot.next_start, time.monotonic()) + self._host_delay(key)
            if wait > 0:
                self._sleep(wait)
            return self._stream(url, current, headers)

    def _stream(
        self, url: str, current: str, headers: dict[str, str] | None
    ) -> tuple[httpx.Response, bytes, datetime]:
        cap, limit = self.policy.max_bytes, self.policy.total_timeout
        fetched_at = datetime.now(UTC)
        token = _DEADLINE.set(time.monotonic() + limit)
        phase = "before the status line and headers"
        try:
            with self._client.stream("GET", current, headers=headers) as response:
                phase = "while reading the body"
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > cap:
                    raise FetchError(
                        url, "too-large", f"Content-Length {declared} exceeds {cap} bytes"
                    )
                decoder = _Decoder(url, response.headers.get("content-encoding", ""), cap)
                for raw in response.iter_raw():
                    decoder.feed(raw)
                return response, decoder.finish(), fetched_at
        except httpx.TimeoutException as exc:
            if isinstance(exc, httpx.ConnectTimeout):
                phase = "while connecting (DNS, TCP and TLS)"
            detail = f"no complete answer within {limit:g}s: timed out {phase} ({exc})"
            raise FetchError(url, "timeout", detail) from exc
        except httpx.HTTPError as exc:
            reason, detail = _describe(exc)
            raise FetchError(url, reason, detail) from exc
        finally:
            _DEADLINE.reset(token)

    def _robots_of(self, url: str) -> Protego | FetchError | None:
        key = host_key(url)
        with self._lock:
            known = key in self._robots
        if not known:
            robots = self._load_robots(url)
            with self._lock:
                self._robots.setdefault(key, robots)
        return self._robots[key]

    def _check_robots(self, url: str, current: str) -> None:
        if not self.policy.respect_robots:
            return
        key = host_key(current)
        robots = self._robots_of(current)
        if isinstance(robots, FetchError):
            raise FetchError(url, robots.reason, f"reading {key}/robots.txt: {robots.detail}")
        if robots is None:
            raise FetchError(url, "robots", f"{key}/robots.txt answered 5xx; not crawling for now")
        if not robots.can_fetch(current, ROBOTS_AGENT):
            raise FetchError(url, "robots", f"robots.txt of {key} disallows {current}")

    def _load_robots(self, url: str) -> Protego | FetchError | None:
        """Per RFC 9309: 4xx means no rules, 5xx means stay out for now (None). A
        transport failure is kept and reported for every page of the host."""
        robots_url = urljoin(url, "/robots.txt")
        try:
            response, body, _ = self._request_once(robots_url, robots_url, None)
            hops = 0
            while response.status_code in (301, 302, 303, 307, 308) and hops < 5:
                robots_url = urljoin(robots_url, response.headers.get("location", "/robots.txt"))
                response, body, _ = self._request_once(robots_url, robots_url, None)
                hops += 1
        except FetchError as exc:
            return exc
        if 200 <= response.status_code < 300:
            return Protego.parse(body.decode("utf-8", errors="replace"))
        if 400 <= response.status_code < 500:
            return Protego.parse("")
        return None
