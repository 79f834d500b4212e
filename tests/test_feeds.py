from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline.records import MAX_NAME, MAX_NAMES, MAX_SUMMARY, MAX_TITLE, MAX_URL
from pipeline.settings import FetchPolicy
from pipeline.sources.feeds import (
    Feed,
    FeedItem,
    FeedsFileError,
    load_feeds,
    load_outlets,
    parse_feed,
    poll,
    without_declarations,
)
from pipeline.sources.http import Fetcher, NetworkPolicy
from sample.site import SampleWeb

FEED_URL = "https://outlet.example/feed"
WHEN = datetime(2026, 11, 22, 15, 4, tzinfo=UTC)

RSS2 = b"""<?xml version="1.0"?><rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel><title>Outlet</title><item><title>Netflix &amp; AI</title>
<link>https://outlet.example/a?utm_source=rss</link><guid>a1</guid>
<pubDate>Sun, 22 Nov 2026 15:04:00 GMT</pubDate><dc:creator>Ana Ruiz</dc:creator>
<description>Lead</description></item></channel></rss>"""
RSS1 = b"""<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="https://outlet.example/"><title>Outlet</title><link>https://outlet.example/</link>
<description>d</description></channel>
<item rdf:about="https://outlet.example/a?utm_source=rss"><title>Netflix &amp; AI</title>
<link>https://outlet.example/a?utm_source=rss</link><description>Lead</description>
<dc:creator>Ana Ruiz</dc:creator><dc:date>2026-11-22T15:04:00Z</dc:date></item></rdf:RDF>"""
ATOM = b"""<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Outlet</title>
<id>urn:x</id><updated>2026-11-22T15:04:00Z</updated>
<entry><title>Netflix &amp; AI</title><link rel="alternate" href="/a?utm_source=rss"/><id>a1</id>
<published>2026-11-22T15:04:00Z</published><updated>2026-11-22T15:04:00Z</updated>
<author><name>Ana Ruiz</name></author><summary>Lead</summary></entry></feed>"""
JSON_FEED = json.dumps(
    {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Outlet",
        "items": [
            {
                "id": "a1",
                "url": "https://outlet.example/a?utm_source=rss",
                "title": "Netflix & AI",
                "summary": "Lead",
                "date_published": "2026-11-22T15:04:00Z",
                "authors": [{"name": "Ana Ruiz"}],
            }
        ],
    }
).encode()


@pytest.mark.parametrize(
    ("body", "content_type", "fmt"),
    [
        (RSS2, "application/rss+xml", "rss20"),
        (RSS1, "application/rdf+xml", "rss10"),
        (ATOM, "application/atom+xml", "atom10"),
        (JSON_FEED, "application/feed+json", "json"),
        (JSON_FEED, None, "json"),
    ],
)
def test_every_feed_format_gives_the_same_item(
    body: bytes, content_type: str | None, fmt: str
) -> None:
    parsed = parse_feed(body, FEED_URL, content_type)
    assert parsed.format == fmt
    assert parsed.problem is None
    [item] = parsed.items
    assert item.title == "Netflix & AI"
    assert item.url == "https://outlet.example/a?utm_source=rss"
    assert item.canonical_url == "https://outlet.example/a"
    assert item.published_at == WHEN
    assert item.authors == ("Ana Ruiz",)


def test_truncated_feed_keeps_what_is_readable_and_says_so() -> None:
    two = RSS2.replace(
        b"</channel>",
        b"<item><title>Second</title><link>https://outlet.example/b</link></item></channel>",
    )
    parsed = parse_feed(
        two[: two.index(b"<item><title>Second") + 30], FEED_URL, "application/rss+xml"
    )
    assert next(i.url for i in parsed.items) == "https://outlet.example/a?utm_source=rss"
    assert parsed.problem and "malformed" in parsed.problem


@pytest.mark.parametrize(
    "body", [b"", b"<html><body>Not a feed</body></html>", b"{not json", b'{"items": 5}']
)
def test_unreadable_feed_raises(body: bytes) -> None:
    with pytest.raises(ValueError):
        parse_feed(body, FEED_URL, None)


def test_json_feed_items_with_bad_types_are_skipped_not_fatal() -> None:
    body = json.dumps(
        {"items": [{"url": 5}, "x", {"url": "https://o.example/ok", "title": 3}]}
    ).encode()
    parsed = parse_feed(body, FEED_URL, "application/feed+json")
    assert [i.url for i in parsed.items] == ["https://o.example/ok"]
    assert parsed.items[0].title is None
    assert parsed.skipped == 2


def test_feeds_file_entries_are_validated_with_clear_errors(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text("feeds:\n  - url: https://a.example/feed\n  - url: ftp://b.example/feed\n")
    with pytest.raises(
        FeedsFileError, match=r"feed #2.*ftp://b.example/feed.*not an absolute http"
    ):
        load_feeds(path)
    path.write_text("feeds:\n  - url: https://a.example/feed\n  - url: https://a.example/feed\n")
    with pytest.raises(FeedsFileError, match="listed twice"):
        load_feeds(path)
    with pytest.raises(FeedsFileError, match="not found"):
        load_feeds(tmp_path / "missing.yaml")
    for url, problem in [
        ("https://reader:hunter2@c.example/feed", "URL for c.example carries credentials"),
        ("https://c.example:99999/feed", "has an invalid port"),
        ("https://c.example/a feed", "contains spaces or control characters"),
    ]:
        path.write_text(f"feeds:\n  - url: {url}\n")
        with pytest.raises(FeedsFileError, match="feed #1: .*" + problem) as refused:
            load_feeds(path)
        assert "hunter2" not in str(refused.value)


def test_feeds_file_name_defaults_to_the_domain(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(
        "feeds:\n  - url: https://www.outlet.example/feed\n"
        "  - url: https://b.example/rss\n    name: B News\n"
    )
    assert [f.name for f in load_feeds(path)] == ["outlet.example", "B News"]


def test_the_outlets_registry_makes_one_outlet_of_several_feeds(tmp_path: Path) -> None:
    """An outlet lists its feeds, sitemaps and extraction hints once; each feed's articles
    carry the outlet's name. In the shorter form, feeds of one name are one outlet."""
    from pipeline.stages.extract import HintsError, load_hints

    path = tmp_path / "feeds.yaml"
    path.write_text(
        "outlets:\n"
        "  - name: Trade Wire\n"
        "    sectors: [film]\n"
        "    feeds: [https://tradewire.example/feed, https://tradewire.example/tv/feed]\n"
        "    sitemaps: [https://tradewire.example/news-sitemap.xml]\n"
        "    extraction:\n"
        "      drop: [\"//aside[@class='key-facts']\"]\n"
        "feeds:\n"
        "  - url: https://b.example/rss\n    name: B News\n    sectors: [tv]\n"
        "  - url: https://b.example/games/rss\n    name: B News\n    sectors: [games]\n"
    )
    outlets = load_outlets(path)
    assert [(o.name, o.domain, len(o.feeds)) for o in outlets] == [
        ("Trade Wire", "tradewire.example", 2),
        ("B News", "b.example", 2),
    ]
    assert outlets[1].sectors == ("tv", "games")
    feeds = load_feeds(path)
    assert [f.name for f in feeds] == ["Trade Wire", "Trade Wire", "B News", "B News"]
    assert feeds[1].sitemaps == ("https://tradewire.example/news-sitemap.xml",)
    assert Feed.from_dict(feeds[1].to_dict()) == feeds[1]
    assert load_hints(path)["tradewire.example"].drop == ("//aside[@class='key-facts']",)

    path.write_text(
        "outlets:\n  - name: Trade Wire\n    feeds: [https://tradewire.example/feed]\n"
        '    extraction:\n      content: ["//div[@class="]\n'
    )
    with pytest.raises(HintsError, match=r"feeds\.yaml:5: .* is not an XPath"):
        load_hints(path)
    path.write_text("outlets:\n  - name: Trade Wire\n")
    with pytest.raises(FeedsFileError, match="outlet 'Trade Wire': 'feeds' must be"):
        load_outlets(path)


def test_production_feeds_file_is_valid_and_broad() -> None:
    feeds = load_feeds(Path(__file__).resolve().parent.parent / "config" / "feeds.yaml")
    assert len(feeds) >= 30
    names = {f.name for f in feeds}
    assert {"TechCrunch", "Rude Baguette"} <= names
    outlets = load_outlets(Path(__file__).resolve().parent.parent / "config" / "feeds.yaml")
    assert len(outlets) == len(names) < len(feeds)  # TechCrunch has two feeds
    sectors = {s for f in feeds for s in f.sectors}
    assert {"film", "tv", "music", "games", "publishing", "tech"} <= sectors


def _fetcher(web: SampleWeb) -> Fetcher:
    network = NetworkPolicy.for_urls([f["url"] for f in web.feeds()], allow_private=True)
    return Fetcher(FetchPolicy(per_host_delay=0, backoff=0.01), network)


def _feed(web: SampleWeb, feeds_file: Path, outlet: str) -> Feed:
    return next(f for f in load_feeds(feeds_file) if f.url == web.feed_url(outlet))


@pytest.mark.parametrize(
    ("outlet", "header"), [("techbeat", "If-None-Match"), ("screentrade", "If-Modified-Since")]
)
def test_second_poll_sends_validators_and_304_means_nothing_new(
    web: SampleWeb, feeds_file: Path, outlet: str, header: str
) -> None:
    feed = _feed(web, feeds_file, outlet)
    with _fetcher(web) as fetcher:
        first = poll(fetcher, feed, None)
        second = poll(fetcher, feed, first.validators)
    assert first.status == "ok" and first.items
    assert second.status == "not-modified" and second.items == []
    last = [r for r in web.requests_to(outlet) if r.path == web.outlets[outlet]["feed"]["path"]][-1]
    assert header in last.headers and last.status == 304


def test_server_ignoring_validators_falls_back_to_the_content_hash(
    web: SampleWeb, feeds_file: Path
) -> None:
    feed = _feed(web, feeds_file, "gamesdesk")
    with _fetcher(web) as fetcher:
        first = poll(fetcher, feed, None)
        second = poll(fetcher, feed, first.validators)
    assert first.validators is not None and first.validators.etag is None
    assert first.validators.content_hash
    assert second.status == "unchanged" and second.items == []


def test_failing_feed_is_a_result_not_an_exception(web: SampleWeb, feeds_file: Path) -> None:
    feed = _feed(web, feeds_file, "deadlinebeat")
    with _fetcher(web) as fetcher:
        result = poll(fetcher, feed, None)
    assert result.status == "failed"
    assert result.error is not None and result.error.reason == "http-500"
    assert feed.url in str(result.error)


def test_declarations_are_cut_out_unread_whatever_they_hide() -> None:
    feed = (b'<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY a "x>]y">\n<!-- ]> -->\n'
            b"<?pi ]> ?>\n]>\n<rss version=\"2.0\">&a;</rss>")  # fmt: skip
    assert without_declarations(feed) == (b'<?xml version="1.0"?>\n\n<rss version="2.0">&a;</rss>',
                                          True)  # fmt: skip
    public = b'<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" "x.dtd"><rss/>'
    assert without_declarations(public) == (b"<rss/>", False)  # declares nothing: no problem
    stray = b'<rss><!ENTITY b SYSTEM "file:///etc/passwd"><channel/></rss>'
    assert without_declarations(stray) == (b"<rss><channel/></rss>", True)
    plain = b'<rss version="2.0"><channel/></rss>'
    assert without_declarations(plain) == (plain, False)


def test_a_utf16_feed_loses_its_declarations_too() -> None:
    text = ('<?xml version="1.0" encoding="utf-16"?><!DOCTYPE rss [<!ENTITY a "zz">]>'
            '<rss version="2.0"><channel><title>Télé</title><item><title>A &a;</title>'
            "<link>http://x.example/a</link></item></channel></rss>")  # fmt: skip
    parsed = parse_feed(text.encode("utf-16"), "http://x.example/feed")
    assert [item.title for item in parsed.items] == ["A &a;"] and parsed.title == "Télé"
    assert parsed.problem and "removed unread" in parsed.problem


def test_a_large_entity_referenced_many_times_is_never_expanded() -> None:
    declaration = '<!ENTITY a "{}">'.format("x" * 55_000)
    feed = (f'<?xml version="1.0"?>\n<!DOCTYPE rss [\n{declaration}\n]>\n<rss version="2.0">'
            f"<channel><title>t</title><item><title>T</title><link>http://x.example/a</link>"
            f"<description>{'&a;' * 20_000}</description></item></channel></rss>")  # fmt: skip
    (item,) = parse_feed(feed.encode(), "http://x.example/feed").items
    assert item.summary is not None and "xxxxx" not in item.summary


def test_every_field_of_an_item_is_capped() -> None:
    item = FeedItem(feed_url="http://x.example/feed", url="http://x.example/a",
                    title="t" * 5_000, published_at=None, summary="s" * 50_000,
                    authors=tuple("a" * 500 for _ in range(100)))  # fmt: skip
    assert (len(item.title or ""), len(item.summary or "")) == (MAX_TITLE, MAX_SUMMARY)
    assert len(item.authors) == MAX_NAMES and {len(a) for a in item.authors} == {MAX_NAME}
    long_link = f"<item><title>x</title><link>http://x.example/{'a' * MAX_URL}</link></item>"
    feed = f'<rss version="2.0"><channel><title>t</title>{long_link}</channel></rss>'
    parsed = parse_feed(feed.encode(), "http://x.example/feed")
    assert parsed.items == [] and parsed.skipped == 1
