from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from pipeline.stages.extract import ExtractionError, content_hash, extract
from sample.site import SampleWeb


def _page(web: SampleWeb, outlet: str, slug_start: str) -> tuple[bytes, str, dict[str, Any]]:
    article = next(a for a in web.outlets[outlet]["articles"] if a["slug"].startswith(slug_start))
    return web._page(outlet, article).encode(), web.article_url(outlet, article["slug"]), article


def test_main_text_without_page_furniture(web: SampleWeb) -> None:
    html, url, article = _page(web, "techbeat", "2026/11/22/netflix")
    page = extract(html, url)
    assert page.title == article["title"]
    assert page.authors == ["Sarah Perez-Lind"]
    assert page.published_at == datetime(2026, 11, 22, 15, 4, tzinfo=UTC)
    assert page.language == "en"
    assert page.text.startswith("Netflix is no longer experimenting")
    for furniture in ("Advertisement", "Most Popular", "Sign up", "moviebuff77", "Privacy policy"):
        assert furniture not in page.text
    assert page.canonical_url == url
    assert page.summary and page.summary.startswith("The streamer told investors")


def test_date_from_the_visible_page_when_metadata_has_none(web: SampleWeb) -> None:
    html, url, _ = _page(web, "bookwire", "news/publishers")
    assert b"article:published_time" not in html  # the blog layout states no metadata time
    page = extract(html, url)
    assert page.published_date is not None and page.published_date.isoformat() == "2026-11-21"
    assert page.published_at is None  # the page states a day, not a time


def _dated(published: str, visible: str) -> bytes:
    paragraph = "<p>" + " ".join(["The studio said the model would only draft backgrounds."] * 4)
    return (f'<html><head><meta property="article:published_time" content="{published}">'
            f"<title>Studio adopts AI drafts</title></head><body><article>"
            f"<h1>Studio adopts AI drafts</h1><time>{visible}</time>{paragraph}</p>"
            f"{paragraph} Artists will finish every frame by hand.</p></article></body></html>"
            ).encode()  # fmt: skip


def test_a_time_east_of_utc_keeps_its_instant_and_the_outlet_s_day() -> None:
    page = extract(_dated("2026-11-24T08:00:00+09:00", "2026-11-24"), min_words=1)
    assert page.published_at == datetime(2026, 11, 23, 23, 0, tzinfo=UTC)
    assert page.published_date == date(2026, 11, 24)  # the day in Tokyo, not in London


@pytest.mark.parametrize(("outlet", "language"), [("cinedigital", "es"), ("ecranlibre", "fr")])
def test_language_of_the_text(web: SampleWeb, outlet: str, language: str) -> None:
    html, url, _ = _page(web, outlet, "")
    assert extract(html, url).language == language


def test_syndicated_copy_declares_the_original_as_canonical(web: SampleWeb) -> None:
    html, url, _ = _page(web, "reelpost", "business/")
    page = extract(html, url)
    assert page.canonical_url == web.article_url(
        "techbeat", "2026/11/22/netflix-goes-all-in-on-generative-ai"
    )


def test_video_page_with_almost_no_text_is_rejected(web: SampleWeb) -> None:
    html, url, _ = _page(web, "reelpost", "tv/2026/11/video")
    with pytest.raises(ExtractionError) as error:
        extract(html, url)
    assert error.value.reason == "too-short"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3 binary", "not-html"),
        (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "not-html"),
        (
            b"<html><head><script>var a=1;</script></head>"
            b"<body><script>go()</script></body></html>",
            "no-text",
        ),
    ],
)
def test_unusable_bodies_are_rejected_with_a_reason(body: bytes, reason: str) -> None:
    with pytest.raises(ExtractionError) as error:
        extract(body, "https://outlet.example/a")
    assert error.value.reason == reason


def test_content_hash_ignores_case_punctuation_and_spacing() -> None:
    assert content_hash("Netflix goes  all-in, on AI!") == content_hash("netflix goes all in on ai")
    assert content_hash("Netflix goes all in") != content_hash("Netflix goes all out")


def test_lines_pointing_to_other_stories_are_left_out_and_quotes_kept() -> None:
    story = " ".join(["La productora usará inteligencia artificial para doblar sus series."] * 4)
    html = (f"<html lang='es'><body><article><h1>Doblaje con IA</h1><p>{story}</p>"
            "<p>Lea también: <span>Actores de doblaje piden reglas para la IA</span></p>"
            f"<p>El director dijo: «{story}»</p><p>PUEDES VER: Otra noticia del día</p>"
            f"<p>{story} Los actores recibirán una parte de los ingresos.</p>"
            "</article></body></html>").encode()  # fmt: skip
    text = extract(html, min_words=1).text
    assert "Lea también" not in text and "PUEDES VER" not in text
    assert "El director dijo:" in text and text.endswith("parte de los ingresos.")


BYLINES = {
    "the most specific tier wins over an earlier byline": (
        "<div class='byline'>Desk Staff</div><p>Intro</p><span class='author-name'>Ana Ruiz</span>"
    ),
    "names in comments, dates and figures are not the author": (
        "<div id='comments'><span class='author'>A Reader</span></div>"
        "<figure><span class='author'>Photo Agency</span></figure>"
        "<p class='byline'>By <a rel='author'>Sam Lee</a> <time>Nov 3</time></p>"
    ),
    "a date inside the byline is left out of its text": (
        "<div class='article-byline'>Kim Park <span class='date'>3 November 2026</span></div>"
    ),
    "an id or an itemprop is enough": "<section itemprop='author'>Lena Fischer</section>",
    "a name too long is no byline, a later one is": (
        "<span class='author'>" + "word " * 40 + "</span><div class='writer'>Tom Ng</div>"
    ),
    "a deleted date's tail joins the text before it": (
        "<p class='byline'>Ana<time>1</time>Ruiz</p>"
    ),
    "a child element rel saying me is tier one": (
        "<span>By <rel>me</rel></span><div class='byline'>Ana Ruiz</div>"
    ),
    "no byline at all": "<p>Nothing but text</p>",
}


@pytest.mark.parametrize("body", BYLINES.values(), ids=BYLINES.keys())
def test_the_byline_search_finds_what_trafilatura_s_finds(body: str) -> None:
    from trafilatura.metadata import extract_author

    from pipeline.stages.extract import _author, _parse

    html = f"<html><body><article><h1>Title</h1>{body}</article></body></html>"
    assert _author(_parse(html)) == extract_author(_parse(html))
    fragment = f"<div class='sidebar'><p>Intro</p>{body}</div>"  # the searched root stays
    assert _author(_parse(fragment)) == extract_author(_parse(fragment))


def test_pages_are_parsed_as_trafilatura_parses_them() -> None:
    import trafilatura
    from lxml import etree

    from pipeline.stages.extract import _parse

    declared = "<?xml version='1.0' encoding='utf-8'?><html><body><p>Café</p></body></html>"
    for page in (declared, "<html><body><p>Caf\u00e9</p></body></html>".encode("latin-1")):
        ours, theirs = _parse(page), trafilatura.load_html(page)
        assert etree.tostring(ours) == etree.tostring(theirs)
    assert _parse("just some words, no markup") is None


def test_a_bracketed_read_more_line_is_left_out() -> None:
    story = " ".join(["The studio will use generative AI to dub its series."] * 4)
    link = "<a href='/x'><strong>Voice actors ask for rules</strong></a>"
    html = (
        f"<html><body><article><h1>AI dubbing</h1><p>{story}</p>"
        f"<p>[<strong>Read more: </strong>{link}]</p>"
        f"<p>{story} Actors get a share.</p></article></body></html>"
    )
    text = extract(html.encode(), min_words=1).text
    assert "Voice actors ask" not in text and text.endswith("Actors get a share.")


def test_credit_lines_are_left_out_and_sourced_sentences_kept() -> None:
    story = " ".join(["The studio will use generative AI to dub its series."] * 4)
    html = (
        f"<html><body><article><h1>AI dubbing</h1><p>{story}</p><p>Foto: City-Press</p>"
        "<p>© 2026 Example Media. All rights reserved.</p><p>(Credit: A. Person / Agency)</p>"
        f"<p>Source: the studio said that {story}</p></article></body></html>"
    )
    text = extract(html.encode(), min_words=1).text
    assert "City-Press" not in text and "©" not in text and "Credit" not in text
    assert "Source: the studio said" in text


def test_calls_to_subscribe_are_left_out_and_sentences_about_newsletters_kept() -> None:
    story = " ".join(["The studio will use generative AI to dub its series."] * 4)
    prompts = [
        "Sign up for our newsletter.",
        "Subscribe now to our eNATION edition for the full story.",
        "Abonnieren Sie unseren Newsletter",
        "Lust auf mehr? Lass dir die besten Storys jede Woche in deinen Posteingang liefern.",
    ]
    kept = "The newsletter is published once a month by the studio's union."
    end = "Voice actors will be paid for every language their voice is cloned into. End."
    paragraphs = "".join(f"<p>{line}</p>" for line in [story, *prompts, kept, end])
    html = f"<html><body><article><h1>AI dubbing</h1>{paragraphs}</article></body></html>"
    text = extract(html.encode(), min_words=1).text
    assert not any(prompt[:12] in text for prompt in prompts)
    assert kept in text and text.endswith("End.")


def test_an_indented_related_heading_and_its_list_are_left_out() -> None:
    story = " ".join(["The studio will use generative AI to dub its series."] * 4)
    heading = "<h2>\n" + " " * 60 + "Related stories</h2>"
    links = "<ul><li><a href='/a'>Voice actors ask for rules</a></li></ul>"
    html = f"<html><body><article><h1>AI dubbing</h1><p>{story}</p>{heading}{links}"
    text = extract(
        f"{html}<p>{story} Actors get a share.</p></article></body></html>".encode()
    ).text
    assert "Related" not in text and "Voice actors" not in text


def test_a_short_line_said_three_times_is_kept_once() -> None:
    from pipeline.stages.extract import _tidy

    code = "CMD flask run app"
    text = "\n".join(["Build the image:", code, "Then again:", code, "And once more:", code])
    assert _tidy(text, None).split("\n").count(code) == 1
    assert _tidy("a\n\nb\n\nc\n\nd", None) == "a\nb\nc\nd"
