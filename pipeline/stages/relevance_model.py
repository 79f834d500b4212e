"""A second reader for relevance: a logistic model over the words of the headline and lead.

The taxonomy (:mod:`pipeline.stages.relevance`) accepts an article that names AI and the
entertainment industry. It is fooled by a word in the wrong sense ("AI" the singer, a film
about a rogue AI, AI cameras in a casino) and passes by coverage that never says "AI"
("voice lines no actor recorded"). The model, trained on labelled headline-and-lead items
with the taxonomy's findings among its features, reads the articles in which the taxonomy
sees the entertainment industry: below ``veto`` it overrules the taxonomy's yes, from
``bar`` up it accepts what the taxonomy rejects. Both are chosen on the training items
(``bench/train_relevance.py``): the nearest to the precision and recall wanted, no
labelled set losing against the taxonomy alone.

Features: the folded, stemmed words of the headline and of the first ``LEAD_WORDS`` words
of the text, single and in pairs, headline words also marked as such, and the levels the
taxonomy's findings reach (its signals, also those it does not score, and its score),
hashed into ``BUCKETS`` buckets. The model file is gzip JSON with the nonzero weights
only; it belongs to the taxonomy it was trained with.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import random
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.settings import THRESHOLD
from pipeline.stages.text import fold, stemmer, words

MODEL_VERSION = 3
BUCKETS = 1 << 20
LEAD_WORDS = 60  # the labelled items are a headline and a lead: read articles the same way


class ModelError(ValueError):
    pass


# The taxonomy's findings (``Result.evidence``: signal strengths, its relevance) as
# features: which levels each reaches, so that the model learns how far to trust them.
_LEVELS = (0.01, 0.3, 0.5, 0.7, 0.9)
_FINDINGS = 7  # the length of Result.evidence
_SIGNALS = [[zlib.crc32(f"signal {n} {level}".encode()) for level in _LEVELS]
            for n in range(_FINDINGS)]  # fmt: skip


def features(
    title: str | None, text: str | None, language: str | None, signals: Sequence[float] = ()
) -> list[int]:
    """The hashed features of an article, each once, in a stable order; ``signals`` are
    the taxonomy's findings (``Result.evidence``)."""
    stem = stemmer((language or "en").split("-")[0].lower()).stemWords
    title_stems = stem([fold(w) for w in words(title or "")])
    lead_stems = stem([fold(w) for w in words(text or "")[:LEAD_WORDS]])
    return hashed(title_stems, lead_stems, signals)


def hashed(title: Sequence[str], lead: Sequence[str], signals: Sequence[float] = ()) -> list[int]:
    """:func:`features` from the folded stems of the headline and of the lead's first
    ``LEAD_WORDS`` words (the taxonomy has them at hand)."""
    found: dict[int, None] = {}
    for seeds, stems in (((0, 1), title), ((0,), lead)):
        encoded = [s.encode("utf-8") for s in stems]
        for seed in seeds:  # a headline's words count twice: as words, and as its words
            singles = [zlib.crc32(e, seed) for e in encoded]
            # CRC-32 continues: the pair's hash is that of "first second", made cheaply.
            pairs = [zlib.crc32(b" " + e, h) for h, e in zip(singles, encoded[1:], strict=False)]
            found.update(dict.fromkeys(h % BUCKETS for h in singles + pairs))
    for value, hashes in zip(signals, _SIGNALS, strict=False):
        reached = [h % BUCKETS for h, level in zip(hashes, _LEVELS, strict=True) if value >= level]
        found.update(dict.fromkeys(reached))
    return list(found)


@dataclass
class RelevanceModel:
    bias: float = 0.0
    bar: float = 0.5  # from this probability the model accepts what the taxonomy rejects
    veto: float = 0.0  # below this it rejects what the taxonomy accepts
    weights: dict[int, float] = field(default_factory=dict)

    def probability(
        self,
        title: str | None,
        text: str | None,
        language: str | None,
        signals: Sequence[float] = (),
    ) -> float:
        return self.score(features(title, text, language, signals))

    def score(self, found: Iterable[int]) -> float:
        """The probability of an article of these features."""
        z = self.bias + sum(self.weights.get(f, 0.0) for f in found)
        return 1 / (1 + math.exp(-max(-50.0, min(50.0, z))))

    def on_scale(self, probability: float) -> float:
        """The probability on the taxonomy's relevance scale, where ``bar`` falls on the
        default threshold: the model accepts there as the taxonomy does, and a stricter
        threshold asks more of both."""
        if probability >= self.bar and self.bar < 1:  # a bar above 1: never
            return THRESHOLD + (1 - THRESHOLD) * (probability - self.bar) / (1 - self.bar)
        return THRESHOLD * probability / self.bar

    # -- files ------------------------------------------------------------------------

    def save(self, path: Path | str) -> None:
        document = {
            "version": MODEL_VERSION,
            "buckets": BUCKETS,
            "lead_words": LEAD_WORDS,
            "bar": self.bar,
            "veto": self.veto,
            "bias": round(self.bias, 6),
            "weights": [[i, round(w, 5)] for i, w in sorted(self.weights.items()) if round(w, 5)],
        }
        data = json.dumps(document, separators=(",", ":")).encode("utf-8")
        out = io.BytesIO()
        with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9, mtime=0) as packed:
            packed.write(data)  # the same bytes on every system: no time, no OS mark
        Path(path).write_bytes(out.getvalue())

    @classmethod
    def load(cls, path: Path | str) -> RelevanceModel:
        try:
            document = json.loads(gzip.decompress(Path(path).read_bytes()))
        except (OSError, EOFError, zlib.error, ValueError) as exc:
            raise ModelError(f"{path}: unreadable relevance model: {exc}") from None
        if not isinstance(document, dict) or document.get("version") != MODEL_VERSION:
            raise ModelError(f"{path}: not a relevance model of version {MODEL_VERSION}")
        if document.get("buckets") != BUCKETS or document.get("lead_words") != LEAD_WORDS:
            raise ModelError(f"{path}: made with other features; train it again")
        try:
            model = cls(
                bias=float(document["bias"]),
                bar=float(document["bar"]),
                veto=float(document["veto"]),
                weights={int(i): float(w) for i, w in document["weights"]},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{path}: a damaged relevance model: {exc!r}") from None
        if not 0 <= model.veto <= model.bar or not math.isfinite(model.bias):
            raise ModelError(f"{path}: veto {model.veto} and bar {model.bar} make no sense")
        return model


@dataclass(frozen=True)
class Example:
    title: str
    text: str
    language: str
    relevant: bool
    signals: tuple[float, ...] = ()  # the taxonomy's findings: Result.evidence


SETTLED = 1e-3  # an example this well predicted moves no weight: training is faster


def train(
    examples: Sequence[Example],
    epochs: int = 60,
    rate: float = 0.5,
    l2: float = 0.02,
    seeds: int = 3,
) -> RelevanceModel:
    """Logistic regression by stochastic gradient descent, the same model for the same
    examples: the average of ``seeds`` runs, each over its own seeded shuffle each epoch
    (one order's luck evens out), every weight shrunk alike once an epoch. An example
    predicted within ``SETTLED`` of its label is passed over in that epoch."""
    encoded = [(features(e.title, e.text, e.language, e.signals), 1.0 if e.relevant else 0.0)
               for e in examples]  # fmt: skip
    total: dict[int, float] = {}
    total_bias = 0.0
    for seed in range(seeds):
        weights, bias = _descend(encoded, epochs, rate, l2, seed)
        for f, w in weights.items():
            total[f] = total.get(f, 0.0) + w
        total_bias += bias
    return RelevanceModel(bias=total_bias / seeds, weights={f: w / seeds for f, w in total.items()})


def _descend(
    encoded: Sequence[tuple[list[int], float]], epochs: int, rate: float, l2: float, seed: int
) -> tuple[dict[int, float], float]:
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
            if abs(gradient) < SETTLED:
                continue
            for f in found:
                weights[f] = weights.get(f, 0.0) - rate * gradient
            bias -= rate * gradient
        shrink = 1 - rate * l2  # L2 on every weight alike, once an epoch
        weights = {f: w * shrink for f, w in weights.items()}
    return weights, bias


def cross_validated(examples: Sequence[Example], folds: int = 5, **options: float) -> list[float]:
    """The probability each example gets from a model trained on the other folds."""
    out = [0.0] * len(examples)
    for k in range(folds):
        held = range(k, len(examples), folds)
        rest = [e for n, e in enumerate(examples) if n % folds != k]
        model = train(rest, **options)  # type: ignore[arg-type]
        for n in held:
            e = examples[n]
            out[n] = model.probability(e.title, e.text, e.language, e.signals)
    return out
