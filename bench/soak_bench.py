"""Soak benchmark: one ``newsflow run`` over 2,000 feeds served by local servers, most of
them good and the rest hostile (every hazard of the README's Reliability table that a
server can play), all in one run.

Two hundred servers on 127.0.0.1 play two hundred outlets of ten feeds each (a host is a
host and port, so politeness holds per server, as on the web); a canary server counts
every request that should never be made: the external entities of hostile feeds and the
redirects to loopback. The script prints pages/s (wall clock, start-up and commit
included), the peak resident memory of the whole process tree (the command and its
extraction processes, sampled every 0.1 s), the hazards handled (rejects by reason,
against what each hazard should give), the good articles landed against those expected
(they must be equal) and the canary hits (must be 0).
Usage: ``python bench/soak_bench.py [--feeds 2000] [--servers 200]``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from common import measured
from common import page as synthetic_page

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.lake.store import LocalLake  # noqa: E402
from pipeline.lake.tables import read_day  # noqa: E402
from pipeline.records import ARTICLES_SCHEMA, OFFTOPIC_SCHEMA, REJECTS_SCHEMA  # noqa: E402

DAY = "2026-11-23"
NOON = datetime(2026, 11, 23, 12, tzinfo=UTC)
ITEMS = 3  # items per feed
SECRET = "soak-canary-5b1e-never-in-the-lake"
HTML = {"Content-Type": "text/html; charset=utf-8"}
XML = {"Content-Type": "application/rss+xml; charset=utf-8"}


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] | None = None
    drip: float = 0.0


def page(seed: str, title: str, extra: str = "") -> bytes:
    return synthetic_page(random.Random(seed), title, on_topic=True, extra=extra)


def rss(links: list[tuple[str, str]], prolog: str = "", title_suffix: str = "") -> bytes:
    when = NOON.strftime("%a, %d %b %Y %H:%M:%S +0000")
    items = "".join(
        f"<item><title>{title}{title_suffix}</title><link>{link}</link>"
        f"<pubDate>{when}</pubDate></item>"
        for title, link in links
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?>{prolog}<rss version="2.0"><channel>'
        f"<title>Soak</title><link>/</link>{items}</channel></rss>"
    ).encode()


# -- what each kind of feed serves, and what it should give ---------------------------------

BOMB = gzip.compress(b"\0" * (32 << 20))
NESTED = "<div>" * 50_000 + "deep" + "</div>" * 50_000


@dataclass
class Kind:
    """A kind of feed. ``feed`` builds the feed body (None: ``status`` instead); ``pages``
    gives, per item, the page's replies in turn. ``lands`` is how many of its items should
    land, ``rejects`` the reject reasons it should give."""

    name: str
    lands: int
    rejects: tuple[str, ...] = ()
    feed: Callable[[str, list[tuple[str, str]], str], bytes | None] | None = None
    status: int = 200
    bad_page: Callable[[str, str], list[Reply]] | None = None  # the first item's page


def _xxe(base: str, links: list[tuple[str, str]], canary: str) -> bytes:
    prolog = (f'<!DOCTYPE rss [<!ENTITY file SYSTEM "file://{canary_file()}">'
              f'<!ENTITY remote SYSTEM "{canary}/xxe">]>')  # fmt: skip
    return rss(links, prolog, " &file; &remote;")


def _bomb(base: str, links: list[tuple[str, str]], canary: str) -> bytes:
    entities = '<!ENTITY a0 "lollollollollollollollollollol">' + "".join(
        f'<!ENTITY a{i} "{("&a" + str(i - 1) + ";") * 10}">' for i in range(1, 10)
    )
    return rss(links, f"<!DOCTYPE rss [{entities}]>", " &a9;")


def _truncated(base: str, links: list[tuple[str, str]], canary: str) -> bytes:
    body = rss(links)
    return body[: body.index(links[-1][1].encode()) - 20]  # cut inside the last item


def _json_bad(base: str, links: list[tuple[str, str]], canary: str) -> bytes:
    items: list[Any] = [{"id": 1, "url": 5, "title": ["x"]}, "not an item"]
    items += [{"id": link, "url": link, "title": title, "date_published": NOON.isoformat()}
              for title, link in links]  # fmt: skip
    return json.dumps({"version": "https://jsonfeed.org/version/1.1", "items": items}).encode()


def _redirect(to: str) -> Callable[[str, str], list[Reply]]:
    return lambda base, canary: [Reply(302, b"", {"Location": to.format(base=base, canary=canary)})]


KINDS_GOOD = [Kind("good", ITEMS)]
KINDS_HOSTILE = [
    Kind("xml-external-entities", ITEMS, feed=_xxe),
    Kind("xml-entity-bomb", ITEMS, ("malformed-feed",), feed=_bomb),
    Kind("truncated-feed", ITEMS - 1, ("malformed-feed",), feed=_truncated),
    Kind("json-feed-bad-types", ITEMS, ("malformed-feed",), feed=_json_bad),
    Kind("feed-404", 0, ("http-404",), status=404),
    Kind("feed-410", 0, ("http-410",), status=410),
    Kind("feed-500", 0, ("http-500",), status=500),
    Kind("slow-drip", ITEMS - 1, ("timeout",),
         bad_page=lambda b, c: [Reply(200, page("slow", "Slow"), HTML, drip=0.02)]),
    Kind("redirect-loop", ITEMS - 1, ("too-many-redirects",), bad_page=_redirect("{base}/loop")),
    Kind("redirect-private", ITEMS - 1, ("blocked-address",),
         bad_page=_redirect("http://localhost:{canary}/redirected")),
    Kind("redirect-scheme", ITEMS - 1, ("bad-redirect",), bad_page=_redirect("file:///etc/passwd")),
    Kind("compression-bomb", ITEMS - 1, ("too-large",),
         bad_page=lambda b, c: [Reply(200, BOMB, {**HTML, "Content-Encoding": "gzip"})]),
    Kind("oversized-body", ITEMS - 1, ("too-large",),
         bad_page=lambda b, c: [Reply(200, page("big", "Big") + b" " * (3 << 20), HTML)]),
    Kind("binary-as-html", ITEMS - 1, ("not-html",),
         bad_page=lambda b, c: [Reply(200, b"%PDF-1.7\n" + bytes(range(256)) * 40, HTML)]),
    Kind("empty-body", ITEMS - 1, ("empty",), bad_page=lambda b, c: [Reply(200, b"", HTML)]),
    Kind("scripts-only", ITEMS - 1, ("no-text",), bad_page=lambda b, c: [Reply(
        200, b"<html><body><script>var a = 1;</script></body></html>", HTML)]),
    Kind("page-404", ITEMS - 1, ("http-404",), bad_page=lambda b, c: [Reply(404, b"gone")]),
    Kind("deep-nesting", ITEMS,
         bad_page=lambda b, c: [Reply(200, page("deep", "Deep", NESTED), HTML)]),
    Kind("http-429", ITEMS, bad_page=lambda b, c: [
        Reply(429, b"", {"Retry-After": "1"}), Reply(200, page("429", "Later"), HTML)]),
    Kind("http-503", ITEMS, bad_page=lambda b, c: [
        Reply(503), Reply(200, page("503", "Again"), HTML)]),
]  # fmt: skip
HOSTILE_SHARE = 0.3


def canary_file() -> Path:
    return Path(tempfile.gettempdir()) / "newsflow-soak-canary.txt"


def kind_of(n: int) -> Kind:
    """Feed ``n``'s kind: hostile kinds take turns in 30% of the feeds."""
    slot = n % 10
    if slot < 10 - int(HOSTILE_SHARE * 10):
        return KINDS_GOOD[0]
    return KINDS_HOSTILE[(n // 10 * 3 + slot) % len(KINDS_HOSTILE)]


# -- the servers ------------------------------------------------------------------------


class Outlets:
    """Feeds ``n`` are served by server ``n % servers``: feed at ``/f/{n}.xml``, pages at
    ``/p/{n}/{i}``. Replies that change (429 then 200) advance per path."""

    def __init__(self, feeds: int, servers: int) -> None:
        self.feeds = feeds
        self.hits: Counter[str] = Counter()
        self.canary_hits = 0
        self._lock = threading.Lock()
        self._servers = [self._server(self._outlet) for _ in range(servers)]
        self._canary = self._server(self._canary_reply)

    def _server(self, answer: Callable[[str, str], Reply]) -> ThreadingHTTPServer:
        host = ""

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                reply = answer(host, self.path)
                self.send_response(reply.status)
                for name, value in (reply.headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                try:
                    if reply.drip:
                        for start in range(0, len(reply.body), 16):
                            self.wfile.write(reply.body[start : start + 16])
                            self.wfile.flush()
                            time.sleep(reply.drip)
                    else:
                        self.wfile.write(reply.body)
                except OSError:
                    pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that hangs up early is what the hazards are about

        server = Server(("127.0.0.1", 0), Handler)
        host = f"http://127.0.0.1:{server.server_address[1]}"
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    def base(self, n: int) -> str:
        return f"http://127.0.0.1:{self._servers[n % len(self._servers)].server_address[1]}"

    @property
    def canary_port(self) -> int:
        return int(self._canary.server_address[1])

    def feed_url(self, n: int) -> str:
        return f"{self.base(n)}/f/{n}.xml"

    def page_url(self, n: int, i: int) -> str:
        return f"{self.base(n)}/p/{n}/{i}"

    def _canary_reply(self, host: str, path: str) -> Reply:
        with self._lock:
            self.canary_hits += 1
        return Reply(200, SECRET.encode(), {"Content-Type": "text/plain"})

    def _outlet(self, host: str, path: str) -> Reply:
        with self._lock:
            self.hits[path] += 1
            hit = self.hits[path]
        parts = path.strip("/").split("/")
        if parts[0] == "f":
            n = int(parts[1].removesuffix(".xml"))
            kind = kind_of(n)
            if kind.status != 200:
                return Reply(kind.status, b"")
            links = [(f"Feed {n} story {i}", self.page_url(n, i)) for i in range(ITEMS)]
            if kind.feed is None:
                return Reply(200, rss(links), XML)
            canary = f"http://127.0.0.1:{self.canary_port}"
            body = kind.feed(host, links, canary)
            json_feed = kind.name == "json-feed-bad-types"
            return Reply(
                200, body or b"", {"Content-Type": "application/feed+json"} if json_feed else XML
            )
        if parts[0] == "p":
            n, i = int(parts[1]), int(parts[2])
            kind = kind_of(n)
            if i == 0 and kind.bad_page is not None:
                script = kind.bad_page(host, str(self.canary_port))
                return script[min(hit, len(script)) - 1]
            return Reply(200, page(f"{n}/{i}", f"Feed {n} story {i}"), HTML)
        if parts[0] == "loop":
            return Reply(302, b"", {"Location": f"{host}/loop"})
        return Reply(404, b"not found")

    def expected(self) -> tuple[set[str], Counter[str]]:
        """The pages that should land, and the reject reasons that should be recorded."""
        landing: set[str] = set()
        reasons: Counter[str] = Counter()
        for n in range(self.feeds):
            kind = kind_of(n)
            first = ITEMS - kind.lands  # items that do not land are the first ones
            if kind.name == "truncated-feed":
                first = 0
            landing.update(self.page_url(n, i) for i in range(first, first + kind.lands))
            reasons.update(kind.rejects)
        return landing, reasons


SETTINGS = """\
fetch:
  per_host_delay: 0.0
  retries: 1
  backoff: 0.1
  total_timeout: 2
  max_bytes: 2097152
ingest:
  batch_size: 200
  workers: 20
  lookback_days: 3
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=2000)
    parser.add_argument("--servers", type=int, default=200)
    args = parser.parse_args()
    canary_file().write_text(SECRET)
    outlets = Outlets(args.feeds, args.servers)
    with tempfile.TemporaryDirectory(prefix="newsflow-soak-") as tmp:
        folder = Path(tmp)
        feeds = folder / "feeds.yaml"
        feeds.write_text("feeds:\n" + "".join(
            f"  - url: {outlets.feed_url(n)}\n    name: Outlet {n}\n" for n in range(args.feeds)
        ))  # fmt: skip
        (folder / "settings.yaml").write_text(SETTINGS)
        lake = folder / "lake"
        bin_dir = Path(sys.executable).parent
        command = [str(bin_dir / "newsflow"), "run", "--feeds", str(feeds), "--lake", str(lake),
                   "--date", DAY, "--allow-private-network", "--no-progress",
                   "--create"]  # fmt: skip
        env = {
            "NEWSFLOW_SETTINGS": str(folder / "settings.yaml"),
            "PATH": str(Path(sys.executable).parent),
        }
        seconds, peak, alone, done = measured(command, env)
        if done.returncode != 0:
            sys.exit(f"newsflow run failed ({done.returncode}):\n{done.stderr[-3000:]}")

        store = LocalLake(lake)
        landed = read_day(store, "articles", DAY, ARTICLES_SCHEMA).column("url").to_pylist()
        landed += read_day(store, "offtopic", DAY, OFFTOPIC_SCHEMA).column("url").to_pylist()
        rejects = read_day(store, "rejects", DAY, REJECTS_SCHEMA).to_pylist()
        leaked = [p for p in lake.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]

    expected, reasons = outlets.expected()
    got = Counter(r["reason"] for r in rejects)
    pages = sum(count for path, count in outlets.hits.items() if path.startswith("/p/"))
    hostile = sum(kind_of(n) is not KINDS_GOOD[0] for n in range(args.feeds))
    print(f"newsflow soak: {args.feeds} feeds on {args.servers} local servers, {hostile} hostile")
    print(f"  wall clock        {seconds:.1f} s")
    print(f"  page requests     {pages} ({pages / seconds:.1f} pages/s)")
    print(
        f"  peak RSS          {peak / 2**20:.0f} MiB, command and extraction processes summed;"
        f" {alone / 2**20:.0f} MiB the command alone"
    )
    twice = len(landed) - len(set(landed))
    print(f"  good articles     {len(set(landed) & expected)} landed of {len(expected)} expected;"
          f" {len(set(landed) - expected)} unexpected, {twice} twice")  # fmt: skip
    print(
        f"  canary hits       {outlets.canary_hits} requests, "
        f"{len(leaked)} lake files holding the canary file's text"
    )
    print("  hazards handled   reason: recorded / expected")
    for reason in sorted(set(reasons) | set(got)):
        print(f"    {reason:<22}{got[reason]:>6} / {reasons[reason]}")
    ok = (set(landed) == expected and len(landed) == len(expected) and not outlets.canary_hits
          and not leaked and all(got[r] >= reasons[r] for r in reasons))  # fmt: skip
    print("  result            " + ("OK" if ok else "FAILED"))
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
