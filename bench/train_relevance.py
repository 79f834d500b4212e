"""Train the relevance model (``config/relevance_model.json.gz``) and choose its bar.

Training items: the tuning part of the labelled sets (``bench/data/relevance_*.jsonl``;
the held-out part is never read here) and, as off-topic news, the first ``--huffpost``
HuffPost items of the tuning part of ../shared/data/topics (by the same hash split).

The bar, the probability from which the model accepts an article that the taxonomy
rejects (where the taxonomy sees the entertainment industry), is chosen by five-fold
cross-validation on the training items: among the bars at which no labelled set (own,
adversarial) loses precision against the taxonomy alone and no more off-topic news is
accepted, the one of the best F1. The table of every bar is printed. Then the model is
trained on all the training items and written.

Usage: ``python bench/train_relevance.py [--data DIR] [--huffpost N] [--out FILE]``.
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

from common import held_out, huffpost_items, labelled_items

from pipeline.settings import CONFIG, THRESHOLD
from pipeline.stages.relevance import Taxonomy
from pipeline.stages.relevance_model import Example, cross_validated, precision_recall, train

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
BARS = (0.5, 0.6, 0.7, 0.8, 0.9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--huffpost", type=int, default=2000, help="off-topic items used")
    parser.add_argument("--out", type=Path, default=CONFIG / "relevance_model.json.gz")
    args = parser.parse_args()

    labelled = [i for i in labelled_items() if i["part"] == "tune"]
    offtopic = [r for r in huffpost_items(args.data) if not held_out(r["headline"])]
    examples = [Example(i["title"], i["text"], i["language"], i["relevant"]) for i in labelled]
    examples += [Example(r["headline"], r["short_description"], "en", False)
                 for r in offtopic[: args.huffpost]]  # fmt: skip
    print(f"training items: {len(labelled)} labelled, {len(examples) - len(labelled)} "
          "off-topic (HuffPost)")  # fmt: skip

    rules = copy.copy(Taxonomy.load())
    rules.model = None
    results = [rules.classify(e.title, e.text, e.language) for e in examples]
    ruled = [r.is_relevant for r in results]
    asked = [r.entertainment > 0 for r in results]  # where the taxonomy lets the model speak
    probability = cross_validated(examples)
    origins = sorted({i["origin"] for i in labelled})

    def scores(accepted: list[bool]) -> tuple[dict[str, tuple[float, float]], int]:
        by_origin = {}
        for origin in origins:
            ns = [n for n, i in enumerate(labelled) if i["origin"] == origin]
            by_origin[origin] = precision_recall(
                [accepted[n] for n in ns], [labelled[n]["relevant"] for n in ns]
            )
        pooled = precision_recall(accepted[: len(labelled)], [i["relevant"] for i in labelled])
        by_origin["all"] = pooled
        return by_origin, sum(accepted[len(labelled) :])

    def line(name: str, by_origin: dict[str, tuple[float, float]], offtopic: int) -> str:
        cells = "  ".join(f"{o} P {p:.3f} R {r:.3f}" for o, (p, r) in by_origin.items())
        return f"  {name:<22} {cells}  off-topic accepted {offtopic}"

    base, base_off = scores(ruled)
    print("five-fold cross-validation on the training items:")
    print(line("taxonomy alone", base, base_off))
    chosen, best = None, -1.0
    for bar in BARS:
        accepted = [
            r or (a and p >= bar) for r, a, p in zip(ruled, asked, probability, strict=True)
        ]
        by_origin, off = scores(accepted)
        print(line(f"taxonomy or model {bar}", by_origin, off))
        keeps = all(by_origin[o][0] >= base[o][0] for o in origins) and off <= base_off
        p, r = by_origin["all"]
        f1 = 2 * p * r / max(1e-9, p + r)
        if keeps and f1 > best:
            chosen, best = bar, f1
    if chosen is None:
        raise SystemExit("no bar keeps every set's precision: the model is not written")
    model = train(examples)
    model.bar = chosen
    model.save(args.out)
    print(f"bar {chosen}; {len(model.weights)} weights written to {args.out} "
          f"(relevance threshold {THRESHOLD}: the bar falls on it)")  # fmt: skip


if __name__ == "__main__":
    main()
