"""Serves the offline sample web (``outlets.yaml``) from 127.0.0.1, one port per outlet.

Each outlet has its robots.txt, its feed (RSS 2.0, RSS 1.0, Atom or JSON Feed, with ETag
or Last-Modified validators, or a broken one) and its article pages, rendered in one of
three layouts with the furniture real pages carry: navigation, ads, share bars, related
links, newsletter boxes, comments and footers. Every request is logged so tests can see
what the pipeline asked for.

Run it by hand to point ``newsflow run`` at it::

    python -m sample.site --feeds-out /tmp/sample-feeds.yaml
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import html
import json
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

SPEC = Path(__file__).with_name("outlets.yaml")


@dataclass
class Request:
    outlet: str
    path: str
    headers: dict[str, str]
    status: int


def _paragraphs(body: str) -> list[str]:
    return [" ".join(p.split()) for p in body.strip().split("\n\n") if p.strip()]


def _when(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


class SampleWeb:
    """The sample outlets, served; use as a context manager."""

    def __init__(self, spec: Path = SPEC, base_port: int | None = None) -> None:
        self.outlets: dict[str, dict[str, Any]] = {
            o["id"]: o for o in yaml.safe_load(spec.read_text(encoding="utf-8"))["outlets"]
        }
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._servers: dict[str, ThreadingHTTPServer] = {}
        self._base_port = base_port  # fixed ports keep URLs (and article ids) stable

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> SampleWeb:
        for number, outlet_id in enumerate(self.outlets):
            port = self._base_port + number if self._base_port else 0
            server = ThreadingHTTPServer(("127.0.0.1", port), self._handler(outlet_id))
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
            self._servers[outlet_id] = server
        return self

    def stop(self) -> None:
        for server in self._servers.values():
            server.shutdown()
            server.server_close()
        self._servers.clear()

    def __enter__(self) -> SampleWeb:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses ------------------------------------------------------------------

    def base(self, outlet_id: str) -> str:
        return f"http://127.0.0.1:{self._servers[outlet_id].server_address[1]}"

    def article_url(self, outlet_id: str, slug: str) -> str:
        return f"{self.base(outlet_id)}/{slug}/"

    def feed_url(self, outlet_id: str) -> str:
        return self.base(outlet_id) + str(self.outlets[outlet_id]["feed"]["path"])

    def feeds(self) -> list[dict[str, str]]:
        return [{"url": self.feed_url(o), "name": self.outlets[o]["name"]} for o in self.outlets]

    def write_feeds_file(self, path: Path) -> Path:
        path.write_text(yaml.safe_dump({"feeds": self.feeds()}, sort_keys=False), encoding="utf-8")
        return path

    def requests_to(self, outlet_id: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.outlet == outlet_id]

    def _ref(self, ref: str) -> tuple[str, dict[str, Any]]:
        outlet_id, slug = ref.split(":", 1)
        article = next(a for a in self.outlets[outlet_id]["articles"] if a["slug"] == slug)
        return outlet_id, article

    # -- content --------------------------------------------------------------------

    def _article_body(self, article: dict[str, Any]) -> list[str]:
        if "syndicated_from" in article:
            return self._article_body(self._ref(article["syndicated_from"])[1])
        return _paragraphs(article.get("body", ""))

    def _feed(self, outlet_id: str) -> tuple[bytes, str, datetime]:
        outlet = self.outlets[outlet_id]
        fmt = outlet["feed"]["format"]
        articles = sorted(outlet["articles"], key=lambda a: _when(a["published"]), reverse=True)
        newest = max(
            (_when(a["published"]) for a in articles), default=datetime(2026, 1, 1, tzinfo=UTC)
        )
        items = [
            {
                "title": a["title"],
                "link": self.article_url(outlet_id, a["slug"]) + a.get("feed_query", ""),
                "id": self.article_url(outlet_id, a["slug"]),
                "published": _when(a["published"]),
                "author": a["author"],
                "summary": a.get("summary", ""),
            }
            for a in articles
        ]
        title = html.escape(outlet["name"])
        home = self.base(outlet_id) + "/"
        esc = html.escape
        if fmt == "json":
            document = {
                "version": "https://jsonfeed.org/version/1.1",
                "title": outlet["name"],
                "home_page_url": home,
                "feed_url": self.feed_url(outlet_id),
                "items": [
                    {
                        "id": i["id"],
                        "url": i["link"],
                        "title": i["title"],
                        "summary": i["summary"],
                        "date_published": i["published"].isoformat(),
                        "authors": [{"name": i["author"]}],
                    }
                    for i in items
                ],
            }
            return json.dumps(document, indent=2).encode(), "application/feed+json", newest
        if fmt == "atom":
            entries = "".join(
                f'<entry><title>{esc(i["title"])}</title><link rel="alternate" href="{esc(i["link"])}"/>'
                f"<id>{esc(i['id'])}</id><published>{i['published'].isoformat()}</published>"
                f"<updated>{i['published'].isoformat()}</updated><author><name>{esc(i['author'])}</name></author>"
                f"<summary>{esc(i['summary'])}</summary></entry>\n"
                for i in items
            )
            body = (
                '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
                f'<title>{title}</title><link href="{home}"/><id>{home}</id>'
                f"<updated>{newest.isoformat()}</updated>\n{entries}</feed>\n"
            )
            return body.encode(), "application/atom+xml; charset=utf-8", newest
        if fmt == "rss1":
            seq = "".join(f'<rdf:li rdf:resource="{esc(i["link"])}"/>' for i in items)
            entries = "".join(
                f'<item rdf:about="{esc(i["link"])}"><title>{esc(i["title"])}</title>'
                f"<link>{esc(i['link'])}</link><description>{esc(i['summary'])}</description>"
                f"<dc:creator>{esc(i['author'])}</dc:creator><dc:date>{i['published'].isoformat()}</dc:date></item>\n"
                for i in items
            )
            body = (
                '<?xml version="1.0" encoding="utf-8"?>\n'
                '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
                'xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
                f'<channel rdf:about="{home}"><title>{title}</title><link>{home}</link>'
                f"<description>{title}</description><items><rdf:Seq>{seq}</rdf:Seq></items></channel>\n"
                f"{entries}</rdf:RDF>\n"
            )
            return body.encode(), "application/rdf+xml; charset=utf-8", newest
        entries = "".join(
            f"<item><title>{esc(i['title'])}</title><link>{esc(i['link'])}</link>"
            f'<guid isPermaLink="true">{esc(i["id"])}</guid>'
            f"<pubDate>{format_datetime(i['published'], usegmt=True)}</pubDate>"
            f"<dc:creator>{esc(i['author'])}</dc:creator><description>{esc(i['summary'])}</description></item>\n"
            for i in items
        )
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
            f"<title>{title}</title><link>{home}</link><description>Latest from {title}</description>"
            f"<lastBuildDate>{format_datetime(newest, usegmt=True)}</lastBuildDate>\n{entries}</channel></rss>\n"
        )
        if fmt == "truncated":  # the connection dropped inside the last item
            cut = body.rfind("<item>") + 40
            return body[:cut].encode(), "application/rss+xml", newest
        return body.encode(), "application/rss+xml; charset=utf-8", newest

    @staticmethod
    def _rights_meta(outlet: dict[str, Any]) -> str:
        """The meta tags by which an outlet declares rights in its pages, if it does."""
        tags = ""
        tdm = outlet.get("tdm") or {}
        if tdm.get("via") == "meta":
            tags += f'<meta name="tdm-reservation" content="{tdm["reservation"]}">'
            if tdm.get("policy"):
                tags += f'<meta name="tdm-policy" content="{html.escape(tdm["policy"])}">'
        if outlet.get("robots_meta"):
            tags += f'<meta name="robots" content="{html.escape(outlet["robots_meta"])}">'
        return tags

    def _page(self, outlet_id: str, article: dict[str, Any]) -> str:
        outlet = self.outlets[outlet_id]
        esc = html.escape
        layout = outlet.get("layout", "classic")
        url = self.article_url(outlet_id, article["slug"])
        canonical = url
        if article.get("canonical"):
            other_id, other = self._ref(article["canonical"])
            canonical = self.article_url(other_id, other["slug"])
        published = _when(article["published"])
        others = [a for a in outlet["articles"] if a["slug"] != article["slug"]]
        nav = "".join(
            f'<li><a href="/section/{esc(s.lower())}/">{esc(s)}</a></li>'
            for s in outlet["section_nav"]
        )
        popular = "".join(
            f'<li><a href="{self.article_url(outlet_id, a["slug"])}">{esc(a["title"])}</a></li>'
            for a in others
        )
        if article.get("status") == "video":
            paragraphs = [f"<p>{esc(p)}</p>" for p in self._article_body(article)]
            main = (
                '<div class="video-player" data-src="/video/stream.m3u8"><button>Play</button></div>'
                + "".join(paragraphs)
            )
        else:
            paragraphs = [f"<p>{esc(p)}</p>" for p in self._article_body(article)]
            middle = len(paragraphs) // 2
            related = others[0] if others else None
            inline = (
                f'<aside class="related-inline"><strong>Related:</strong> '
                f'<a href="{self.article_url(outlet_id, related["slug"])}">{esc(related["title"])}</a></aside>'
                if related
                else ""
            )
            ad = '<div class="ad ad-inarticle" data-slot="mid-1">Advertisement</div>'
            main = "".join(paragraphs[:middle]) + ad + inline + "".join(paragraphs[middle:])
        language = outlet.get("language", "en")
        jsonld = ""
        if article.get("jsonld"):
            jsonld = (
                '<script type="application/ld+json">'
                + json.dumps(
                    {
                        "@context": "https://schema.org",
                        "@type": "NewsArticle",
                        "headline": article["title"],
                        "datePublished": published.isoformat(),
                        "author": [{"@type": "Person", "name": article["author"]}],
                        "publisher": {"@type": "Organization", "name": outlet["name"]},
                    }
                )
                + "</script>"
            )
        meta_time = (
            f'<meta property="article:published_time" content="{published.isoformat()}">'
            if layout != "blog"
            else ""
        )
        head = (
            f'<!DOCTYPE html><html lang="{language}"><head><meta charset="utf-8">'
            f"<title>{esc(article['title'])} | {esc(outlet['name'])}</title>"
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<meta name="description" content="{esc(article.get("summary", ""))}">'
            f'<meta property="og:title" content="{esc(article["title"])}">'
            f'<meta property="og:url" content="{canonical}">'
            f'<meta property="og:image" content="{self.base(outlet_id)}/img/{hashlib.md5(url.encode()).hexdigest()[:8]}.jpg">'  # noqa: S324
            f'<meta name="author" content="{esc(article["author"])}">{meta_time}'
            f"{self._rights_meta(outlet)}"
            f'<link rel="canonical" href="{canonical}"><link rel="stylesheet" href="/static/site.css">'
            f'<script src="/static/analytics.js" async></script>{jsonld}</head>'
        )
        byline = (
            f'<div class="byline">By <a rel="author" href="/author/{esc(article["author"].lower().replace(" ", "-"))}/">'
            f'{esc(article["author"])}</a> · <time datetime="{published.isoformat()}">'
            f"{published.strftime('%B %d, %Y %H:%M')} UTC</time></div>"
        )
        share = (
            '<ul class="share"><li>Share on X</li><li>Share on Facebook</li><li>Copy link</li></ul>'
        )
        comments = (
            '<section id="comments"><h3>3 Comments</h3>'
            '<div class="comment"><b>moviebuff77</b><p>Great, so now the robots make the shows too.</p></div>'
            '<div class="comment"><b>k.ishikawa</b><p>Honestly the effects in that series looked fine to me.</p></div>'
            '<div class="comment"><b>popcorn_ana</b><p>Who gets paid when the machine does the work?</p></div>'
            '<form class="comment-form"><textarea placeholder="Join the discussion"></textarea></form></section>'
        )
        newsletter = (
            '<div class="newsletter"><h4>Get the daily briefing</h4><p>The stories that matter, '
            'in your inbox every morning.</p><input type="email" placeholder="you@example.com">'
            "<button>Sign up</button></div>"
        )
        footer = (
            f'<footer><nav><a href="/about/">About {esc(outlet["name"])}</a> <a href="/contact/">Contact</a> '
            '<a href="/privacy/">Privacy policy</a> <a href="/terms/">Terms of use</a> '
            '<a href="/advertise/">Advertise</a></nav>'
            f"<p>© 2026 {esc(outlet['name'])} Media Group. All rights reserved.</p></footer>"
            '<div class="cookie-banner">We use cookies to improve your experience. <button>Accept</button></div>'
        )
        if layout == "magazine":
            body = (
                f'<body class="magazine"><header class="masthead"><a class="logo" href="/">{esc(outlet["name"])}</a>'
                f'<nav class="menu"><ul>{nav}</ul></nav><a class="subscribe" href="/subscribe/">Subscribe</a></header>'
                f'<div class="ad ad-leaderboard">Advertisement</div>'
                f'<main><article class="story"><p class="kicker">{esc(article["section"])}</p>'
                f'<h1 class="story-title">{esc(article["title"])}</h1>'
                f'<p class="dek">{esc(article.get("summary", ""))}</p>{byline}'
                f'<figure><img src="/img/hero.jpg" alt=""><figcaption>Photo: {esc(outlet["name"])} archive</figcaption></figure>'
                f'<div class="story-body">{main}</div>{share}'
                f'<div class="author-bio"><b>{esc(article["author"])}</b> writes about technology and culture '
                f"for {esc(outlet['name'])}.</div></article>"
                f'<section class="read-next"><h2>Read next</h2><ul>{popular}</ul></section>{newsletter}</main>'
                f"{comments}{footer}</body></html>"
            )
        elif layout == "blog":
            body = (
                f'<body class="blog"><div id="top"><a href="/">{esc(outlet["name"])}</a><ul class="nav">{nav}</ul>'
                f'<form role="search"><input name="q" placeholder="Search"></form></div>'
                f'<div id="content"><div class="post"><h1 class="entry-title">{esc(article["title"])}</h1>'
                f'<div class="entry-meta">Posted by {esc(article["author"])} on '
                f'<time datetime="{published.isoformat()}">{published.strftime("%d/%m/%Y")}</time></div>'
                f'<div class="entry-content">{main}</div><div class="tags">Tags: '
                f'<a href="/tag/ai/">AI</a>, <a href="/tag/industry/">Industry</a></div>{share}</div>'
                f'<div id="sidebar"><h3>Recent posts</h3><ul>{popular}</ul><h3>Archives</h3>'
                f"<ul><li>November 2026</li><li>October 2026</li></ul></div></div>{comments}{footer}</body></html>"
            )
        else:
            body = (
                f'<body><header><div class="top-bar"><a class="logo" href="/">{esc(outlet["name"])}</a>'
                f'<a href="/login/">Sign in</a></div><nav class="main-nav"><ul>{nav}</ul></nav>'
                f'<div class="trending"><span>Trending:</span> <a href="/tag/streaming/">Streaming</a> '
                f'<a href="/tag/awards/">Awards season</a> <a href="/tag/ai/">AI</a></div></header>'
                f'<div class="ad ad-leaderboard" data-slot="top">Advertisement</div>'
                f'<div class="page"><main><ol class="breadcrumbs"><li><a href="/">Home</a></li>'
                f"<li>{esc(article['section'])}</li></ol><article>"
                f'<h1 class="headline">{esc(article["title"])}</h1>{byline}{share}'
                f'<div class="article-body">{main}</div>{newsletter}</article>{comments}</main>'
                f'<aside class="sidebar"><h2>Most Popular</h2><ol>{popular}</ol>'
                f'<div class="ad ad-rail">Advertisement</div></aside></div>{footer}</body></html>'
            )
        return head + body

    # -- HTTP -----------------------------------------------------------------------

    def _sitemap(self, outlet_id: str, path: str) -> bytes:
        """The outlet's sitemap index, its news sitemap (every article, with its date and
        title) and a gzipped sitemap of its other pages (old ``lastmod`` dates)."""
        base, outlet = self.base(outlet_id), self.outlets[outlet_id]
        ns = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
        if path == "/sitemap_index.xml":
            newest = max((_when(a["published"]) for a in outlet["articles"]),
                         default=datetime(2026, 1, 1, tzinfo=UTC))  # fmt: skip
            return (
                f'<?xml version="1.0" encoding="UTF-8"?><sitemapindex {ns}>'
                f"<sitemap><loc>{base}/sitemap-news.xml</loc>"
                f"<lastmod>{newest.isoformat()}</lastmod></sitemap>"
                f"<sitemap><loc>{base}/sitemap-pages.xml.gz</loc>"
                f"<lastmod>2025-06-01</lastmod></sitemap></sitemapindex>"
            ).encode()
        if path == "/sitemap-pages.xml.gz":
            pages = "".join(f"<url><loc>{base}/{page}/</loc><lastmod>2025-06-01</lastmod></url>"
                            for page in ("about", "contact", "advertise"))  # fmt: skip
            return gzip.compress(f"<urlset {ns}>{pages}</urlset>".encode(), mtime=0)
        entries = "".join(
            f"<url><loc>{html.escape(self.article_url(outlet_id, a['slug']))}</loc><news:news>"
            f"<news:publication><news:name>{html.escape(outlet['name'])}</news:name>"
            f"<news:language>en</news:language></news:publication>"
            f"<news:publication_date>{_when(a['published']).isoformat()}</news:publication_date>"
            f"<news:title>{html.escape(a['title'])}</news:title></news:news></url>"
            for a in outlet["articles"]
        )
        return (
            f'<?xml version="1.0" encoding="UTF-8"?><urlset {ns} '
            f'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">{entries}</urlset>'
        ).encode()

    def _handler(self, outlet_id: str) -> type[BaseHTTPRequestHandler]:
        web = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _send(
                self, status: int, body: bytes = b"", headers: dict[str, str] | None = None
            ) -> None:
                with web._lock:
                    web.requests.append(
                        Request(outlet_id, self.path, dict(self.headers.items()), status)
                    )
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                outlet = web.outlets[outlet_id]
                base = web.base(outlet_id)
                path = self.path.split("?", 1)[0]
                if path == "/robots.txt":
                    robots = outlet.get("robots", "") + f"\nSitemap: {base}/sitemap_index.xml\n"
                    return self._send(200, robots.encode(), {"Content-Type": "text/plain"})
                if path in ("/sitemap_index.xml", "/sitemap-news.xml", "/sitemap-pages.xml.gz"):
                    return self._send(200, web._sitemap(outlet_id, path), {
                        "Content-Type": "application/gzip" if path.endswith(".gz")
                        else "application/xml"})  # fmt: skip
                tdm = outlet.get("tdm") or {}
                if path == "/.well-known/tdmrep.json" and tdm.get("via") == "tdmrep":
                    rules = [{"location": "/*", "tdm-reservation": tdm["reservation"]}]
                    if tdm.get("policy"):
                        rules[0]["tdm-policy"] = tdm["policy"]
                    return self._send(
                        200, json.dumps(rules).encode(), {"Content-Type": "application/json"}
                    )
                if path == outlet["feed"]["path"]:
                    return self._serve_feed(outlet)
                for article in outlet["articles"]:
                    if path == f"/{article['slug']}/":
                        if article.get("status") == 404:
                            return self._send(
                                404,
                                b"<html><body>Not found</body></html>",
                                {"Content-Type": "text/html"},
                            )
                        page = web._page(outlet_id, article).encode("utf-8")
                        headers = {"Content-Type": "text/html; charset=utf-8"}
                        if tdm.get("via") == "header":
                            headers["tdm-reservation"] = str(tdm["reservation"])
                            if tdm.get("policy"):
                                headers["tdm-policy"] = tdm["policy"]
                        return self._send(200, page, headers)
                return self._send(
                    404, b"<html><body>Not found</body></html>", {"Content-Type": "text/html"}
                )

            def _serve_feed(self, outlet: dict[str, Any]) -> None:
                feed = outlet["feed"]
                if feed["format"] == "error-500":
                    return self._send(500, b"Internal Server Error", {"Content-Type": "text/plain"})
                body, content_type, newest = web._feed(outlet_id)
                validators = feed.get("validators", "etag")
                headers = {"Content-Type": content_type}
                if validators == "etag":
                    etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                    headers["ETag"] = etag
                    if self.headers.get("If-None-Match") == etag:
                        return self._send(304, b"", {"ETag": etag})
                elif validators == "last-modified":
                    headers["Last-Modified"] = format_datetime(newest, usegmt=True)
                    since = self.headers.get("If-Modified-Since")
                    if since and parsedate_to_datetime(since) >= newest.replace(microsecond=0):
                        return self._send(304, b"", {"Last-Modified": headers["Last-Modified"]})
                return self._send(200, body, headers)

        return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the offline sample web on 127.0.0.1.")
    parser.add_argument(
        "--feeds-out", type=Path, required=True, help="where to write the feeds file"
    )
    args = parser.parse_args()
    with SampleWeb() as web:
        web.write_feeds_file(args.feeds_out)
        print(f"serving {len(web.outlets)} outlets; feeds file: {args.feeds_out} (Ctrl-C to stop)")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
