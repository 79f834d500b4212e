from __future__ import annotations

import pytest

from pipeline.urls import article_id, canonicalize, host_key, source_domain


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        (
            "https://Example.com/news/story?utm_source=rss&utm_medium=feed#comments",
            "https://example.com/news/story",
        ),
        ("http://example.com:80/a?b=2&a=1", "http://example.com/a?a=1&b=2"),
        ("https://example.com:443", "https://example.com/"),
        ("https://example.com/a?fbclid=x&gclid=y&id=7", "https://example.com/a?id=7"),
        ("https://example.com/a?mc_cid=1&mc_eid=2&ref=tw", "https://example.com/a"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("  https://EXAMPLE.com./a  ", "https://example.com/a"),
    ],
)
def test_canonical_form(url: str, canonical: str) -> None:
    assert canonicalize(url) == canonical


def test_tracking_parameters_and_fragments_do_not_change_the_article_id() -> None:
    plain = "https://techbeat.example/2026/11/22/netflix/"
    tracked = plain + "?utm_source=rss&utm_campaign=media#comments"
    assert article_id(canonicalize(tracked)) == article_id(canonicalize(plain))


def test_meaningful_parameters_change_the_article_id() -> None:
    a = canonicalize("https://example.com/article?id=1")
    b = canonicalize("https://example.com/article?id=2")
    assert article_id(a) != article_id(b)


def test_non_http_urls_are_left_alone() -> None:
    assert canonicalize("mailto:desk@example.com") == "mailto:desk@example.com"


def test_source_domain_and_host_key() -> None:
    assert source_domain("https://www.Variety.com/2026/x") == "variety.com"
    assert host_key("https://www.variety.com/x") == "https://www.variety.com:443"
    assert host_key("http://127.0.0.1:8080/x") == "http://127.0.0.1:8080"
