"""Train the relevance model (``config/relevance_model.json.gz``), choose its mix, veto, bar.

Training items: the tuning part of the labelled sets (``bench/data/relevance_*.jsonl``;
the held-out part is never read here) and, as off-topic news, the first ``--huffpost``
HuffPost items of the tuning part of ../shared/data/topics (by the same hash split).

Each training item is also given cut to its headline and first sentence, with the same
label (and in the same fold): articles whose lead is a sentence are read as well as those
of a paragraph. Only the items as written are scored.

The model reads the articles in which the taxonomy sees AI or the entertainment industry.
Its mix (the meaning part's share of its log-odds), its veto (below which it overrules the
taxonomy's yes) and its bar (from which it overrules the taxonomy's no) are chosen by
cross-validation on the training items in five folds of whole labelled sets, so that each
set is scored by a model that never saw its writer, as an outlet new to the model would
be (in folds of mixed items a set is scored by a model trained on its siblings, retold
stories among them, and looks better than it will do on news it has not met). Among the
choices at which no labelled set's F1 falls below the taxonomy alone's by more than
``SLIVER`` and no more off-topic news is accepted (one in ``OFFTOPIC_SLIVER`` at most),
the one closest to the precision and recall wanted over all the labelled items
(``PRECISION``, ``RECALL``: the least shortfall of the two together), then the one of the
best F1; a recall bar alone would buy its last point with several of precision. The
table of every choice is printed. Then the model is trained on all the training items and
written. It belongs to the taxonomy it was trained with: train it again after changing
``config/topics.yaml`` or the labelled sets.

Usage: ``python bench/train_relevance.py [--data DIR] [--huffpost N] [--out FILE]
[--mix M --veto V --bar B]``; with the three given, nothing is chosen: the model is trained
and written with them (what the test of the shipped model does, in a sixth of the time).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import math
import re
from collections import Counter
from pathlib import Path
from typing import Any

from common import held_out, huffpost_items, labelled_items, precision_recall

from pipeline.settings import CONFIG, THRESHOLD
from pipeline.stages.relevance import Result, Taxonomy, asks_model
from pipeline.stages.relevance_model import Example, cross_validated, mixed, train

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
MIXES = (0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 1.0)  # 0: words alone, 1: meaning alone
VETOES = (0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5)
BARS = (0.5, 0.6, 0.7, 0.9, 1.01)  # 1.01: never
# What a set may lose, for one or two items of the small ones: F1 against the taxonomy
# alone, recall to the veto (against no veto at the same bar).
SLIVER = 0.02
OFFTOPIC_SLIVER = 1000  # of the off-topic items, one more in this many may be accepted
PRECISION, RECALL = 0.97, 0.95  # wanted over all the labelled items
FOLDS = 5
_SENTENCE = re.compile(r"(.+?[.!?])(?:\s|$)", re.S)


def first_sentence(text: str) -> str:
    """The text's first sentence (the whole text, if no sentence ends in it)."""
    found = _SENTENCE.match(text)
    return found.group(1) if found else text


def f1(scores: tuple[float, float]) -> float:
    precision, recall = scores
    return 2 * precision * recall / max(1e-9, precision + recall)


def set_folds(origins: list[str], others: int) -> list[int]:
    """The fold of each labelled item (``origins``: the set each comes from), a whole set
    to a fold, the largest set first into the fold with fewest items; then the folds of
    ``others`` unlabelled items, in turn."""
    sizes = Counter(origins)
    fold_items = [0] * FOLDS
    fold_of_set = {}
    for origin in sorted(sizes, key=lambda o: (-sizes[o], o)):
        fold = min(range(FOLDS), key=lambda k: (fold_items[k], k))
        fold_of_set[origin] = fold
        fold_items[fold] += sizes[origin]
    return [fold_of_set[o] for o in origins] + [n % FOLDS for n in range(others)]


def shortened(examples: list[Example], rules: Taxonomy) -> list[Example]:
    """Each example cut to its headline and first sentence, with the taxonomy's
    findings on what is left."""
    short = []
    for e in examples:
        text = first_sentence(e.text)
        signals = rules.classify(e.title, text, e.language).evidence
        short.append(dataclasses.replace(e, text=text, signals=signals))
    return short


def choose(
    examples: list[Example],
    rules: Taxonomy,
    results: list[Result],
    labelled: list[dict[str, Any]],
    offtopic: int,
) -> tuple[float, float, float]:
    """The mix, veto and bar, by cross-validation over ``examples`` (the ``labelled``
    items, then ``offtopic`` off-topic ones; ``results`` the taxonomy's on each, ``rules``)
    and their short copies; prints the table."""
    ruled = [r.is_relevant for r in results]
    asked = [asks_model(r.ai, r.entertainment) for r in results]
    origins = sorted({i["origin"] for i in labelled})
    fold_of = set_folds([i["origin"] for i in labelled], len(examples) - len(labelled))
    short = shortened(examples, rules)
    logits = cross_validated(examples + short, fold_of + fold_of)[: len(examples)]
    truth = [i["relevant"] for i in labelled]

    def scores(accepted: list[bool]) -> tuple[dict[str, tuple[float, float]], int]:
        by_origin = {}
        for origin in origins:
            ns = [n for n, i in enumerate(labelled) if i["origin"] == origin]
            by_origin[origin] = precision_recall([accepted[n] for n in ns], [truth[n] for n in ns])
        by_origin["all"] = precision_recall(accepted[: len(labelled)], truth)
        return by_origin, sum(accepted[len(labelled) :])

    def line(name: str, by_origin: dict[str, tuple[float, float]], off: int) -> str:
        cells = "  ".join(f"{o} P {p:.3f} R {r:.3f}" for o, (p, r) in by_origin.items())
        return f"  {name:<22} {cells}  off-topic accepted {off}"

    base, base_off = scores(ruled)
    print(f"cross-validation on the training items, {FOLDS} folds of whole sets:")
    print(line("taxonomy alone", base, base_off))
    chosen, best = None, (-math.inf, -1.0)
    probabilities = {mix: [mixed(w, m, mix) for w, m in logits] for mix in MIXES}
    for mix, veto, bar in itertools.product(MIXES, VETOES, BARS):
        probability = probabilities[mix]
        accepted = [(r and p >= veto) or (a and p >= bar)
                    for r, a, p in zip(ruled, asked, probability, strict=True)]  # fmt: skip
        by_origin, off = scores(accepted)
        print(line(f"mix {mix}, veto {veto}, bar {bar}", by_origin, off))
        keeps = all(f1(by_origin[o]) >= f1(base[o]) - SLIVER for o in origins)
        keeps &= off <= base_off + offtopic // OFFTOPIC_SLIVER
        precision, recall = by_origin["all"]
        shortfall = max(0.0, PRECISION - precision) + max(0.0, RECALL - recall)
        rank = (-round(shortfall, 6), f1(by_origin["all"]))
        if keeps and rank > best:
            chosen, best = (mix, veto, bar), rank
    if chosen is None:
        raise SystemExit("the model loses on a labelled set at every veto and bar: not written")
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--huffpost", type=int, default=2000, help="off-topic items used")
    parser.add_argument("--out", type=Path, default=CONFIG / "relevance_model.json.gz")
    parser.add_argument("--mix", type=float, help="use this mix (with --veto, --bar)")
    parser.add_argument("--veto", type=float, help="use this veto (with --mix, --bar)")
    parser.add_argument("--bar", type=float, help="use this bar (with --mix, --veto)")
    args = parser.parse_args()
    given = [args.mix is not None, args.veto is not None, args.bar is not None]
    if any(given) and not all(given):
        parser.error("--mix, --veto and --bar go together")

    labelled = [i for i in labelled_items() if i["part"] == "tune"]
    offtopic = []
    if args.data.exists():
        offtopic = [r for r in huffpost_items(args.data) if not held_out(r["headline"])]
    else:
        print(f"{args.data} not found: trained without off-topic news (not the shipped model)")
    items = [(i["title"], i["text"], i["language"], i["relevant"]) for i in labelled]
    items += [(r["headline"], r["short_description"], "en", False)
              for r in offtopic[: args.huffpost]]  # fmt: skip
    print(f"training items: {len(labelled)} labelled, {len(items) - len(labelled)} "
          "off-topic (HuffPost)")  # fmt: skip

    rules = Taxonomy.load(with_model=False)
    results = [rules.classify(title, text, language) for title, text, language, _ in items]
    examples = [Example(*item, signals=r.evidence) for item, r in zip(items, results, strict=True)]
    if args.veto is None:
        offtopic_used = len(offtopic[: args.huffpost])
        mix, veto, bar = choose(examples, rules, results, labelled, offtopic_used)
    else:
        mix, veto, bar = args.mix, args.veto, args.bar
    model = train(examples + shortened(examples, rules), mix=mix)
    model.veto, model.bar = veto, bar
    model.save(args.out)
    print(f"mix {mix}, veto {veto}, bar {bar}; {len(model.weights)} word weights written to "
          f"{args.out} (its bar falls on the default threshold, {THRESHOLD})")  # fmt: skip


if __name__ == "__main__":
    main()
