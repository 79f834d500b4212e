from __future__ import annotations

import gzip
import itertools
import socket
import threading
import time
import zlib
from collections.abc import Callable

import httpcore
import pytest

from pipeline.settings import FetchPolicy
from pipeline.sources.http import (
    BlockedAddress,
    Fetcher,
    FetchError,
    NetworkPolicy,
    _Decoder,
    _GuardedBackend,
    _GuardedTransport,
    by_host,
)
from tests.httpserver import Reply, ScriptedServer, trickled

FAST = FetchPolicy(per_host_delay=0.0, retries=2, backoff=0.01, total_timeout=5, read_timeout=5)
PAGE = b"<html><body><p>hello</p></body></html>"


def fetcher_for(*servers: ScriptedServer, policy: FetchPolicy = FAST, **kwargs: object) -> Fetcher:
    network = NetworkPolicy.for_urls([s.base for s in servers], allow_private=True)
    return Fetcher(policy, network, **kwargs)  # type: ignore[arg-type]


def test_loopback_is_refused_without_allow_private_network(server: ScriptedServer) -> None:
    server.route("/", Reply(200, PAGE))
    with Fetcher(FAST) as fetcher, pytest.raises(FetchError) as error:
        fetcher.get(server.url("/"))
    assert error.value.reason == "blocked-address"
    assert "allow-private-network" in error.value.detail
    assert server.paths() == []


def test_private_network_allows_only_the_named_hosts(server: ScriptedServer) -> None:
    server.route("/", Reply(200, PAGE))
    with ScriptedServer() as other:
        other.route("/", Reply(200, PAGE))
        with fetcher_for(server) as fetcher:
            assert fetcher.get(server.url("/")).body == PAGE
            with pytest.raises(FetchError) as error:
                fetcher.get(other.url("/"))
        assert error.value.reason == "blocked-address"
        assert other.paths() == []


def test_redirect_to_a_host_not_named_by_the_feeds_is_refused(server: ScriptedServer) -> None:
    with ScriptedServer() as internal:
        internal.route("/secret", Reply(200, b"credentials"))
        server.route("/go", Reply(302, headers={"Location": internal.url("/secret")}))
        with fetcher_for(server) as fetcher, pytest.raises(FetchError) as error:
            fetcher.get(server.url("/go"))
        assert error.value.reason == "blocked-address"
        assert internal.paths() == []


def test_redirect_to_a_non_http_scheme_is_refused(server: ScriptedServer) -> None:
    server.route("/go", Reply(301, headers={"Location": "file:///etc/passwd"}))
    with fetcher_for(server) as fetcher, pytest.raises(FetchError) as error:
        fetcher.get(server.url("/go"))
    assert error.value.reason == "bad-redirect"


def test_redirect_loops_stop_at_the_cap(server: ScriptedServer) -> None:
    server.route("/a", Reply(302, headers={"Location": "/b"}))
    server.route("/b", Reply(302, headers={"Location": "/a"}))
    with fetcher_for(server) as fetcher, pytest.raises(FetchError) as error:
        fetcher.get(server.url("/a"))
    assert error.value.reason == "too-many-redirects"
    assert len([p for p in server.paths() if p in ("/a", "/b")]) == FAST.max_redirects + 1


def test_redirects_within_the_site_are_followed(server: ScriptedServer) -> None:
    server.route("/old", Reply(301, headers={"Location": "/new"}))
    server.route("/new", Reply(200, PAGE))
    with fetcher_for(server) as fetcher:
        page = fetcher.get(server.url("/old"))
    assert page.final_url == server.url("/new")
    assert page.redirects == [server.url("/old")]


def test_a_dns_answer_mixing_public_and_private_addresses_is_refused() -> None:
    def rebinding(host: str, port: int, **_: object) -> list[tuple[object, ...]]:
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port)),
        ]

    backend = _GuardedBackend(NetworkPolicy(), resolve=rebinding)
    with pytest.raises(BlockedAddress, match=r"127\.0\.0\.1"):
        backend.connect_tcp("news.example", 80)


def test_dns_failure_is_a_connect_error_naming_the_host() -> None:
    def failing(host: str, port: int, **_: object) -> list[object]:
        raise socket.gaierror(-2, "Name or service not known")

    with pytest.raises(httpcore.ConnectError, match=r"news\.invalid"):
        _GuardedBackend(NetworkPolicy(), resolve=failing).connect_tcp("news.invalid", 80)


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("93.184.215.14", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("192.168.0.10", False),
        ("169.254.169.254", False),
        ("::1", False),
        ("::ffff:127.0.0.1", False),
        ("fe80::1", False),
        ("0.0.0.0", False),
    ],
)
def test_network_policy_without_private_network(address: str, allowed: bool) -> None:
    assert (NetworkPolicy().refusal("host", 80, address) is None) is allowed


def test_metadata_address_stays_refused_even_when_named() -> None:
    policy = NetworkPolicy(allow_private=True, allowed_hosts=frozenset({("169.254.169.254", 80)}))
    assert policy.refusal("169.254.169.254", 80, "169.254.169.254") is not None
    assert policy.refusal("127.0.0.1", 80, "127.0.0.1") is not None  # not named


def test_robots_disallow_is_honoured(server: ScriptedServer) -> None:
    server.route("/robots.txt", Reply(200, b"User-agent: *\nDisallow: /private/\n"))
    server.route("/private/page", Reply(200, PAGE))
    server.route("/public/page", Reply(200, PAGE))
    with fetcher_for(server) as fetcher:
        with pytest.raises(FetchError) as error:
            fetcher.get(server.url("/private/page"))
        assert fetcher.get(server.url("/public/page")).status == 200
    assert error.value.reason == "robots"
    assert "/private/page" not in server.paths()
    assert server.paths().count("/robots.txt") == 1  # cached per host


def test_robots_rules_for_newsflow_by_name(server: ScriptedServer) -> None:
    server.route(
        "/robots.txt", Reply(200, b"User-agent: newsflow\nDisallow: /\n\nUser-agent: *\nAllow: /\n")
    )
    server.route("/page", Reply(200, PAGE))
    with fetcher_for(server) as fetcher, pytest.raises(FetchError):
        fetcher.get(server.url("/page"))


def test_unreachable_robots_means_stay_out(server: ScriptedServer) -> None:
    server.route("/robots.txt", Reply(503, b"down"))
    server.route("/page", Reply(200, PAGE))
    with fetcher_for(server) as fetcher, pytest.raises(FetchError) as error:
        fetcher.get(server.url("/page"))
    assert error.value.reason == "robots"
    assert "/page" not in server.paths()


def test_missing_robots_allows_everything(server: ScriptedServer) -> None:
    server.route("/page", Reply(200, PAGE))
    with fetcher_for(server) as fetcher:
        assert fetcher.get(server.url("/page")).body == PAGE


def test_429_is_retried_after_the_time_the_server_asks(server: ScriptedServer) -> None:
    server.route("/page", Reply(429, headers={"Retry-After": "7"}), Reply(200, PAGE))
    waits: list[float] = []
    with fetcher_for(server, sleep=waits.append) as fetcher:
        page = fetcher.get(server.url("/page"))
    assert page.status == 200
    assert 7.0 in waits


def test_5xx_then_success_is_retried_with_backoff(server: ScriptedServer) -> None:
    server.route("/page", Reply(503), Reply(502), Reply(200, PAGE))
    with fetcher_for(server) as fetcher:
        assert fetcher.get(server.url("/page")).body == PAGE
    assert server.paths().count("/page") == 3


def test_persistent_5xx_gives_up_with_the_status(server: ScriptedServer) -> None:
    server.route("/page", Reply(500))
    with fetcher_for(server) as fetcher, pytest.raises(FetchError) as error:
        fetcher.get(server.url("/page"))
    assert (error.value.reason, error.value.status) == ("http-500", 500)
    assert server.paths().count("/page") == FAST.retries + 1


def test_404_is_not_retried(server: ScriptedServer) -> None:
    with fetcher_for(server) as fetcher, pytest.raises(FetchError) as error:
        fetcher.get(server.url("/gone"))
    assert error.value.reason == "http-404"
    assert server.paths().count("/gone") == 1


def test_declared_oversized_body_is_refused(server: ScriptedServer) -> None:
    server.route("/big", Reply(200, b"x" * 2000))
    policy = FetchPolicy(per_host_delay=0, max_bytes=1000)
    with fetcher_for(server, policy=policy) as fetcher, pytest.raises(FetchError) as error:
        fetcher.get(server.url("/big"))
    assert error.value.reason == "too-large"


def test_compression_bomb_is_capped_on_decoded_size(server: ScriptedServer) -> None:
    bomb = gzip.compress(b"\0" * 5_000_000)
    assert len(bomb) < 10_000
    server.route(
        "/bomb", Reply(200, bomb, {"Content-Encoding": "gzip", "Content-Type": "text/html"})
    )
    policy = FetchPolicy(per_host_delay=0, max_bytes=100_000)
    with fetcher_for(server, policy=policy) as fetcher, pytest.raises(FetchError) as error:
        fetcher.get(server.url("/bomb"))
    assert error.value.reason == "too-large"
    assert "decoded" in error.value.detail


def test_slow_drip_hits_the_total_timeout(server: ScriptedServer) -> None:
    server.route("/slow", Reply(200, b"x" * 100, drip=0.05))
    policy = FetchPolicy(per_host_delay=0, retries=0, total_timeout=1.0, read_timeout=2.0)
    with fetcher_for(server, policy=policy) as fetcher, pytest.raises(FetchError) as error:
        fetcher.get(server.url("/slow"))
    assert error.value.reason == "timeout"


def test_one_deadline_covers_a_status_line_and_headers_that_trickle(
    server: ScriptedServer,
) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 2\r\n\r\nok"
    server.route("/slow", Reply(raw=trickled(head, 0.2)))  # each byte well within read_timeout
    policy = FetchPolicy(per_host_delay=0, total_timeout=1.0, read_timeout=5.0, timeout_retries=0)
    started = time.monotonic()
    with fetcher_for(server, policy=policy) as fetcher, pytest.raises(FetchError) as error:
        fetcher.get(server.url("/slow"))
    assert time.monotonic() - started < 3.0
    assert error.value.reason == "timeout"
    assert "within 1s" in error.value.detail and "status line and headers" in error.value.detail


def test_a_dns_lookup_slower_than_the_deadline_is_abandoned() -> None:
    def slow(host: str, port: int, **_: object) -> list[object]:
        time.sleep(3)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port))]

    transport = _GuardedTransport(NetworkPolicy())
    transport._pool._network_backend = _GuardedBackend(NetworkPolicy(), resolve=slow)
    policy = FetchPolicy(total_timeout=0.5, connect_timeout=10, timeout_retries=0,
                         respect_robots=False)  # fmt: skip
    started = time.monotonic()
    with Fetcher(policy, transport=transport) as fetcher, pytest.raises(FetchError) as error:
        fetcher.get("http://slow-dns.example/")
    assert time.monotonic() - started < 2.0
    assert error.value.reason == "timeout" and "DNS lookup of slow-dns.example" in str(error.value)


def test_a_timeout_is_tried_once_more_and_a_host_that_timed_out_before_not_at_all(
    server: ScriptedServer,
) -> None:
    for path in ("/a", "/b"):
        server.route(path, Reply(raw=((b"HTTP/1.1 2", 30.0),)))
    policy = FetchPolicy(per_host_delay=0, total_timeout=0.5, backoff=0.01, respect_robots=False)
    with fetcher_for(server, policy=policy) as fetcher:
        for path in ("/a", "/b"):
            with pytest.raises(FetchError, match="timeout"):
                fetcher.get(server.url(path))
    assert (server.paths().count("/a"), server.paths().count("/b")) == (2, 1)


def test_a_slow_host_holds_only_its_own_queue(server: ScriptedServer) -> None:
    """Eight pages of a host that stalls each one, listed first, and one page of another
    host: the other host's page is fetched at once, not after the slow host's queue."""
    with ScriptedServer() as slow:
        for n in range(8):
            slow.route(f"/p{n}", Reply(raw=((b"", 30.0),)))
        server.route("/fast", Reply(200, PAGE))
        urls = [slow.url(f"/p{n}") for n in range(8)] + [server.url("/fast")]
        policy = FetchPolicy(per_host_delay=0, total_timeout=1.0, timeout_retries=0,
                             respect_robots=False)  # fmt: skip
        started = time.monotonic()
        with fetcher_for(server, slow, policy=policy) as fetcher:
            outcomes = fetcher.get_many(urls, workers=8)
            first_url, first = next(outcomes)
            waited = time.monotonic() - started
            rest = list(outcomes)
        assert first_url == server.url("/fast") and not isinstance(first, FetchError)
        assert waited < 1.0
        assert [o.reason for _, o in rest if isinstance(o, FetchError)] == ["timeout"] * 8


@pytest.mark.parametrize(("max_stalled", "waits"), [(3, False), (0, True)])
def test_a_stalled_exchange_stops_holding_its_hosts_turn(
    server: ScriptedServer, max_stalled: int, waits: bool
) -> None:
    """One page of a host says nothing for its whole deadline: after ``stall_after`` the
    host's next pages go ahead beside it (unless no stalled exchange may stay open)."""
    server.route("/stalls", Reply(raw=((b"", 30.0),)))
    for n in range(2):
        server.route(f"/p{n}", Reply(200, PAGE))
    policy = FetchPolicy(per_host_delay=0, total_timeout=2.0, timeout_retries=0, stall_after=0.3,
                         max_stalled_per_host=max_stalled, respect_robots=False)  # fmt: skip
    with fetcher_for(server, policy=policy) as fetcher:
        outcomes = []
        stalled = threading.Thread(target=lambda: outcomes.append(
            dict(fetcher.get_many([server.url("/stalls")]))))  # fmt: skip
        stalled.start()
        while "/stalls" not in server.paths():
            time.sleep(0.01)
        started = time.monotonic()
        for n in range(2):
            fetcher.get(server.url(f"/p{n}"))
        took = time.monotonic() - started
        stalled.join()
    assert (took > 1.5) is waits, took  # the deadline of the stalled exchange is 2 s
    assert [o.reason for o in outcomes[0].values() if isinstance(o, FetchError)] == ["timeout"]


def test_get_many_leaves_what_the_deadline_passed_unfetched(server: ScriptedServer) -> None:
    for n in range(3):
        server.route(f"/p{n}", Reply(200, PAGE))
    policy = FetchPolicy(per_host_delay=0, respect_robots=False)
    with fetcher_for(server, policy=policy) as fetcher:
        urls = [server.url(f"/p{n}") for n in range(3)]
        outcomes = dict(fetcher.get_many(urls, deadline=time.monotonic() - 1))
    assert {o.reason for o in outcomes.values() if isinstance(o, FetchError)} == {"deadline"}
    assert all(o.transient for o in outcomes.values() if isinstance(o, FetchError))
    assert server.paths() == []


def test_by_host_yields_an_exception_in_place_of_its_result() -> None:
    def work(url: str) -> int:
        if url.endswith("/bad"):
            raise RuntimeError("boom")
        return len(url)

    urls = ["http://a.example/ok", "http://a.example/bad", "http://b.example/ok"]
    results = dict(by_host(urls, str, work, workers=2))
    assert isinstance(results["http://a.example/bad"], RuntimeError)
    assert results["http://a.example/ok"] == len(urls[0]) and len(results) == 3


def test_honest_user_agent_is_sent(server: ScriptedServer) -> None:
    server.route("/page", Reply(200, PAGE))
    with fetcher_for(server) as fetcher:
        fetcher.get(server.url("/page"))
    agent = next(h.headers["User-Agent"] for h in server.hits if h.path == "/page")
    assert agent.startswith("newsflow/") and "+http" in agent


def test_requests_to_one_host_are_spaced_by_the_delay(server: ScriptedServer) -> None:
    for n in range(3):
        server.route(f"/p{n}", Reply(200, PAGE))
    policy = FetchPolicy(per_host_delay=0.3, respect_robots=False)
    with fetcher_for(server, policy=policy) as fetcher:
        results = list(fetcher.get_many([server.url(f"/p{n}") for n in range(3)], workers=3))
    assert all(not isinstance(outcome, FetchError) for _, outcome in results)
    times = sorted(hit.at for hit in server.hits)
    assert all(later - earlier >= 0.29 for earlier, later in itertools.pairwise(times))


def test_non_http_url_is_refused_before_any_request() -> None:
    with Fetcher(FAST) as fetcher, pytest.raises(FetchError) as error:
        fetcher.get("ftp://example.com/file")
    assert error.value.reason == "bad-url"


def test_a_bomb_in_one_piece_is_decompressed_no_further_than_the_cap() -> None:
    bomb = gzip.compress(b"\0" * (64 << 20))  # 64 MiB of zeros in about 64 KiB
    decoder = _Decoder("https://o.example/bomb", "gzip", cap=1 << 20)
    with pytest.raises(FetchError, match="exceeds 1048576 bytes") as error:
        decoder.feed(bomb)  # the whole body in a single read
    assert error.value.reason == "too-large"
    assert decoder.size <= (1 << 20) + 1  # never more than the cap (and one byte) in memory


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),  # zlib-wrapped, as the standard says
        ("deflate", lambda data: zlib.compress(data)[2:-4]),  # raw, as many servers send
        ("identity", lambda data: data),
    ],
)
def test_bodies_are_decoded_piece_by_piece(
    encoding: str, compress: Callable[[bytes], bytes]
) -> None:
    body = b"<p>" + b"generative AI in film " * 5000 + b"</p>"
    encoded = compress(body)
    decoder = _Decoder("https://o.example/a", encoding, cap=1 << 20)
    for start in range(0, len(encoded), 1000):
        decoder.feed(encoded[start : start + 1000])
    assert decoder.finish() == body


def test_an_unknown_or_broken_encoding_is_rejected_by_name() -> None:
    with pytest.raises(FetchError, match="unsupported Content-Encoding 'br'"):
        _Decoder("https://o.example/a", "br", cap=100)
    decoder = _Decoder("https://o.example/a", "gzip", cap=100)
    with pytest.raises(FetchError, match="cannot decompress") as error:
        decoder.feed(b"this is not gzip at all")
    assert error.value.reason == "bad-encoding"
