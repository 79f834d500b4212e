"""WARC files as crawlers write them, made from the sample web's pages for the tests."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from sample.site import SampleWeb


def cc_news_warc(
    web: SampleWeb,
    days: list[date],
    outlets: tuple[str, ...] = ("techbeat", "rudebaguette", "streamwire"),
) -> bytes:
    """A WARC file as CC-NEWS writes them: a warcinfo record, then request/response pairs
    of article pages from many sites, crawled on ``days`` (one outlet a day here), plus
    pages of an outlet not in the feeds file and a 404. Each of the ``outlets`` tells the
    Netflix story."""
    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=True)
    writer.write_record(writer.create_warcinfo_record("CC-NEWS-test.warc.gz", {"software": "t"}))

    def response(url: str, body: bytes, when: datetime, status: str = "200 OK") -> None:
        http = StatusAndHeaders(status, [("Content-Type", "text/html; charset=utf-8")],
                                protocol="HTTP/1.1")  # fmt: skip
        date_header = {"WARC-Date": when.strftime("%Y-%m-%dT%H:%M:%SZ")}
        request = f"GET {url} HTTP/1.1\r\nUser-Agent: CCBot\r\n\r\n".encode()
        records = [
            writer.create_warc_record(url, "request", payload=io.BytesIO(request),
                                      length=len(request), warc_headers_dict=date_header),
            writer.create_warc_record(url, "response", payload=io.BytesIO(body), length=len(body),
                                      http_headers=http, warc_headers_dict=date_header),
        ]  # fmt: skip
        for record in records:
            writer.write_record(record)

    for day, outlet in zip(days, outlets, strict=False):
        crawled = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
        for article in web.outlets[outlet]["articles"]:
            if article.get("status", 200) != 200:
                continue
            url = web.article_url(outlet, article["slug"])
            response(url, web._page(outlet, article).encode(), crawled)
        response("https://elsewhere.example/news/ai-actors", b"<html><p>Other site</p></html>",
                 crawled)  # fmt: skip
        response(web.article_url(outlet, "gone"), b"not here", crawled, "404 Not Found")
    return buffer.getvalue()


def any_site_warc(web: SampleWeb, day: date) -> bytes:
    """A crawl of sites no feeds file lists: the sample outlets' pages re-hosted under
    other domains (on our beat or not), a PDF, a redirect and a page of a feeds outlet."""
    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=True)
    when = {"WARC-Date": f"{day}T09:00:00Z"}

    def response(url: str, body: bytes, status: str = "200 OK", kind: str = "text/html") -> None:
        http = StatusAndHeaders(status, [("Content-Type", kind)], protocol="HTTP/1.1")
        writer.write_record(writer.create_warc_record(
            url, "response", payload=io.BytesIO(body), length=len(body), http_headers=http,
            warc_headers_dict=when))  # fmt: skip

    for outlet in ("techbeat", "streamwire"):
        for article in web.outlets[outlet]["articles"]:
            if article.get("status", 200) == 200:
                slug = article["slug"].strip("/").replace("/", "-")
                response(
                    f"https://{outlet}-mirror.example/{slug}", web._page(outlet, article).encode()
                )
    response("https://bakery.example/bread", b"<html><title>Sourdough</title><p>Flour, water, salt."
             + b" Knead and wait." * 100 + b"</p></html>")  # fmt: skip
    response("https://papers.example/ai.pdf", b"%PDF-1.7 generative AI", kind="application/pdf")
    response("https://moved.example/ai", b"", status="301 Moved Permanently")
    return buffer.getvalue()
