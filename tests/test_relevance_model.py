from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.stages.relevance import Taxonomy, TaxonomyError
from pipeline.stages.relevance_model import (
    Example,
    ModelError,
    RelevanceModel,
    embed,
    features,
    passage,
    train,
)

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"

# Music and games news: the relevant items say what was made by machine without naming AI.
RELEVANT = [
    ("Label sues song generator trained on its catalogue", "The app copies its stars."),
    ("Song generator app lets fans clone a singer", "The label calls it theft."),
    ("RPG adds voice lines no actor recorded", "The studio used a voice generator."),
    ("Game studio replaces voice actors with a voice generator", "Actors object."),
    ("Cloned vocals flood the music charts", "Labels ask platforms to act."),
    ("Voice generator reads every line of the new RPG", "No actor was hired."),
]
OFF_TOPIC = [
    ("Label signs young singer after festival set", "Her debut album is due in May."),
    ("RPG sequel delayed to next spring", "The studio wants more time for testing."),
    ("Singer announces world tour", "Tickets go on sale on Friday."),
    ("Game studio opens office in Lisbon", "It will hire 80 developers."),
    ("Music charts: a ballad tops the list", "Streams rose by a fifth."),
    ("Voice actors celebrate union anniversary", "The guild was founded in 1937."),
]


def examples() -> list[Example]:
    return [Example(t, x, "en", True) for t, x in RELEVANT] + [
        Example(t, x, "en", False) for t, x in OFF_TOPIC
    ]


def test_the_model_learns_what_the_labels_say_and_again_the_same() -> None:
    model = train(examples(), epochs=40)
    unseen_relevant = model.probability(
        "Studio's new RPG uses a voice generator instead of actors", "Fans noticed.", "en"
    )
    unseen_off_topic = model.probability(
        "Singer's world tour opens in Lisbon", "Tickets sold out on Friday.", "en"
    )
    assert unseen_relevant > 0.7 > 0.3 > unseen_off_topic
    assert train(examples(), epochs=40).weights == model.weights  # reproducible


def test_the_meaning_part_carries_what_it_learned_to_other_words_and_languages() -> None:
    # Trained on the English items only; these share none of their words.
    spanish = (
        (
            "Un estudio sustituye a los actores de doblaje por voces sintéticas",
            "Los fans lo notaron.",
        ),
        ("La cantante anuncia una gira mundial", "Las entradas salen el viernes."),
    )
    german = (
        (
            "Ein Spielestudio lässt die Figuren von einer künstlichen Stimme sprechen",
            "Sprecher protestieren.",
        ),
        ("Neues Rollenspiel erscheint im Frühjahr", "Der Termin verschiebt sich."),
    )
    words_alone = train(examples(), epochs=40)
    meaning = train(examples(), epochs=40, mix=1.0, meaning_epochs=600)
    for language, (relevant, off_topic) in (("es", spanish), ("de", german)):
        assert meaning.probability(*relevant, language) > 0.7
        assert meaning.probability(*off_topic, language) < 0.1
    # The words part knows no word of the German pair: the same probability for both.
    assert words_alone.probability(*german[0], "de") == words_alone.probability(*german[1], "de")


def test_features_mark_the_headline_and_read_only_the_lead() -> None:
    as_title = set(features("voice generator", None, "en"))
    as_text = set(features(None, "voice generator", "en"))
    assert as_text < as_title  # the headline's words, and the same words marked as its own
    lead = " ".join(["filler"] * 60)
    assert features(None, lead + " voice", "en") == features(None, lead, "en")
    # The taxonomy's signals add the levels they reach: higher reaches more.
    weak = set(features("x", None, "en", (0.2, 0.2, 0.0)))
    strong = set(features("x", None, "en", (0.95, 0.95, 0.95)))
    assert set(features("x", None, "en")) < weak < strong


def test_a_model_file_round_trips_and_a_bad_one_is_named(tmp_path: Path) -> None:
    model = train(examples(), epochs=5, mix=0.5)
    model.bar, model.veto = 0.6, 0.05
    path = tmp_path / "model.json.gz"
    model.save(path)
    again = RelevanceModel.load(path)
    assert (again.bar, again.veto, again.mix) == (0.6, 0.05, 0.5)
    for title, text in RELEVANT[:2] + OFF_TOPIC[:2]:
        probability = model.probability(title, text, "en")
        assert abs(again.probability(title, text, "en") - probability) < 1e-3
    # Each part's log-odds, not only their saturated mix: five decimals are kept.
    vectors = embed([passage(t, x.split()) for t, x in RELEVANT[:2] + OFF_TOPIC[:2]])
    assert np.allclose(again.meaning.logits(vectors), model.meaning.logits(vectors), atol=1e-3)
    assert again.meaning.bias == pytest.approx(model.meaning.bias, abs=1e-6)
    bad = tmp_path / "bad.json.gz"
    document = json.loads(gzip.decompress(path.read_bytes()))
    meaning, out = document["meaning"], document["meaning"]["out"]
    huge = [1e9] * len(out)
    for damaged in (
        b"not gzip",
        path.read_bytes()[:-20],  # cut short
        gzip.compress(json.dumps({**document, "bias": None}).encode()),
        gzip.compress(json.dumps({k: v for k, v in document.items() if k != "veto"}).encode()),
        gzip.compress(json.dumps({**document, "veto": 0.9}).encode()),  # above the bar
        gzip.compress(json.dumps({**document, "mix": 1.5}).encode()),
        gzip.compress(json.dumps({**document, "meaning": None}).encode()),
        gzip.compress(json.dumps({**document, "meaning": {**meaning, "out": out[:-1]}}).encode()),
        gzip.compress(json.dumps({**document, "meaning": {**meaning, "bias": "NaN"}}).encode()),
        gzip.compress(json.dumps({**document, "meaning": {**meaning, "hidden": 1}}).encode()),
        gzip.compress(json.dumps({**document, "meaning": {**meaning, "out": huge}}).encode()),
        gzip.compress(json.dumps({**document, "meaning": {"out": out}}).encode()),  # parts missing
        gzip.compress(json.dumps({**document, "weights": [[7, "inf"]]}).encode()),
    ):
        bad.write_bytes(damaged)
        with pytest.raises(ModelError, match=r"bad\.json\.gz: "):
            RelevanceModel.load(bad)


def taxonomy_with_model(tmp_path: Path, model_line: str) -> Path:
    shipped = (ROOT / "config" / "topics.yaml").read_text(encoding="utf-8")
    lines = [line for line in shipped.splitlines() if not line.startswith("model:")]
    path = tmp_path / "topics.yaml"
    path.write_text(model_line + "\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_the_model_passes_what_the_taxonomy_misses_where_it_sees_ai_or_entertainment(
    tmp_path: Path,
) -> None:
    model = train(examples(), epochs=40)
    model.save(tmp_path / "music.json.gz")
    with_model = Taxonomy.load(taxonomy_with_model(tmp_path, "model: music.json.gz"))
    alone = Taxonomy.load(taxonomy_with_model(tmp_path, ""))
    title, text = "Studio swaps actors for a voice generator in its RPG", "Fans noticed."
    assert not alone.classify(title, text, "en").is_relevant
    result = with_model.classify(title, text, "en")
    assert result.is_relevant and result.model is not None and result.model >= model.bar
    assert result.relevance == round(model.on_scale(result.model), 4)
    # A word of AI is enough to ask it; without a word of either it is not asked.
    assert with_model.classify("AI answers the bank's phone", "", "en").model is not None
    elsewhere = with_model.classify("Bank opens a branch in Lisbon", "It hires tellers.", "en")
    assert elsewhere.model is None and not elsewhere.is_relevant


def test_below_its_veto_the_model_overrules_the_taxonomys_yes(tmp_path: Path) -> None:
    # A trap the taxonomy falls for: "AI" as a singer's name beside entertainment words.
    singer = [
        ("Singer AI tops the charts with her new ballad", "Her tour starts in May."),
        ("Fans queue for AI's concert in Osaka", "The singer plays three nights."),
        ("AI wins best female vocalist at the music awards", "The singer thanked fans."),
    ]
    trained = examples() + [Example(t, x, "en", False) for t, x in singer]
    model = train(trained, epochs=40)
    model.veto = 0.2
    model.save(tmp_path / "singer.json.gz")
    with_model = Taxonomy.load(taxonomy_with_model(tmp_path, "model: singer.json.gz"))
    alone = Taxonomy.load(taxonomy_with_model(tmp_path, ""))
    title, text = "Singer AI announces a ballad album and tour", "The singer plays Osaka first."
    assert alone.classify(title, text, "en").is_relevant
    result = with_model.classify(title, text, "en")
    assert result.model is not None and result.model < model.veto
    assert not result.is_relevant and result.relevance == round(model.on_scale(result.model), 4)
    # What was vetoed keeps its score whatever the threshold it is judged by.
    for threshold in (0.3, 0.7):
        assert with_model.classify(title, text, "en", threshold).relevance == result.relevance


def test_a_missing_model_file_is_named_with_the_taxonomy_line(tmp_path: Path) -> None:
    path = taxonomy_with_model(tmp_path, "model: nowhere.json.gz")
    with pytest.raises(TaxonomyError, match=r"topics.yaml:1: .*nowhere.json.gz"):
        Taxonomy.load(path)


def test_the_shipped_taxonomy_has_its_model() -> None:
    model = Taxonomy.load().model
    assert model is not None and 0 <= model.veto <= model.bar and len(model.weights) > 1000
    assert Taxonomy.load(with_model=False).model is None


@pytest.mark.skipif(not SHARED.exists(), reason="../shared/data is not beside the checkout")
def test_the_shipped_model_is_what_the_training_script_writes(tmp_path: Path) -> None:
    # Its weights: the script trains them anew at the shipped mix, veto and bar (choosing
    # them, by cross-validation, would take six times as long; the script prints it).
    shipped = ROOT / "config" / "relevance_model.json.gz"
    model = RelevanceModel.load(shipped)
    out = tmp_path / "model.json.gz"
    script = [sys.executable, str(ROOT / "bench" / "train_relevance.py"), "--out", str(out)]
    chosen = ["--mix", str(model.mix), "--veto", str(model.veto), "--bar", str(model.bar)]
    subprocess.run([*script, *chosen], check=True, capture_output=True, cwd=ROOT)
    document = json.loads(gzip.decompress(shipped.read_bytes()))
    again = json.loads(gzip.decompress(out.read_bytes()))
    # The meaning part comes of float arithmetic in numpy, whose last bits differ between
    # processors: equal to their fifth decimal but for rounding.
    meaning, meaning_again = document.pop("meaning"), again.pop("meaning")
    assert again == document
    for name, weights in meaning.items():
        assert np.allclose(weights, meaning_again[name], rtol=0, atol=2e-5), name
