"""Hostile input, one test per hazard: a whole run over a feeds file holding a good outlet
and a hostile one, served by a local server. Each test asserts the safe outcome and that
the good outlet's articles still land beside it.

``HAZARDS`` is also the source of the README's reliability table
(``python -m tests.test_hazards`` prints it; a test keeps the README in step).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.ingest import Interval, RunSummary, run
from pipeline.records import ARTICLES_SCHEMA, REJECTS_SCHEMA
from pipeline.settings import load_settings
from pipeline.store import LocalLake
from pipeline.tables import read_partition
from tests.conftest import DAY, ROOT, SAMPLE_SETTINGS
from tests.httpserver import Reply, ScriptedServer

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


def rss(items: list[tuple[str, str, datetime | None]], prolog: str = "") -> bytes:
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

    @property
    def titles(self) -> list[str]:
        table = read_partition(self.lake, "articles", DAY.isoformat(), ARTICLES_SCHEMA)
        return sorted(t or "" for t in table.column("title").to_pylist())

    @property
    def hostile_titles(self) -> list[str]:
        return [t for t in self.titles if not t.startswith("Good news")]

    @property
    def reasons(self) -> list[str]:
        table = read_partition(self.lake, "rejects", DAY.isoformat(), REJECTS_SCHEMA)
        return sorted(r["reason"] for r in table.to_pylist() if "/hostile" in r["url"])

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


def counted(counter: str) -> Check:
    def check(outcome: Outcome) -> None:
        assert outcome.summary.total(counter) == 1

    return check


def item(
    page: bytes | None,
    title: str = "Hostile item",
    when: datetime = NOON,
    headers: dict[str, str] | None = None,
) -> Callable[[str], dict[str, Reply]]:
    """A hostile feed of one item linking to one page (``page`` None: the default one)."""

    def routes(base: str) -> dict[str, Reply]:
        feed = rss([(title, f"{base}/hostile/a", when)])
        body = article("Hostile page") if page is None else page
        return {"/hostile/feed.xml": Reply(200, feed, XML),
                "/hostile/a": Reply(200, body, headers or HTML)}  # fmt: skip

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


def untitled_lands(outcome: Outcome) -> None:
    table = read_partition(outcome.lake, "articles", DAY.isoformat(), ARTICLES_SCHEMA)
    (untitled,) = [r for r in table.to_pylist() if r["url"].endswith("/hostile/a")]
    assert untitled["title"] is None and untitled["word_count"] > 80


def _tracked(base: str) -> dict[str, Reply]:
    link = f"{base}/hostile/same"
    feed = rss([("Same story", f"{link}?utm_source=rss", NOON),
                ("Same story again", f"{link}#comments", NOON),
                ("Same story, third", f"{link}?utm_medium=x&amp;utm_id=y", NOON)])  # fmt: skip
    return {"/hostile/feed.xml": Reply(200, feed, XML),
            "/hostile/same": Reply(200, article("The same story"), HTML)}  # fmt: skip


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
    Hazard("date-2099", "an item dated 2099", "left for its own day: not fetched, not landed",
           item(None, when=datetime(2099, 1, 1, tzinfo=UTC)),
           (lands(), requests("/hostile/a", 0), counted("items_deferred"))),
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
]  # fmt: skip


@pytest.mark.parametrize("hazard", HAZARDS, ids=[h.id for h in HAZARDS])
def test_hazard(hazard: Hazard, server: ScriptedServer, tmp_path: Path) -> None:
    base = server.url("")
    good = rss([(f"Good news {i}", f"{base}/good/{i}", NOON - timedelta(hours=i)) for i in (1, 2)])
    server.routes.update({"/good/feed.xml": [Reply(200, good, XML)],
                          "/good/1": [Reply(200, article("Good news one"), HTML)],
                          "/good/2": [Reply(200, article("Good news two"), HTML)]})  # fmt: skip
    server.routes.update({path: [reply] for path, reply in hazard.routes(base).items()})
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(f"feeds:\n  - url: {base}/good/feed.xml\n    name: Good\n"
                     f"  - url: {base}/hostile/feed.xml\n    name: Hostile\n")  # fmt: skip
    settings = load_settings(feeds=str(feeds), lake=str(tmp_path / "lake"),
                             allow_private_network=True,
                             env={"NEWSFLOW_SETTINGS": str(SAMPLE_SETTINGS)})  # fmt: skip
    lake = LocalLake(settings.lake)
    summary = run(settings, lake, Interval.day(DAY), f"hazard__{hazard.id}")
    outcome = Outcome(summary, lake, server, base)
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
