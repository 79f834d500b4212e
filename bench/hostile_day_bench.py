"""A hostile day on one host: one ``newsflow run``, with the production settings, over 31
feeds served by one local server (one host and port, so one politeness queue), eight of
them hostile in the ways a server can hang a client: a status line and headers sent a
byte a second, a server that accepts and never answers, a status line cut short, a body
that stalls, a body dripped a byte every 50 ms, a TLS handshake that never completes
(on a second port of the same machine), a feed whose description references a 55 KB
entity 20,000 times, and an item dated 2099. Two good feeds also carry a page that
trickles its headers and one that stalls.

It prints the run's wall-clock time against the same run without the hostile feeds and
pages (the time the hostility cost), the good articles landed against those expected
(they must be equal), the rejects by reason, and the command's peak memory.
Usage: ``python bench/hostile_day_bench.py``.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from common import measured
from common import page as synthetic_page

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.lake.store import LocalLake  # noqa: E402
from pipeline.lake.tables import read_day  # noqa: E402
from pipeline.records import ARTICLES_SCHEMA, REJECTS_SCHEMA  # noqa: E402
from tests.httpserver import Reply, ScriptedServer, SilentServer, trickled  # noqa: E402

DAY = "2026-11-23"
WHEN = datetime(2026, 11, 23, 12, tzinfo=UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
GOOD_FEEDS = 23
XML = {"Content-Type": "application/rss+xml; charset=utf-8"}
HTML = {"Content-Type": "text/html; charset=utf-8"}
HOUR = 3600.0


def rss(
    items: list[tuple[str, str]], prolog: str = "", description: str = "", when: str = WHEN
) -> bytes:
    entries = "".join(
        f"<item><title>{title}</title><link>{link}</link><pubDate>{when}</pubDate>"
        f"<description>{description}</description></item>"
        for title, link in items
    )
    return (f'<?xml version="1.0" encoding="utf-8"?>\n{prolog}<rss version="2.0"><channel>'
            f"<title>Outlet</title><link>/</link>{entries}</channel></rss>").encode()  # fmt: skip


def head(length: int) -> bytes:
    return (f"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
            f"Content-Length: {length}\r\n\r\n").encode()  # fmt: skip


def article(name: str) -> bytes:
    return synthetic_page(random.Random(name), f"Studio {name} signs an AI dubbing deal", True)


def serve(server: ScriptedServer, silent: SilentServer, hostile: bool) -> tuple[list[str], int]:
    """Routes on ``server``; the feed URLs and how many good articles they lead to."""
    feeds, expected = [], 0
    for n in range(GOOD_FEEDS):
        links = [(f"Good {n}-{k}", server.url(f"/good/{n}/{k}")) for k in range(2)]
        for k in range(2):
            server.route(f"/good/{n}/{k}", Reply(200, article(f"{n}-{k}"), HTML))
        expected += 2
        if hostile and n < 2:  # a hostile page in a good feed
            links.append((f"Slow page {n}", server.url(f"/slow-page/{n}")))
            body = article(f"slow-{n}")
            raw = (
                trickled(head(len(body)), 1.0)
                if n == 0
                else ((head(len(body)) + body[:500], HOUR),)
            )
            server.route(f"/slow-page/{n}", Reply(raw=raw))
        server.route(f"/good/{n}/feed.xml", Reply(200, rss(links), XML))
        feeds.append(server.url(f"/good/{n}/feed.xml"))
    if not hostile:
        return feeds, expected
    page = article("hostile")
    feed = rss([("Hostile", server.url("/hostile/page"))])
    padded = feed.replace(b"</rss>", b" " * 2000 + b"</rss>")  # 2 KB at 20 bytes/s: 115 s
    server.route("/hostile/page", Reply(200, page, HTML))
    plays = {
        "trickled-headers": Reply(raw=trickled(head(len(feed)) + feed, 1.0)),
        "silent": Reply(raw=((b"", HOUR),)),
        "partial-status": Reply(raw=((b"HTTP/1.1 2", HOUR),)),
        "stalled-body": Reply(raw=((head(len(feed)) + feed[:200], HOUR),)),
        "dripped-body": Reply(raw=((head(len(padded)), 0.0), *trickled(padded, 0.05))),
    }
    for name, reply in plays.items():
        server.route(f"/hostile/{name}.xml", reply)
        feeds.append(server.url(f"/hostile/{name}.xml"))
    entity = '<!DOCTYPE rss [\n<!ENTITY a "{}">\n]>\n'.format("x" * 55_000)
    entities = rss([("Entities", server.url("/hostile/entity-page"))], entity, "&a;" * 20_000)
    server.route("/hostile/entities.xml", Reply(200, entities, XML))
    server.route("/hostile/entity-page", Reply(200, article("entity"), HTML))
    server.route("/hostile/2099.xml", Reply(200, rss(
        [("Far ahead", server.url("/hostile/2099-page"))], when="Thu, 01 Jan 2099 00:00:00 +0000"),
        XML))  # fmt: skip
    server.route("/hostile/2099-page", Reply(200, article("2099"), HTML))
    feeds += [server.url("/hostile/entities.xml"), server.url("/hostile/2099.xml"),
              silent.base("https") + "/hostile/tls.xml"]  # fmt: skip
    return feeds, expected + 2  # the entity feed's and the 2099 item's pages are good


def run(hostile: bool, folder: Path) -> dict[str, object]:
    with ScriptedServer() as server, SilentServer() as silent:
        feed_urls, expected = serve(server, silent, hostile)
        feeds = folder / f"feeds-{hostile}.yaml"
        feeds.write_text("feeds:\n" + "".join(f"  - url: {url}\n" for url in feed_urls))
        lake = folder / f"lake-{hostile}"
        command = [str(Path(sys.executable).parent / "newsflow"), "run", "--feeds", str(feeds),
                   "--lake", str(lake), "--date", DAY, "--allow-private-network", "--create",
                   "--no-progress"]  # fmt: skip
        env = {"NEWSFLOW_SETTINGS": str(ROOT / "config" / "settings.yaml"),
               "PATH": str(Path(sys.executable).parent)}  # fmt: skip
        seconds, _, alone, done = measured(command, env)
    articles = read_day(LocalLake(lake), "articles", DAY, ARTICLES_SCHEMA)
    rejects = read_day(LocalLake(lake), "rejects", DAY, REJECTS_SCHEMA)
    return {"feeds": len(feed_urls), "seconds": round(seconds, 1), "exit": done.returncode,
            "good_expected": expected, "articles": articles.num_rows,
            "rejects": dict(Counter(rejects.column("reason").to_pylist()).most_common()),
            "peak_mib": round(alone / 2**20)}  # fmt: skip


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="newsflow-hostile-") as tmp:
        clean = run(False, Path(tmp))
        hostile = run(True, Path(tmp))
    print(f"the good feeds alone: {json.dumps(clean)}")
    print(f"31 feeds, 8 hostile:  {json.dumps(hostile)}")
    print(f"hostility cost {hostile['seconds'] - clean['seconds']:.0f} s "  # type: ignore[operator]
          f"({hostile['seconds']} s against {clean['seconds']} s); good articles landed "
          f"{hostile['articles']} of {hostile['good_expected']}")  # fmt: skip


if __name__ == "__main__":
    main()
