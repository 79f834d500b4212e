"""The raw-bytes prefilter of a backfill of every site: what it lets through to extraction."""

from __future__ import annotations

import pytest

from pipeline.stages.extract import extract
from pipeline.stages.prefilter import Prefilter
from pipeline.stages.relevance import Taxonomy

FILLER = " ".join(["The festival programme runs for ten days across the old town."] * 12)


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return Taxonomy.load(with_model=False)


@pytest.fixture(scope="module")
def prefilter(taxonomy: Taxonomy) -> Prefilter:
    return Prefilter.from_taxonomy(taxonomy)


def page(title: str, body: str, head: str = "", lang: str = "en") -> bytes:
    return (
        f"<!doctype html><html lang='{lang}'><head><title>{title}</title>{head}</head>"
        f"<body><article><h1>{title}</h1><p>{body}</p><p>{FILLER}</p></article>"
        "</body></html>"
    ).encode()


@pytest.mark.parametrize(
    "body",
    [
        "Studios weigh generative AI for background extras.",  # cased term in text
        "The studio used artificial intelligence to de-age the lead.",  # strong term
        "Voice actors fear deepfakes of their performances.",  # an inflection
        "Studios hire for machines learning to cut trailers.",  # both words inflected
        "Synchronsprecher warnen vor KI-Stimmen im Fernsehen.",  # cased, before a hyphen
        "Les doubleurs face à l&#39;IA générative.",  # cased, after an entity
        "Die Künstliche Intelligenz schreibt jetzt Drehbücher.",  # accents, case folded
        "Ein Film über künstlicher Intelligenz.",  # an inflected first word
        "KÜNSTLICHE INTELLIGENZ IM KINO",  # capitals with accents
        "Studios hire for machine&nbsp;learning and machine\u00a0learning roles.",  # spaces
        "Studios hire for <b>machine</b>\n<i>learning</i> roles.",  # tags between the words
        "Das Studio kaufte einen Bildgenerator.",  # a compound of a listed word
    ],
)
def test_a_page_naming_ai_passes(prefilter: Prefilter, body: str) -> None:
    assert prefilter(page("News of the day", body))


def test_the_title_meta_tags_and_data_scripts_are_read(prefilter: Prefilter) -> None:
    """Extraction takes the title from meta tags and may take the body from JSON-LD."""
    titled = '<meta property="og:title" content="Hollywood weighs AI extras">'
    assert prefilter(page("Opening night", "Tickets sold out.", titled))
    stated = '<script type="application/ld+json">{"articleBody": "A deepfake"}</script>'
    assert prefilter(page("Opening night", "Tickets sold out.", stated))


@pytest.mark.parametrize(
    ("body", "head"),
    [
        ("The central bank raised rates by a quarter point.", ""),
        # Weak AI terms and entertainment terms do not name AI in a whole article.
        ("Robots and algorithms at the film festival, Hollywood and box office.", ""),
        # "AI" in a script, a style, a comment, an attribute or a URL is not read.
        ("Rates rise.", "<script>var AI = 'artificial intelligence';</script>"),
        ("Rates rise.", "<style>.AI { color: red }</style><!-- machine learning -->"),
        ("Rates rise <img src='/AI.png' alt='deepfake'>.", ""),
        ("<a href='/tags/AIRLINES'>Airlines</a> said it would wait.", ""),
        # Look-alikes: a longer word that starts like a term, a term's name in capitals.
        ("The air was thick; aims were high; the chatbotanist smiled.", ""),
        ("Sunday at the Sunset stage; open air cinema.", ""),
    ],
)
def test_a_page_not_naming_ai_is_left_out(prefilter: Prefilter, body: str, head: str) -> None:
    assert not prefilter(page("Rates rise again", body, head))


def test_a_word_is_stemmed_in_the_page_s_declared_language(prefilter: Prefilter) -> None:
    """ "Suno" and "sun" share a stem in Spanish only; "OpenAI" and "open" in French."""
    assert not prefilter(page("Playa", "The sun was out at the open.", lang="en"))
    assert prefilter(page("Playa", "Bajo el sun de la tarde.", lang="es"))
    assert prefilter(page("Tennis", "Un open de tennis.", lang="fr"))


def test_a_page_in_another_encoding_is_read_byte_by_byte(prefilter: Prefilter) -> None:
    latin1 = page("Actualité", "Le doublage par intelligence artificielle").decode()
    assert prefilter(latin1.encode("latin-1"))
    assert not prefilter(b"\xff\xfe\x00binary\x00" * 100)


@pytest.mark.parametrize(
    "body",
    [
        "The studio used artificial intelligence to de-age the lead actor in the film.",
        "Actors fear the new AI tools the studios want for dubbing their films.",
        "Robots and algorithms: the film festival shows software art and Hollywood dreams.",
        "Das Studio setzt künstlicher Intelligenz beim Synchronisieren der Filme ein.",
    ],
)
def test_the_prefilter_passes_what_the_decision_could_accept(
    prefilter: Prefilter, taxonomy: Taxonomy, body: str
) -> None:
    """A whole article names AI by a strong or cased term, or the decision rejects it; the
    prefilter passes every page whose extracted text does."""
    raw = page("News of the day", body, lang="de" if "Studio setzt" in body else "en")
    extracted = extract(raw)
    result = taxonomy.classify(extracted.title, extracted.text, extracted.language)
    if result.named_ai:
        assert prefilter(raw)
    else:
        assert result.relevance == 0 and not result.is_relevant


def test_an_element_never_closed_keeps_the_rest_of_the_page(prefilter: Prefilter) -> None:
    """A script, comment or tag left open is read as text (erring towards passing), each
    looked at once: a page of thousands of them takes no longer than its length."""
    assert prefilter(page("Rates", "<script>var x = 1; artificial intelligence"))
    assert prefilter(page("Rates", "<!-- a deepfake"))
    opened = "<a " * 20_000 + "<script " * 20_000 + "<!--" * 20_000
    assert prefilter(page("Rates", opened + " machine learning"))
    assert not prefilter(page("Rates", opened))
