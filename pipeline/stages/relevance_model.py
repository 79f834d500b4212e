"""A second reader for relevance: a logistic model over the words of the headline and lead.

The taxonomy (:mod:`pipeline.stages.relevance`) accepts an article that names AI and the
entertainment industry. Coverage that never says "AI" ("a song generator trained on their
catalogues", "voice lines no actor recorded") passes it by; the model, trained on labelled
headline-and-lead items, catches part of it. The two are combined as "either accepts":
the model speaks only above its ``bar``, which is chosen on the training items so that no
labelled set loses precision against the taxonomy alone.

Features: the folded, stemmed words of the headline and of the first ``LEAD_WORDS`` words
of the text, single and in pairs, headline words also marked as such, hashed into
``BUCKETS`` buckets. The model file is gzip JSON with the nonzero weights only.
"""

from __future__ import annotations

import gzip
import json
import math
import random
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.stages.text import fold, stemmer, words

MODEL_VERSION = 1
BUCKETS = 1 << 20
LEAD_WORDS = 60  # the labelled items are a headline and a lead: read articles the same way


class ModelError(ValueError):
    pass


def features(title: str | None, text: str | None, language: str | None) -> list[int]:
    """The hashed features of an article, each once, in a stable order."""
    stem = stemmer((language or "en").split("-")[0].lower()).stemWords
    found: dict[int, None] = {}
    for seeds, written in (((0, 1), words(title or "")), ((0,), words(text or "")[:LEAD_WORDS])):
        encoded = [s.encode("utf-8") for s in stem([fold(w) for w in written])]
        for seed in seeds:  # a headline's words count twice: as words, and as its words
            singles = [zlib.crc32(e, seed) for e in encoded]
            # CRC-32 continues: the pair's hash is that of "first second", made cheaply.
            pairs = [zlib.crc32(b" " + e, h) for h, e in zip(singles, encoded[1:], strict=False)]
            found.update(dict.fromkeys(h % BUCKETS for h in singles + pairs))
    return list(found)


@dataclass
class RelevanceModel:
    bias: float = 0.0
    bar: float = 0.7  # the probability from which the model accepts an article
    weights: dict[int, float] = field(default_factory=dict)

    def probability(self, title: str | None, text: str | None, language: str | None) -> float:
        z = self.bias + sum(self.weights.get(f, 0.0) for f in features(title, text, language))
        return 1 / (1 + math.exp(-max(-50.0, min(50.0, z))))

    def on_scale(self, probability: float, threshold: float) -> float:
        """The probability on the taxonomy's relevance scale: ``bar`` falls on
        ``threshold``, so that the article passes either way or neither."""
        if probability >= self.bar:
            return threshold + (1 - threshold) * (probability - self.bar) / (1 - self.bar)
        return threshold * probability / self.bar

    # -- files ------------------------------------------------------------------------

    def save(self, path: Path | str) -> None:
        document = {
            "version": MODEL_VERSION,
            "buckets": BUCKETS,
            "lead_words": LEAD_WORDS,
            "bar": self.bar,
            "bias": round(self.bias, 6),
            "weights": [[i, round(w, 5)] for i, w in sorted(self.weights.items()) if round(w, 5)],
        }
        data = json.dumps(document, separators=(",", ":")).encode("utf-8")
        Path(path).write_bytes(gzip.compress(data, 9, mtime=0))

    @classmethod
    def load(cls, path: Path | str) -> RelevanceModel:
        try:
            document = json.loads(gzip.decompress(Path(path).read_bytes()))
        except (OSError, ValueError) as exc:
            raise ModelError(f"{path}: unreadable relevance model: {exc}") from None
        if not isinstance(document, dict) or document.get("version") != MODEL_VERSION:
            raise ModelError(f"{path}: not a relevance model of version {MODEL_VERSION}")
        if document.get("buckets") != BUCKETS or document.get("lead_words") != LEAD_WORDS:
            raise ModelError(f"{path}: made with other features; train it again")
        return cls(
            bias=float(document["bias"]),
            bar=float(document["bar"]),
            weights={int(i): float(w) for i, w in document["weights"]},
        )


@dataclass(frozen=True)
class Example:
    title: str
    text: str
    language: str
    relevant: bool


def train(
    examples: Sequence[Example],
    epochs: int = 60,
    rate: float = 0.5,
    l2: float = 1e-3,
    seed: int = 0,
) -> RelevanceModel:
    """Logistic regression by stochastic gradient descent, the same model for the same
    examples (a seeded shuffle each epoch; L2 on the weights an example touches)."""
    encoded = [(features(e.title, e.text, e.language), 1.0 if e.relevant else 0.0)
               for e in examples]  # fmt: skip
    weights: dict[int, float] = {}
    bias = 0.0
    rng = random.Random(seed)  # noqa: S311 - a reproducible order, not a secret
    order = list(range(len(encoded)))
    for _ in range(epochs):
        rng.shuffle(order)
        for n in order:
            found, label = encoded[n]
            z = bias + sum(weights.get(f, 0.0) for f in found)
            gradient = 1 / (1 + math.exp(-max(-50.0, min(50.0, z)))) - label
            for f in found:
                w = weights.get(f, 0.0)
                weights[f] = w - rate * (gradient + l2 * w)
            bias -= rate * gradient
    return RelevanceModel(bias=bias, weights=weights)


def cross_validated(examples: Sequence[Example], folds: int = 5, **options: float) -> list[float]:
    """The probability each example gets from a model trained on the other folds."""
    out = [0.0] * len(examples)
    for k in range(folds):
        held = range(k, len(examples), folds)
        rest = [e for n, e in enumerate(examples) if n % folds != k]
        model = train(rest, **options)  # type: ignore[arg-type]
        for n in held:
            e = examples[n]
            out[n] = model.probability(e.title, e.text, e.language)
    return out


def precision_recall(accepted: Iterable[bool], relevant: Iterable[bool]) -> tuple[float, float]:
    tp = fp = fn = 0
    for a, r in zip(accepted, relevant, strict=True):
        tp += a and r
        fp += a and not r
        fn += r and not a
    return tp / max(1, tp + fp), tp / max(1, tp + fn)
