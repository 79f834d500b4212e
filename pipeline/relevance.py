"""Relevance: is an article about AI in the entertainment industry, and which labels fit.

The taxonomy (``config/topics.yaml``) lists, per signal and per label, words and phrases in
the feeds' main languages. Text and terms are folded (case, accents) and stemmed with the
article's language, so inflections match; a phrase is matched on consecutive words. The
score needs both signals, AI and entertainment, each counted with a position weight (title
3, lead 2, body 1) and saturating: a few strong mentions say as much as many.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import Stemmer
import yaml

TAXONOMY = Path(__file__).resolve().parent.parent / "config" / "topics.yaml"
THRESHOLD = 0.5
STRONG, WEAK = 1.0, 0.3
TITLE_WEIGHT, LEAD_WEIGHT, LEAD_WORDS = 3.0, 2.0, 60
MAX_WORDS = 1500  # words of the body that are read; the rest says little more
# Signal strength s = 1 - exp(-hits / SATURATION): one strong title mention gives 0.78.
SATURATION = 2.0
MIN_SIGNAL = 0.45  # each of the two signals must reach this for an article to be relevant

_WORD = re.compile(r"(?i:a\.i\.)|[^\W_]+", re.UNICODE)
_STEMMERS = {"en": "english", "es": "spanish", "fr": "french", "de": "german",
             "it": "italian", "pt": "portuguese", "nl": "dutch"}  # fmt: skip


class TaxonomyError(ValueError):
    pass


_folded: dict[str, str] = {}


def _fold(word: str) -> str:
    """Lower case without accents (a cache: the words of news repeat a lot)."""
    if word.isascii():
        return word.lower()
    folded = _folded.get(word)
    if folded is None:
        decomposed = unicodedata.normalize("NFKD", word.lower())
        folded = "".join(c for c in decomposed if not unicodedata.combining(c))
        if len(_folded) > 100_000:
            _folded.clear()
        _folded[word] = folded
    return folded


@cache
def _stemmer(language: str) -> Stemmer._Stemmer:
    return Stemmer.Stemmer(_STEMMERS.get(language, "english"))


@dataclass(frozen=True)
class Entry:
    key: str  # "ai", "entertainment" or a label such as "use/dubbing-voice"
    weight: float


@dataclass
class _Matcher:
    """Phrases (tuples of stems) of one language, indexed by their first stem."""

    phrases: dict[tuple[str, ...], list[Entry]] = field(default_factory=dict)
    longest: dict[str, int] = field(default_factory=dict)

    def add(self, stems: tuple[str, ...], entry: Entry) -> None:
        """Index a phrase; terms that stem alike count once per key, at their highest weight."""
        entries = self.phrases.setdefault(stems, [])
        same = [e for e in entries if e.key == entry.key]
        if same and same[0].weight >= entry.weight:
            return
        entries[:] = [e for e in entries if e.key != entry.key] + [entry]
        self.longest[stems[0]] = max(self.longest.get(stems[0], 0), len(stems))


@dataclass(frozen=True)
class Result:
    relevance: float
    is_relevant: bool
    ai: float
    entertainment: float
    topics: list[str]


class Taxonomy:
    def __init__(self, document: dict[str, Any], where: str = "taxonomy") -> None:
        try:
            signals = document["signals"]
            self.terms: list[tuple[str, Entry]] = []
            for signal in ("ai", "entertainment"):
                for strength, weight in (("strong", STRONG), ("weak", WEAK)):
                    for term in signals[signal].get(strength) or []:
                        self.terms.append((str(term), Entry(signal, weight)))
            ai = signals["ai"]
            self.cased: set[str] = {str(t) for t in ai.get("cased") or []}
            self.unless: dict[str, set[str]] = {
                str(term): {_fold(str(w)) for w in words}
                for term, words in (ai.get("unless") or {}).items()
            }
            self.exclude = [
                tuple(_fold(w) for w in _WORD.findall(str(p))) for p in ai.get("exclude") or []
            ]
            for group, labels in (document.get("labels") or {}).items():
                for label, terms in labels.items():
                    for term in terms:
                        self.terms.append((str(term), Entry(f"{group}/{label}", STRONG)))
        except (KeyError, TypeError, AttributeError) as exc:
            raise TaxonomyError(f"{where}: not a taxonomy ({exc!r} missing or malformed)") from None
        self._exclude_first = {phrase[0] for phrase in self.exclude if phrase}
        self._matchers: dict[str, _Matcher] = {}

    @classmethod
    def load(cls, path: Path | str = TAXONOMY) -> Taxonomy:
        path = Path(path)
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise TaxonomyError(f"{path}: cannot read the taxonomy: {exc}") from None
        if not isinstance(document, dict):
            raise TaxonomyError(f"{path}: not a taxonomy (expected a mapping)")
        return cls(document, str(path))

    def _matcher(self, language: str) -> _Matcher:
        matcher = self._matchers.get(language)
        if matcher is None:
            matcher = _Matcher()
            stem = _stemmer(language).stemWords
            for term, entry in self.terms:
                words = [_fold(w) for w in _WORD.findall(term)]
                if words:
                    matcher.add(tuple(stem(words)), entry)
            self._matchers[language] = matcher
        return matcher

    def classify(
        self,
        title: str | None,
        text: str | None,
        language: str | None = None,
        threshold: float = THRESHOLD,
    ) -> Result:
        language = (language or "en").split("-")[0].lower()
        title_words = _WORD.findall(unicodedata.normalize("NFKC", title or ""))
        body_words = _WORD.findall(unicodedata.normalize("NFKC", text or ""))[:MAX_WORDS]
        parts = [(w, [_fold(x) for x in w]) for w in (title_words, body_words)]
        hits: dict[str, float] = {}
        cased: list[tuple[str, float]] = []  # cased terms found, with their weight
        for (words, folded), position in zip(parts, (TITLE_WEIGHT, None), strict=True):
            self._scan(words, folded, language, position, hits, cased)
        if cased:
            everything = set(parts[0][1]).union(parts[1][1])
            for word, weight in cased:
                if not self.unless.get(word, set()) & everything:
                    hits["ai"] = hits.get("ai", 0.0) + weight
        ai = 1 - math.exp(-hits.get("ai", 0.0) / SATURATION)
        entertainment = 1 - math.exp(-hits.get("entertainment", 0.0) / SATURATION)
        relevance = math.sqrt(ai * entertainment)
        relevant = relevance >= threshold and min(ai, entertainment) >= MIN_SIGNAL
        topics = sorted(k for k, v in hits.items() if "/" in k and v >= STRONG) if relevant else []
        return Result(round(relevance, 4), relevant, ai, entertainment, topics)

    def _scan(
        self,
        words: list[str],
        folded: list[str],
        language: str,
        position: float | None,
        hits: dict[str, float],
        cased: list[tuple[str, float]],
    ) -> None:
        if not words:
            return
        sample = words[:200]
        shouting = sum(w.isupper() for w in sample) > 0.6 * len(sample)
        self._blank_excluded(folded)
        matcher = self._matcher(language)
        stems = _stemmer(language).stemWords(folded)
        longest, phrases = matcher.longest, matcher.phrases
        covered: dict[str, int] = {}  # key -> the first word after its last phrase
        for i, stem in enumerate(stems):
            weight = position or (LEAD_WEIGHT if i < LEAD_WORDS else 1.0)
            for n in range(min(longest.get(stem, 0), len(stems) - i), 0, -1):
                entries = phrases.get(tuple(stems[i : i + n]) if n > 1 else (stem,))
                for entry in entries or ():
                    if covered.get(entry.key, 0) <= i:  # not inside a longer phrase of its key
                        hits[entry.key] = hits.get(entry.key, 0.0) + entry.weight * weight
                        covered[entry.key] = i + n
            if words[i] in self.cased and covered.get("ai", 0) <= i and folded[i] and not shouting:
                cased.append((words[i], STRONG * weight))
                covered["ai"] = i + 1

    def _blank_excluded(self, folded: list[str]) -> None:
        if not self._exclude_first.intersection(folded):
            return
        for phrase in self.exclude:
            n = len(phrase)
            for i in range(len(folded) - n + 1):
                if folded[i] == phrase[0] and tuple(folded[i : i + n]) == phrase:
                    folded[i : i + n] = [""] * n
