"""Hostile input, one test per hazard: a whole run over a feeds file holding a good outlet
and a hostile one, served by a local server. Each test asserts the safe outcome and that
the good outlet's articles still land beside it.

``HAZARDS`` is also the source of the README's reliability table
(``python -m tests.test_hazards`` prints it; a test keeps the README in step).
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pipeline.lake.store import LocalLake
from pipeline.lake.tables import read_day
from pipeline.records import ARTICLES_SCHEMA, REJECTS_SCHEMA
from pipeline.runs.daily import RunSummary, run
from pipeline.runs.ingest import Interval
from pipeline.settings import load_settings
from tests.conftest import DAY, ROOT, SAMPLE_SETTINGS
from tests.httpserver import Reply, ScriptedServer, SilentServer, trickled

NOON = datetime(DAY.year, DAY.month, DAY.day, 12, tzinfo=UTC)
SECRET = "canary-7f3a9c-not-for-the-lake"
BODY = (
    "The studio said on Monday that generative AI tools will be used in visual effects and "
    "dubbing on its next three films, and the actors' union asked for consent and pay "
    "whenever a performer's digital likeness is reused by an artificial intelligence model. "
    "Producers told the trade press that the AI pipeline cut weeks from post-production, "
    "while screenwriters and voice actors warned that the contract leaves too much to the "
    "discretion of each production. Streaming platforms are watching the talks closely. "
)


def article(title: str | None, paragraphs: int = 3, extra: str = "") -> bytes:
    head = f"<title>{title}</title>" if title else ""
    h1 = f"<h1>{title}</h1>" if title else ""
    text = "".join(f"<p>{BODY}</p>" for _ in range(paragraphs))
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>{head}</head>"
            f"<body><article>{h1}{text}{extra}</article></body></html>").encode()  # fmt: skip


def rss(items: Sequence[tuple[str, str, datetime | None]], prolog: str = "") -> bytes:
    entries = "".join(
        f"<item><title>{title}</title><link>{link}</link>"
        + (f"<pubDate>{when.strftime('%a, %d %b %Y %H:%M:%S +0000')}</pubDate>" if when else "")
        + "</item>"
        for title, link, when in items
    )
    return (f'<?xml version="1.0" encoding="utf-8"?>{prolog}<rss version="2.0"><channel>'
            f"<title>Hostile</title><link>/</link>{entries}</channel></rss>").encode()  # fmt: skip


XML = {"Content-Type": "application/rss+xml; charset=utf-8"}
HTML = {"Content-Type": "text/html; charset=utf-8"}


@dataclass
class Outcome:
    summary: RunSummary
    lake: LocalLake
    server: ScriptedServer
    base: str
    seconds: float  # the whole run (the last one, if several)
    silent: SilentServer | None = None

    @property
    def titles(self) -> list[str]:
        table = read_day(self.lake, "articles", DAY.isoformat(), ARTICLES_SCHEMA)
        return sorted(t or "" for t in table.column("title").to_pylist())

    @property
    def hostile_titles(self) -> list[str]:
        return [t for t in self.titles if not t.startswith("Good news")]

    @property
    def hostile_rejects(self) -> list[dict[str, Any]]:
        table = read_day(self.lake, "rejects", DAY.isoformat(), REJECTS_SCHEMA)
        return [r for r in table.to_pylist() if "/hostile" in r["url"]]

    @property
    def reasons(self) -> list[str]:
        return sorted(r["reason"] for r in self.hostile_rejects)

    @property
    def details(self) -> list[str]:
        return [r["detail"] for r in self.hostile_rejects]

    def hits(self, prefix: str) -> int:
        return sum(1 for hit in self.server.hits if hit.path.startswith(prefix))


Check = Callable[[Outcome], None]


@dataclass
class Hazard:
    id: str
    what: str  # the hazard, for the README
    behaviour: str  # what newsflow does, for the README
    routes: Callable[[str], dict[str, Reply]]  # the hostile outlet at /hostile/…, by base URL
    checks: tuple[Check, ...]
    feed: str = "/hostile/feed.xml"  # the hostile feed: a path, or a whole URL
    tls: bool = False  # the hostile outlet is served over TLS, with a self-signed certificate
    silent: str = ""  # the hostile feed is on a server that never answers, over this scheme
    fetch: dict[str, Any] = field(default_factory=dict)  # overrides of the fetch settings
    runs: int = 1  # runs of the same day, one after another; checks see the last


def lands(*titles: str) -> Check:
    def check(outcome: Outcome) -> None:
        assert outcome.hostile_titles == sorted(titles)

    return check


def rejected(*reasons: str) -> Check:
    def check(outcome: Outcome) -> None:
        assert outcome.reasons == sorted(reasons)

    return check


def requests(path: str, times: int) -> Check:
    def check(outcome: Outcome) -> None:
        assert outcome.hits(path) == times

    return check


def within(seconds: float) -> Check:
    """The run was over in ``seconds``: the hostile server could not hold it longer."""

    def check(outcome: Outcome) -> None:
        assert outcome.seconds < seconds

    return check


def says(text: str) -> Check:
    def check(outcome: Outcome) -> None:
        assert any(text in detail for detail in outcome.details), outcome.details

    return check


def connections(count: int) -> Check:
    def check(outcome: Outcome) -> None:
        assert outcome.silent is not None and outcome.silent.connections == count

    return check


def counted(counter: str) -> Check:
    def check(outcome: Outcome) -> None:
        assert outcome.summary.total(counter) == 1

    return check


def item(
    page: bytes | None,
    title: str = "Hostile item",
    when: datetime = NOON,
    headers: dict[str, str] | None = None,
    status: int = 200,
) -> Callable[[str], dict[str, Reply]]:
    """A hostile feed of one item linking to one page (``page`` None: the default one)."""

    def routes(base: str) -> dict[str, Reply]:
        feed = rss([(title, f"{base}/hostile/a", when)])
        body = article("Hostile page") if page is None else page
        return {"/hostile/feed.xml": Reply(200, feed, XML),
                "/hostile/a": Reply(status, body, headers or HTML)}  # fmt: skip

    return routes


def replies(path: str, *script: Reply) -> Callable[[str], dict[str, Any]]:
    """The default hostile item, with ``path`` answering ``script`` in turn."""

    def routes(base: str) -> dict[str, Any]:
        return {**item(None)(base), path: list(script)}

    return routes


def redirects(*targets: str) -> Callable[[str], dict[str, Reply]]:
    """A feed of one item per target, each item's page redirecting to its target
    (``{base}`` and ``{port}`` in a target are the server's)."""

    def routes(base: str) -> dict[str, Reply]:
        port = base.rsplit(":", 1)[1]
        links = [(f"Redirect {n}", f"{base}/hostile/r{n}", NOON) for n in range(len(targets))]
        found = {f"/hostile/r{n}": Reply(302, b"", {"Location": to.format(base=base, port=port)})
                 for n, to in enumerate(targets)}  # fmt: skip
        return {"/hostile/feed.xml": Reply(200, rss(links), XML), **found,
                "/canary": Reply(200, SECRET.encode(), {"Content-Type": "text/plain"})}  # fmt: skip

    return routes


def _xxe(base: str) -> dict[str, Reply]:
    secret = Path(f"/tmp/newsflow-{SECRET}.txt")
    secret.write_text(SECRET)
    prolog = (f'<!DOCTYPE rss [<!ENTITY file SYSTEM "file://{secret}">'
              f'<!ENTITY remote SYSTEM "{base}/canary">]>')  # fmt: skip
    feed = rss([("XXE &file; &remote;", f"{base}/hostile/a", NOON)], prolog)
    return {**item(None)(base), "/hostile/feed.xml": Reply(200, feed, XML),
            "/canary": Reply(200, SECRET.encode(), {"Content-Type": "text/plain"})}  # fmt: skip


def no_secret(outcome: Outcome) -> None:
    assert outcome.hits("/canary") == 0  # the external entity was never fetched
    for path in outcome.lake.root.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path  # nor read from disk


def _bomb(base: str) -> dict[str, Reply]:
    entities = '<!ENTITY a0 "lollollollollollollollollollol">' + "".join(
        f'<!ENTITY a{i} "{("&a" + str(i - 1) + ";") * 10}">' for i in range(1, 10)
    )
    feed = rss([("Bomb &a9;", f"{base}/hostile/a", NOON)], f"<!DOCTYPE rss [{entities}]>")
    return {**item(None)(base), "/hostile/feed.xml": Reply(200, feed, XML)}


def _bom(base: str) -> dict[str, Reply]:
    feed = b"\xef\xbb\xbf" + rss([("BOM item", f"{base}/hostile/a", NOON)])
    return {**item(None)(base), "/hostile/feed.xml": Reply(200, feed, XML)}


def _charset(base: str) -> dict[str, Reply]:
    title = "Les studios français et l'IA générative"
    when = NOON.strftime("%a, %d %b %Y %H:%M:%S +0000")
    feed = ('<?xml version="1.0" encoding="iso-8859-1"?><rss version="2.0"><channel>'
            f"<title>x</title><item><title>{title}</title><link>{base}/hostile/a</link>"
            f"<pubDate>{when}</pubDate></item></channel></rss>")  # fmt: skip
    page = article(title).decode().replace("utf-8", "iso-8859-1")
    latin = "iso-8859-1"
    return {"/hostile/feed.xml": Reply(200, feed.encode(latin), {"Content-Type": "text/xml"}),
            "/hostile/a": Reply(200, page.encode(latin), {"Content-Type": "text/html"}),
            }  # fmt: skip


def _untitled(base: str) -> dict[str, Reply]:
    feed = rss([("", f"{base}/hostile/a", NOON)]).replace(b"<title></title>", b"")
    return {**item(article(None))(base), "/hostile/feed.xml": Reply(200, feed, XML)}


def future_date_cleared(outcome: Outcome) -> None:
    table = read_day(outcome.lake, "articles", DAY.isoformat(), ARTICLES_SCHEMA)
    (row,) = [r for r in table.to_pylist() if r["url"].endswith("/hostile/a")]
    assert row["published_at"] is None and row["flags"] == ["future-date"]


def untitled_lands(outcome: Outcome) -> None:
    table = read_day(outcome.lake, "articles", DAY.isoformat(), ARTICLES_SCHEMA)
    (untitled,) = [r for r in table.to_pylist() if r["url"].endswith("/hostile/a")]
    assert untitled["title"] is None and untitled["word_count"] > 80


def _tracked(base: str) -> dict[str, Reply]:
    link = f"{base}/hostile/same"
    feed = rss([("Same story", f"{link}?utm_source=rss", NOON),
                ("Same story again", f"{link}#comments", NOON),
                ("Same story, third", f"{link}?utm_medium=x&amp;utm_id=y", NOON)])  # fmt: skip
    return {"/hostile/feed.xml": Reply(200, feed, XML),
            "/hostile/same": Reply(200, article("The same story"), HTML)}  # fmt: skip


def _robots(rules: str) -> Callable[[str], dict[str, Reply]]:
    def routes(base: str) -> dict[str, Reply]:
        text = f"User-agent: *\n{rules}\n".encode()
        return {**item(None)(base), "/robots.txt": Reply(200, text, {"Content-Type": "text/plain"})}

    return routes


def _truncated(base: str) -> dict[str, Reply]:
    feed = rss([("Kept", f"{base}/hostile/a", NOON), ("Cut", f"{base}/hostile/b", NOON)])
    return {**item(None)(base), "/hostile/feed.xml": Reply(200, feed[: feed.index(b"Cut")], XML)}


def _ill_formed(base: str) -> dict[str, Reply]:
    feed = rss([("AI & Hollywood <br> unclosed", f"{base}/hostile/a", NOON)])
    return {**item(None)(base), "/hostile/feed.xml": Reply(200, feed.replace(b"</item>", b""), XML)}


def _json_bad_types(base: str) -> dict[str, Reply]:
    feed = {"version": "https://jsonfeed.org/version/1.1", "title": "Hostile JSON",
            "items": [{"id": 1, "url": 123, "title": ["not", "a", "string"]}, "not an item",
                      {"id": "2", "url": f"{base}/hostile/a", "title": {"x": 1},
                       "date_published": NOON.isoformat()}]}  # fmt: skip
    body = json.dumps(feed).encode()
    json_type = {"Content-Type": "application/feed+json"}
    return {**item(None)(base), "/hostile/feed.xml": Reply(200, body, json_type)}


def _undeclared(base: str) -> dict[str, Reply]:
    title = "Les studios français et l'IA générative"
    page = article(title).replace(b"<meta charset='utf-8'>", b"")
    return {**item(None, title=title)(base),
            "/hostile/a": Reply(200, page, {"Content-Type": "text/html"})}  # fmt: skip


# A deadline of 2 s for the whole exchange, and silences allowed to last far longer: only
# the deadline can stop these hazards in time.
DEADLINE_ONLY = {"total_timeout": 2.0, "read_timeout": 60.0, "connect_timeout": 60.0}
HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
        b"Content-Length: 3000\r\n\r\n")  # fmt: skip
PAYWALL = article("Subscribers only", paragraphs=0, extra=(
    "<p>The studio said on Monday that generative AI tools will be used in dubbing.</p>"
    "<div class='paywall'><p>Subscribe to continue reading. Already a subscriber? Sign in."
    "</p></div>"))  # fmt: skip
BOMB = gzip.compress(b"\0" * (16 << 20))
GZIP_HTML = {**HTML, "Content-Encoding": "gzip"}


def after(path: str, seconds: float) -> Check:
    """The second request for ``path`` came at least ``seconds`` after the first."""

    def check(outcome: Outcome) -> None:
        first, second = [h.at for h in outcome.server.hits if h.path == path][:2]
        assert second - first >= seconds

    return check


def retired(outcome: Outcome) -> None:
    assert outcome.summary.total("feeds_retired") == 1
    (detail,) = outcome.details
    assert "410 Gone 3 times in a row" in detail and "_state/feeds.json" in detail


SCRIPTS_ONLY = (b"<html><head><script>var a = 1;</script></head>"
                b"<body><script>document.write('x')</script></body></html>")  # fmt: skip
NESTED = article("Deeply nested page", extra="<div>" * 50_000 + "deep" + "</div>" * 50_000)

HAZARDS = [
    Hazard("xml-external-entities",
           "XML external entities (a local file, an http URL) in a feed",
           "not resolved, not fetched: the entity text is dropped, the item kept",
           _xxe, (no_secret, lands("Hostile page"))),
    Hazard("xml-entity-bomb", "an entity expansion bomb (billion laughs) in a feed",
           "not expanded: read leniently, its item kept, the feed flagged malformed-feed",
           _bomb, (rejected("malformed-feed"), lands("Hostile page"))),
    Hazard("feed-bom", "a feed starting with a byte-order mark", "parsed as if it had none",
           _bom, (lands("Hostile page"),)),
    Hazard("wrong-charset", "a feed and a page in ISO-8859-1, declared only in the XML and meta",
           "decoded with the declared charset; accents intact",
           _charset, (lands("Les studios français et l'IA générative"),)),
    Hazard("binary-as-html", "a PDF served as text/html", "rejected: not-html",
           item(b"%PDF-1.7\n" + bytes(range(256)) * 40), (rejected("not-html"), lands())),
    Hazard("empty-body", "an empty 200 response for an article", "rejected: empty",
           item(b""), (rejected("empty"), lands())),
    Hazard("scripts-only", "a page of scripts and no text", "rejected: no-text",
           item(SCRIPTS_ONLY), (rejected("no-text"), lands())),
    Hazard("deep-nesting", "a page with 50,000 nested elements",
           "extracted; no crash, no recursion limit",
           item(NESTED), (lands("Deeply nested page"),)),
    Hazard("date-2099", "an item dated 2099",
           "lands on the day it was seen, its date cleared and flagged future-date",
           item(None, when=datetime(2099, 1, 1, tzinfo=UTC)),
           (lands("Hostile page"), requests("/hostile/a", 1), counted("items_future_dated"),
            future_date_cleared)),
    Hazard("date-1970", "an item dated 1970", "too old: not fetched, not landed",
           item(None, when=datetime(1970, 1, 1, tzinfo=UTC)),
           (lands(), requests("/hostile/a", 0), counted("items_too_old"))),
    Hazard("missing-titles", "an item and a page without a title",
           "lands; the title stays empty rather than invented",
           _untitled, (untitled_lands,)),
    Hazard("duplicate-tracking",
           "one article linked three times, with tracking parameters and a fragment",
           "fetched once, lands once",
           _tracked, (lands("The same story"), requests("/hostile/same", 1))),
    Hazard("truncated-feed", "a feed cut off in the middle of an item",
           "the complete items are kept; the feed flagged malformed-feed",
           _truncated, (rejected("malformed-feed"), lands("Hostile page"))),
    Hazard("ill-formed-feed", "a feed with unclosed elements and a bare ampersand",
           "read leniently: its item kept, the feed flagged malformed-feed",
           _ill_formed, (rejected("malformed-feed"), lands("Hostile page"))),
    Hazard("json-feed-bad-types", "a JSON Feed whose items have numbers, lists and objects "
           "where strings belong", "bad items skipped and counted; the good one kept",
           _json_bad_types, (rejected("malformed-feed"), lands("Hostile page"))),
    Hazard("undeclared-charset", "a UTF-8 page with no charset in its headers or markup",
           "the encoding is detected; accents intact",
           _undeclared, (lands("Les studios français et l'IA générative"),)),
    Hazard("paywall-teaser", "a paywalled page: a one-sentence teaser and a subscribe box",
           "rejected: too-short (the subscribe box is not taken for text)",
           item(PAYWALL), (rejected("too-short"), lands())),
    Hazard("slow-drip", "a page sent one byte every 50 ms",
           "cut at the total timeout (1 s here), retried once, rejected: timeout",
           replies("/hostile/a", Reply(200, article("Slow"), HTML, drip=0.05)),
           (rejected("timeout"), lands(), requests("/hostile/a", 2)),
           fetch={"total_timeout": 1.0}),
    Hazard("trickled-headers", "a status line and headers sent one byte a second (ten "
           "minutes before the body)", "cut at the deadline of the whole exchange (2 s here), "
           "tried once more, rejected: timeout",
           replies("/hostile/a", Reply(raw=trickled(HEAD + article("Slow"), 1.0))),
           (rejected("timeout"), lands(), requests("/hostile/a", 2), within(30),
            says("timed out before the status line and headers")),
           fetch=DEADLINE_ONLY),
    Hazard("partial-status-line", "a status line cut off after its first bytes, then silence",
           "cut at the deadline (2 s here), tried once more, rejected: timeout",
           replies("/hostile/a", Reply(raw=((b"HTTP/1.1 2", 600.0),))),
           (rejected("timeout"), lands(), requests("/hostile/a", 2), within(30)),
           fetch=DEADLINE_ONLY),
    Hazard("stalled-body", "a body that stops after its first bytes and never ends",
           "cut at the deadline (2 s here), tried once more, rejected: timeout",
           replies("/hostile/a", Reply(raw=((HEAD + article("Stalled")[:300], 600.0),))),
           (rejected("timeout"), lands(), requests("/hostile/a", 2), within(30),
            says("timed out while reading the body")),
           fetch=DEADLINE_ONLY),
    Hazard("silent-server", "a server that accepts the connection and never answers",
           "cut at the deadline (2 s here), rejected: timeout; the other outlets go on",
           item(None), (rejected("timeout"), lands(), connections(1), within(30)),
           fetch=DEADLINE_ONLY, silent="http"),
    Hazard("stalled-tls", "a TLS handshake that never completes",
           "cut at the deadline (2 s here), rejected: timeout; the other outlets go on",
           item(None), (rejected("timeout"), lands(), connections(1), within(30),
            says("while connecting")), fetch=DEADLINE_ONLY, silent="https"),
    Hazard("redirect-loop", "a page redirecting to itself without end",
           "followed 5 times, then rejected: too-many-redirects",
           redirects("{base}/hostile/r0"), (rejected("too-many-redirects"), lands())),
    Hazard("redirect-private", "redirects to loopback under another name and to the cloud "
           "metadata address", "refused before connecting: blocked-address",
           redirects("http://localhost:{port}/canary", "http://169.254.169.254/latest/meta-data/"),
           (rejected("blocked-address", "blocked-address"), lands(), requests("/canary", 0))),
    Hazard("redirect-scheme", "redirects to file:// and gopher:// URLs",
           "refused: bad-redirect", redirects("file:///etc/passwd", "gopher://127.0.0.1/"),
           (rejected("bad-redirect", "bad-redirect"), lands())),
    Hazard("compression-bomb", "16 MiB of zeros gzipped to 16 KiB",
           "cut at the decompressed-size cap (1 MiB here), rejected: too-large",
           item(BOMB, headers=GZIP_HTML), (rejected("too-large"), lands()),
           fetch={"max_bytes": 1 << 20}),
    Hazard("oversized-body", "a 2 MiB page", "rejected at the byte cap (1 MiB here): too-large",
           item(article("Huge") + b" " * (2 << 20)), (rejected("too-large"), lands()),
           fetch={"max_bytes": 1 << 20}),
    Hazard("http-429", "429 Too Many Requests with Retry-After: 1, then the page",
           "waits as asked, then lands",
           replies("/hostile/a", Reply(429, b"", {"Retry-After": "1"}),
                   Reply(200, article("Hostile page"), HTML)),
           (lands("Hostile page"), requests("/hostile/a", 2), after("/hostile/a", 1.0))),
    Hazard("http-5xx", "503 Service Unavailable, then the page", "retried with backoff, lands",
           replies("/hostile/a", Reply(503), Reply(200, article("Hostile page"), HTML)),
           (lands("Hostile page"), requests("/hostile/a", 2))),
    Hazard("http-404", "a page answering 404", "not retried, rejected: http-404",
           item(b"gone", status=404), (rejected("http-404"), lands(), requests("/hostile/a", 1))),
    Hazard("feed-410", "a feed answering 410 Gone, run after run",
           "rejected http-410 twice, then retired on the third: no longer polled, a "
           "feed-retired reject and a warning each run say so",
           replies("/hostile/feed.xml", Reply(410)),
           (rejected("feed-retired"), requests("/hostile/feed.xml", 3), retired), runs=4),
    Hazard("dns-failure", "a feed on a host name that does not resolve",
           "rejected: dns, naming the host", item(None),
           (rejected("dns"), lands()), feed="http://newsflow-hazard.invalid/hostile/feed.xml"),
    Hazard("tls-error", "a feed over TLS with a self-signed certificate",
           "refused: tls (certificates are verified)", item(None),
           (rejected("tls"), lands()), tls=True),
    Hazard("robots-feed", "robots.txt disallowing the feed",
           "not fetched; rejected: robots", _robots("Disallow: /hostile/"),
           (rejected("robots"), lands(), requests("/hostile/", 0))),
    Hazard("robots-page", "robots.txt disallowing an article page",
           "feed read, page not fetched; rejected: robots", _robots("Disallow: /hostile/a"),
           (rejected("robots"), lands(), requests("/hostile/a", 0))),
]  # fmt: skip


@pytest.mark.parametrize("hazard", HAZARDS, ids=[h.id for h in HAZARDS])
def test_hazard(hazard: Hazard, server: ScriptedServer, tmp_path: Path) -> None:
    base = server.url("")
    good = rss([(f"Good news {i}", f"{base}/good/{i}", NOON - timedelta(hours=i)) for i in (1, 2)])
    server.routes.update({"/good/feed.xml": [Reply(200, good, XML)],
                          "/good/1": [Reply(200, article("Good news one"), HTML)],
                          "/good/2": [Reply(200, article("Good news two"), HTML)]})  # fmt: skip
    with (
        ScriptedServer(tls=True) if hazard.tls else server as hostile,
        SilentServer() as silent,
    ):
        for path, script in hazard.routes(hostile.base).items():
            hostile.routes[path] = script if isinstance(script, list) else [script]
        feed_url = hazard.feed if "://" in hazard.feed else hostile.base + hazard.feed
        if hazard.silent:
            feed_url = silent.base(hazard.silent) + hazard.feed
        feeds = tmp_path / "feeds.yaml"
        feeds.write_text(f"feeds:\n  - url: {base}/good/feed.xml\n    name: Good\n"
                         f"  - url: {feed_url}\n    name: Hostile\n")  # fmt: skip
        settings = load_settings(feeds=str(feeds), lake=str(tmp_path / "lake"),
                                 allow_private_network=True,
                                 env={"NEWSFLOW_SETTINGS": str(SAMPLE_SETTINGS)})  # fmt: skip
        settings = replace(settings, fetch=replace(settings.fetch, **hazard.fetch))
        lake = LocalLake(settings.lake)
        for number in range(hazard.runs):
            started = time.monotonic()
            summary = run(settings, lake, Interval.day(DAY), f"hazard__{hazard.id}__{number}")
            seconds = time.monotonic() - started
    outcome = Outcome(summary, lake, server, base, seconds, silent if hazard.silent else None)
    assert [t for t in outcome.titles if t.startswith("Good news")] == [
        "Good news one", "Good news two"
    ]  # fmt: skip
    for check in hazard.checks:
        check(outcome)


def reliability_table() -> str:
    rows = ["| hazard | what newsflow does |", "|---|---|"]
    rows += [f"| {h.what} | {h.behaviour} |" for h in HAZARDS]
    return "\n".join(rows) + "\n"


def test_the_readme_lists_every_hazard() -> None:
    readme = (ROOT / "README.md").read_text()
    assert reliability_table() in readme, "run: python -m tests.test_hazards > table, paste it"


if __name__ == "__main__":
    sys.stdout.write(reliability_table())


QUADRATIC = '<!ENTITY a "{}">'.format("x" * 55_000), "&a;" * 20_000  # 1.1 GB if expanded
LAUGHS = (
    '<!ENTITY a0 "lollollollollollollollollollol">'
    + "".join(f'<!ENTITY a{i} "{("&a" + str(i - 1) + ";") * 10}">' for i in range(1, 10)),
    "&a9;",
)


def _blowup_routes(base: str, where: str, entities: tuple[str, str]) -> dict[str, Reply]:
    declarations, references = entities
    when = NOON.strftime("%a, %d %b %Y %H:%M:%S +0000")
    prolog = f'<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE rss [\n{declarations}\n]>\n'
    description = references if where == "feed" else "AI dubbing"
    feed = (f'{prolog if where == "feed" else ""}<rss version="2.0"><channel><title>t</title>'
            f"<item><title>Hostile page</title><link>{base}/hostile/a</link>"
            f"<pubDate>{when}</pubDate><description>{description}</description></item>"
            "</channel></rss>").encode()  # fmt: skip
    page = article("Hostile page")
    if where == "page":
        page = page.replace(b"<!DOCTYPE html>", f"<!DOCTYPE html [{declarations}]>".encode())
        page = page.replace(b"</article>", f"<p>{references}</p></article>".encode())
    return {"/hostile/feed.xml": Reply(200, feed, XML), "/hostile/a": Reply(200, page, HTML)}


@pytest.mark.parametrize(
    ("where", "entities"),
    [("feed", QUADRATIC), ("feed", LAUGHS), ("page", QUADRATIC), ("page", LAUGHS)],
    ids=["feed-quadratic", "feed-billion-laughs", "page-quadratic", "page-billion-laughs"],
)
def test_entity_blowups_are_never_built(
    where: str, entities: tuple[str, str], server: ScriptedServer, tmp_path: Path
) -> None:
    """A large entity referenced 20,000 times (1.1 GB expanded) and the billion laughs, in
    a feed's description and in a page: a whole ``newsflow run`` in its own process stays
    small, and what lands is small."""
    for path, reply in _blowup_routes(server.base, where, entities).items():
        server.route(path, reply)
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(f"feeds:\n  - url: {server.url('/hostile/feed.xml')}\n")
    arguments = ["run", "--feeds", str(feeds), "--lake", str(tmp_path / "lake"), "--date",
                 DAY.isoformat(), "--allow-private-network", "--no-progress",
                 "--create"]  # fmt: skip
    # The process's own peak (VmHWM) as it exits: its memory since exec, unlike a child's
    # ru_maxrss, which counts the memory of the process it was forked from.
    script = ("import atexit, re, sys; from pipeline.cli import main; atexit.register(lambda: "
              "print(re.search(r'VmHWM.*', open('/proc/self/status').read())[0], "
              "file=sys.stderr)); sys.exit(main(sys.argv[1:]))")  # fmt: skip
    env = {**os.environ, "NEWSFLOW_SETTINGS": str(SAMPLE_SETTINGS)}
    done = subprocess.run([sys.executable, "-c", script, *arguments], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    peak_mib = int(done.stderr.rsplit("VmHWM:", 1)[1].split()[0]) / 1024
    # A run's own peak is about 400 MiB (the relevance model, pyarrow, delta-rs; with the
    # day's stories, quality report and digest built); an entity expanded adds over 1 GB.
    assert peak_mib < 480, f"peak memory {peak_mib:.0f} MiB"
    table = read_day(LocalLake(tmp_path / "lake"), "articles", DAY.isoformat(),
                           ARTICLES_SCHEMA)  # fmt: skip
    (row,) = table.to_pylist()
    assert len(row["summary"] or "") <= 5_000 and len(row["text"]) < 100_000
