from __future__ import annotations

from pathlib import Path

import pytest
from protego import Protego

from pipeline.stages.enrich import (
    AI_CRAWLERS,
    Enricher,
    EntitiesError,
    Gazetteer,
    find_entities,
    page_rights,
)
from pipeline.stages.relevance import Taxonomy, TaxonomyError


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    return Gazetteer.load()


def names(gazetteer: Gazetteer, title: str, text: str = "") -> list[tuple[str, str]]:
    return [(e["name"], e["kind"]) for e in find_entities(gazetteer, title, text)]


def test_gazetteer_names_are_written_one_way(gazetteer: Gazetteer) -> None:
    found = names(
        gazetteer,
        "WGA and SAG AFTRA warn Warner Bros Discovery over Sora",
        "The Writers Guild said studios must bargain. Private equity firms were not named.",
    )
    assert found == [
        ("Writers Guild of America", "organisation"),
        ("SAG-AFTRA", "organisation"),
        ("Warner Bros. Discovery", "organisation"),
        ("Sora", "product"),
    ]  # one entry per entity, and "equity" in lower case is not the actors' union


def test_patterns_find_people_organisations_and_works(gazetteer: Gazetteer) -> None:
    text = (
        'Actor Jane O\'Brien said the studio never asked. "We were never told," said Marco '
        "Ruiz, a dubbing artist. Northlight Studios declined to comment. Its film “Quiet "
        "Hours” used a digital double; “Blue Meridian” director Ana Costa-Lima objected, and "
        "author J. K. Rowling stayed silent. Regisseurin Anna Berg sagte, das sei falsch. "
        "The studio's 'ordinary words' in quotes are no title."
    )
    found = names(gazetteer, "", text)
    assert found == [
        ("Jane O'Brien", "person"),
        ("Marco Ruiz", "person"),
        ("Northlight Studios", "organisation"),
        ("Quiet Hours", "work"),
        ("Blue Meridian", "work"),
        ("Ana Costa-Lima", "person"),
        ("J. K. Rowling", "person"),
        ("Anna Berg", "person"),
    ]


def test_a_title_case_headline_is_read_by_the_gazetteer_only(gazetteer: Gazetteer) -> None:
    found = names(gazetteer, "Actor Tom Hanks Warns Fans About Fake Netflix Ads Using His Voice")
    assert found == [("Tom Hanks", "person"), ("Netflix", "organisation")]


def test_a_broken_gazetteer_is_named_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "entities.yaml"
    path.write_text("organisation:\n  Netflix: []\n  Netflix Inc: [Netflix]\n")
    with pytest.raises(EntitiesError, match=r"entities\.yaml:3: 'Netflix' already names"):
        Gazetteer.load(path)
    path.write_text("organisation:\n  Netflix: []\ncompany:\n  Disney: []\n")
    with pytest.raises(EntitiesError, match=r"entities\.yaml:3: .*unknown key 'company'"):
        Gazetteer.load(path)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("signals: [a, b]\n", 1, "signals must be a mapping"),
        ("signals:\n  ai:\n    stong: [ai]\n", 3, "unknown key 'stong'"),
        ("signals:\n  ai:\n    strong: [ai, 3]\n  entertainment: {}\n", 3, None),
        ("signals:\n  ai:\n    strong:\n      - {a: b}\n", 4, "non-empty string"),
        ("signals:\n  ai: {}\n", 2, "'entertainment' is missing"),
        (
            "signals:\n  ai: {}\n  entertainment: {}\nlabels:\n  sector:\n    film: film\n",
            6,
            "labels.sector.film must be a list",
        ),
        ("signals:\n  ai: [unclosed\n", 3, "not valid YAML"),
        ("labels: {}\n", 1, "no 'signals'"),
    ],
)
def test_a_malformed_taxonomy_is_named_with_its_line(
    tmp_path: Path, text: str, line: int, message: str | None
) -> None:
    path = tmp_path / "topics.yaml"
    path.write_text(text)
    if message is None:  # a number is a fine term: YAML reads it as text here
        Taxonomy.load(path)
        return
    with pytest.raises(TaxonomyError, match=rf"topics\.yaml:{line}: .*{message}"):
        Taxonomy.load(path)


def test_enricher_names_entities_of_relevant_articles_only(gazetteer: Gazetteer) -> None:
    enricher = Enricher(Taxonomy.load(), gazetteer, 0.5)
    relevant = enricher("Netflix uses generative AI to de-age its stars", "A series.", "en")
    assert relevant.relevance.is_relevant
    assert ("Netflix", "organisation") in {(e["name"], e["kind"]) for e in relevant.entities}
    other = enricher("Netflix raises prices", "Subscribers pay more from Monday.", "en")
    assert not other.relevance.is_relevant and other.entities == []


ROBOTS = Protego.parse(
    "User-agent: GPTBot\nDisallow: /\n\nUser-agent: CCBot\nDisallow: /news/\n\n"
    "User-agent: *\nDisallow: /admin/\n"
)
URL = "https://outlet.example/news/2026/ai-dubbing"


def test_robots_rules_for_ai_crawlers_apply_to_the_articles_path() -> None:
    rights = page_rights(URL, [], b"<html></html>", ROBOTS, b"")
    assert rights["ai_crawlers_disallowed"] == ["GPTBot", "CCBot"]
    other_path = page_rights("https://outlet.example/about", [], b"", ROBOTS, b"")
    assert other_path["ai_crawlers_disallowed"] == ["GPTBot"]
    unknown = page_rights(URL, [], b"", None, None)  # robots.txt could not be read
    assert unknown["ai_crawlers_disallowed"] is None
    assert "Google-Extended" in AI_CRAWLERS


def test_tdm_reservation_from_tdmrep_header_or_meta_in_that_order() -> None:
    meta = (
        b'<html><head><meta content="1" name="TDM-Reservation">'
        b"<meta name='tdm-policy' content='https://outlet.example/meta-policy'>"
        b'<meta name="robots" content="index, noai"></head><body>'
        b'<meta name="tdm-reservation" content="0"></body></html>'  # not in the head
    )
    headers = [("tdm-reservation", "0"), ("Content-Type", "text/html")]
    tdmrep = (
        b'[{"location": "/video/*", "tdm-reservation": 0},'
        b' {"location": "/news/*", "tdm-reservation": 1, "tdm-policy": "https://o.example/p"}]'
    )

    by_meta = page_rights(URL, [], meta, ROBOTS, b"")
    assert by_meta["tdm_reserved"] is True and by_meta["tdm_source"] == "meta"
    assert by_meta["tdm_policy"] == "https://outlet.example/meta-policy"
    assert by_meta["noai"] is True

    by_header = page_rights(URL, headers, meta, ROBOTS, b"")
    assert (by_header["tdm_reserved"], by_header["tdm_source"]) == (False, "header")
    assert by_header["tdm_policy"] is None

    by_file = page_rights(URL, headers, meta, ROBOTS, tdmrep)
    assert (by_file["tdm_reserved"], by_file["tdm_source"]) == (True, "tdmrep")
    assert by_file["tdm_policy"] == "https://o.example/p"

    no_rule = page_rights("https://outlet.example/shop/x", [], b"", ROBOTS, tdmrep)
    assert no_rule["tdm_source"] is None and no_rule["tdm_reserved"] is None


def test_malformed_declarations_are_read_as_unset() -> None:
    broken = page_rights(URL, [("tdm-reservation", "yes")], b"", ROBOTS, b"{not json")
    assert broken["tdm_reserved"] is None and broken["tdm_source"] is None
    tagged = page_rights(URL, [("X-Robots-Tag", "noai, noimageai")], b"", ROBOTS, b"")
    assert tagged["noai"] is True
