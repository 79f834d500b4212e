"""The raw-bytes prefilter of a backfill of every site: what it lets through to extraction."""

from __future__ import annotations

import pytest

from pipeline.stages.prefilter import Prefilter
from pipeline.stages.relevance import Taxonomy


@pytest.fixture(scope="module")
def prefilter() -> Prefilter:
    return Prefilter.from_taxonomy(Taxonomy.load(with_model=False))


def page(title: str, body: str, head: str = "") -> bytes:
    return (
        f"<!doctype html><html><head><title>{title}</title>{head}</head>"
        f"<body><nav>Home World Sport</nav><article><h1>{title}</h1><p>{body}</p></article>"
        "</body></html>"
    ).encode()


@pytest.mark.parametrize(
    "body",
    [
        "Studios weigh generative AI for background extras.",  # cased term in text
        "The studio used artificial intelligence to de-age the lead.",  # strong term
        "Voice actors fear deepfakes of their performances.",  # a term's inflection
        "Synchronsprecher warnen vor KI-Stimmen im Fernsehen.",  # cased, before a hyphen
        "Les doubleurs face à l&#39;IA générative.",  # cased, after an entity
        "Die Künstliche Intelligenz schreibt jetzt Drehbücher.",  # accents, case folded
        "KÜNSTLICHE INTELLIGENZ IM KINO",  # capitals with accents
        "Studios hire for machine&nbsp;learning and machine\u00a0learning roles.",  # spaces
    ],
)
def test_a_page_naming_ai_passes(prefilter: Prefilter, body: str) -> None:
    assert prefilter(page("News of the day", body))


def test_entertainment_in_the_title_or_description_passes(prefilter: Prefilter) -> None:
    """The model may accept on its meaning a page whose AI terms are weak or absent."""
    assert prefilter(page("Hollywood extras scanned on set", "They were asked to stand still."))
    described = '<meta property="og:description" content="A new Broadway musical opens">'
    assert prefilter(page("Opening night", "Tickets sold out.", described))
    first = """<meta content="It's Hollywood's night" name='description'>"""  # content first
    assert prefilter(page("Opening night", "Tickets sold out.", first))


@pytest.mark.parametrize(
    ("title", "body", "head"),
    [
        ("Rates rise again", "The central bank raised rates by a quarter point.", ""),
        # Entertainment words in the body alone: every news site's menu has them.
        ("Rates rise again", "See also: film, music, Hollywood, box office.", ""),
        # "AI" in a script's data or a URL token is not running text.
        ("Rates rise", "<img src='data:image/png;base64,iVBORw0KGgo/AI+x9'>", ""),
        ("Rates rise", "<a href='/tags/AIRLINES'>Airlines</a> and said it would wait.", ""),
        # Weak AI terms count in the title and description only ("robots" is a meta name).
        ("Rates rise", "Text.", '<meta name="robots" content="index"><meta name="generator">'),
    ],
)
def test_a_page_with_neither_is_left_out(
    prefilter: Prefilter, title: str, body: str, head: str
) -> None:
    assert not prefilter(page(title, body, head))


def test_a_page_in_another_encoding_is_read_byte_by_byte(prefilter: Prefilter) -> None:
    latin1 = page("Actualité", "Le doublage par intelligence artificielle").decode()
    assert prefilter(latin1.encode("latin-1"))
    assert not prefilter(b"\xff\xfe\x00binary\x00" * 100)
