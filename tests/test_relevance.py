from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.stages.relevance import Taxonomy, TaxonomyError

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return Taxonomy.load()


@pytest.mark.parametrize(
    ("title", "text", "language"),
    [
        ("Netflix goes all in on generative AI", "The streamer used AI video in a series.", "en"),
        ("SAG-AFTRA deal limits AI voice clones in video games", "Consent comes first.", "en"),
        ("Can A.I. Write a Hit Movie?", "Studios test A.I. tools on screenplays.", "en"),
        ("Los actores de doblaje contra la inteligencia artificial", "Piden una ley.", "es"),
        ("Les comédiens de doublage face à l'IA", "Ils dénoncent le clonage vocal.", "fr"),
        ("Synchronsprecher warnen vor KI", "Künstliche Intelligenz klont Stimmen.", "de"),
        ("Audiobook house moves its backlist to text-to-speech", "Narrators lose work.", "en"),
        ("Podcast host's synthesised voice reads the ads", "He never recorded them.", "en"),
        ("Un festival de cine premia un corto con voces generadas", "Sin actores.", "es"),
    ],
)
def test_ai_in_entertainment_is_relevant(
    taxonomy: Taxonomy, title: str, text: str, language: str
) -> None:
    result = taxonomy.classify(title, text, language)
    assert result.is_relevant and result.relevance >= 0.5


@pytest.mark.parametrize(
    ("trap", "language", "title", "text"),
    [
        ("AI as a name", "en", "Ai Weiwei opens show in Berlin", "The artist's film."),
        ("A.I. the film", "en", "Spielberg's A.I. Artificial Intelligence returns", "In 4K."),
        ("A.I. as initials", "en", "Allen Iverson: A.I. looks back", "The Sixers star's film."),
        ("generic algorithm", "en", "Instagram changes its algorithm", "Creators lose reach."),
        ("no AI", "en", "Taylor Swift's concert film breaks box office records", "A record."),
        ("no entertainment", "en", "Hospitals test AI to read X-rays", "It flags tumours."),
        ("show-business words", "en", "AI model is a game changer for drug discovery", "Fast."),
        ("capitals", "en", "AI STARS AT THE SHOW", "Everything in this headline shouts."),
        ("no entertainment", "es", "La IA ayuda a los médicos a leer radiografías", "Antes."),
        ("no AI", "es", "La película de Almodóvar arrasa en taquilla", "Un millón."),
        ("generic algorithm", "es", "El algoritmo de los bancos decide las hipotecas", "Opaco."),
        ("no entertainment", "fr", "L'IA aide les agriculteurs à prévoir les récoltes", "Eau."),
        ("no AI", "fr", "Le Festival de Cannes dévoile sa sélection", "Vingt-deux films."),
        ("generic algorithm", "fr", "Parcoursup : l'algorithme critiqué par les lycéens", "."),
        ("no entertainment", "de", "Autobauer setzen auf KI in der Produktion", "Am Band."),
        ("no AI", "de", "Berlinale: Goldener Bär für ein Familiendrama", "Die Jury lobt."),
        ("generic algorithm", "de", "Schufa-Algorithmus vor Gericht", "Verbraucher klagen."),
        ("a theatre of war", "en", "Navy tests AI drones in the theatre of operations", "."),
        ("an operating theatre", "en", "Surgeons try AI in the operating theatre", "Fewer errors."),
        ("threat actors", "en", "Threat actors use generative AI to write malware", "Alarm."),
        ("the Netflix of", "en", "Start-up wants to be the Netflix of AI tutoring", "Pupils."),
        ("veo, I see", "es", "«Veo el cine español con optimismo», dice la productora", "."),
    ],
)
def test_traps_are_not_relevant_in_any_language(
    taxonomy: Taxonomy, trap: str, language: str, title: str, text: str
) -> None:
    assert not taxonomy.classify(title, text, language).is_relevant, trap


def test_words_that_only_share_a_stem_with_a_term_do_not_count(taxonomy: Taxonomy) -> None:
    # "authorities", "published", "performance" and "booking" stem like "authors",
    # "publishers", "performers" and "books", but say nothing about entertainment.
    tech = taxonomy.classify(
        "Authorities publish rules for AI models",
        "The published report on AI performance likely affects booking sites and markets.",
    )
    assert tech.entertainment == 0 and not tech.is_relevant
    film = taxonomy.classify(
        "Studio uses AI to de-age its star", "It looks like the market for films will change."
    )
    assert film.is_relevant
    assert "concern/consent-likeness" not in film.topics  # "like" is not "likeness"
    assert "use/recommendation-marketing" not in film.topics  # "market" is not "marketing"


def test_title_weighs_more_than_body(taxonomy: Taxonomy) -> None:
    body = "Filler words about the company's quarterly plans. " * 10
    in_title = taxonomy.classify("AI voice clones worry film actors", body, "en")
    in_body = taxonomy.classify("Quarterly plans", body + "AI voice clones worry actors.", "en")
    assert in_title.relevance > in_body.relevance


def test_labels_from_each_group(taxonomy: Taxonomy) -> None:
    result = taxonomy.classify(
        "SAG-AFTRA wins consent rules for AI voice clones in video games",
        "Voice actors feared losing jobs to digital replicas; the law now requires consent.",
        "en",
    )
    groups = {topic.split("/")[0] for topic in result.topics}
    assert {"sector", "use", "stakeholder", "concern"} <= groups
    assert "use/dubbing-voice" in result.topics and "sector/games" in result.topics


def test_threshold_is_configurable(taxonomy: Taxonomy) -> None:
    title, text = "Studio tests AI tools", "A film studio said it tried AI on set."
    score = taxonomy.classify(title, text, "en").relevance
    assert taxonomy.classify(title, text, "en", threshold=score - 0.01).is_relevant
    assert not taxonomy.classify(title, text, "en", threshold=score + 0.01).is_relevant


def test_labelled_set_precision_and_recall(taxonomy: Taxonomy) -> None:
    lines = (ROOT / "bench/data/relevance_set.jsonl").read_text(encoding="utf-8").splitlines()
    items = [json.loads(line) for line in lines]
    assert len(items) >= 150
    predicted = [taxonomy.classify(i["title"], i["text"], i["language"]) for i in items]
    tp = sum(p.is_relevant and i["relevant"] for p, i in zip(predicted, items, strict=True))
    fp = sum(p.is_relevant and not i["relevant"] for p, i in zip(predicted, items, strict=True))
    fn = sum(i["relevant"] and not p.is_relevant for p, i in zip(predicted, items, strict=True))
    assert tp / (tp + fp) >= 0.95 and tp / (tp + fn) >= 0.90


def test_german_compounds_count_by_their_listed_parts(taxonomy: Taxonomy) -> None:
    no_model = Taxonomy.load(with_model=False)
    # "Kinoplakate" begins with "kino*", "Horrorfilms" ends with "*film".
    posters = no_model.classify(
        "Filmverleih zieht Kinoplakate zurück", "Sie waren KI-generiert.", "de"
    )
    assert posters.entertainment > 0.9
    horror = no_model.classify("Ärger um Horrorfilms", "Ein Bildgenerator schuf die Motive.", "de")
    assert horror.entertainment > 0 and horror.ai > 0
    # Too short to be a compound, and only German writes them as one word.
    assert no_model.classify("Kinos", "", "de").entertainment > 0  # listed: no compound
    assert no_model.classify("Kinoplex", "", "en").entertainment == 0
    assert no_model.classify("Filme", "", "de").entertainment > 0
    assert taxonomy.classify("Beispiel für Stromnetze", "", "de").entertainment == 0


def test_an_acronym_the_text_defines_otherwise_is_not_ai(taxonomy: Taxonomy) -> None:
    no_model = Taxonomy.load(with_model=False)
    police = no_model.classify(
        "Nach dem Konzert: KI Trier sucht Zeugen",
        "Die Kriminalinspektion (KI) Trier ermittelt wegen gestohlener Instrumente einer Band.",
        "de",
    )
    assert police.ai == 0 and not police.is_relevant
    defined = no_model.classify(
        "KI im Kino",
        "Künstliche Intelligenz (KI) schreibt jetzt Drehbücher für den Film.",
        "de",
    )
    assert defined.ai > 0.9 and defined.is_relevant


def test_the_model_reads_what_the_rules_do_not_score(taxonomy: Taxonomy) -> None:
    no_model = Taxonomy.load(with_model=False)
    ad = no_model.classify(
        "Rapper wirbt für KI-Finanzberatung einer Direktbank", "Die App spart automatisch.", "de"
    )
    plot = no_model.classify(
        "Sci-fi thriller about a rogue AI tops the film chart", "A villain takes over.", "en"
    )
    ai, entertainment, relevance, other, fiction, _, acronym_only = ad.evidence
    assert (ai, entertainment, round(relevance, 4)) == (ad.ai, ad.entertainment, ad.relevance)
    assert other > 0 and fiction == 0 and acronym_only == 1.0
    assert plot.evidence[4] > 0.9 and plot.evidence[3] == 0
    # Neither signal moves the rules' score: only the model weighs them.
    assert (
        ad.relevance
        == no_model.classify(
            "Rapper wirbt für KI-Beratung", "Die App spart automatisch.", "de"
        ).relevance
    )


def test_a_part_of_compounds_is_one_word(tmp_path: Path) -> None:
    source = (ROOT / "config/topics.yaml").read_text(encoding="utf-8")
    path = tmp_path / "topics.yaml"
    path.write_text(source.replace("- kino*\n", "- kino saal*\n").replace("model: ", "# "))
    with pytest.raises(TaxonomyError, match=r"'kino saal\*'"):
        Taxonomy.load(path)


def test_a_broken_taxonomy_is_named(tmp_path: Path) -> None:
    path = tmp_path / "topics.yaml"
    path.write_text("signals: [just, a, list]\n")
    with pytest.raises(TaxonomyError, match=r"topics\.yaml"):
        Taxonomy.load(path)


def test_classify_command(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    lines = [
        {"id": "a", "title": "Netflix uses generative AI for effects", "text": "In a series."},
        {"id": "b", "title": "Stocks rise", "text": "Markets were up."},
        {
            "id": "c",
            "title": "Los actores de doblaje contra la inteligencia artificial",
            "text": "El doblaje de películas pide una ley contra la clonación de voz.",
        },
    ]
    source.write_text(
        "\n".join(json.dumps(x) for x in lines[:2]) + "\nnot json\n" + json.dumps(lines[2]) + "\n"
    )
    out = tmp_path / "out.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "classify", "--in", str(source), "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 1  # the bad line is reported; the good ones are classified
    assert f"{source}:3: not JSON" in done.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["a", "b", "c"]
    assert set(rows[0]) == {"id", "relevance", "is_relevant", "topics"}
    assert [r["is_relevant"] for r in rows] == [True, False, True]
    assert "sector/tv-streaming" in rows[0]["topics"] and rows[1]["topics"] == []


def test_a_whole_article_that_never_names_ai_is_not_relevant(taxonomy: Taxonomy) -> None:
    """A headline and lead may be taken on meaning; an article of MIN_WORDS words or more
    must name AI by a strong or cased term."""
    title = "Studio swaps its voice actors for a voice generator"
    lead = "The dubbing house now renders every line of its games with software."
    filler = " The festival programme runs for ten days across the old town." * 12
    whole = taxonomy.classify(title, lead + filler, "en")
    assert (whole.relevance, whole.is_relevant, whole.model, whole.named_ai) == (
        0.0, False, None, False
    )  # fmt: skip
    assert taxonomy.classify(title, lead + filler, "en", threshold=0).is_relevant
    short = taxonomy.classify(title, lead, "en")
    assert short.model is not None and short.relevance > 0 and not short.named_ai
    named = taxonomy.classify(title, lead + " Its AI voices are cheaper." + filler, "en")
    assert named.named_ai and named.relevance > 0
