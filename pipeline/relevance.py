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
from functools import lru_cache
from itertools import compress, count
from pathlib import Path

from pipeline.text import stemmer
from pipeline.yamlfile import YamlFile

TAXONOMY = Path(__file__).resolve().parent.parent / "config" / "topics.yaml"
THRESHOLD = 0.5
STRONG, WEAK = 1.0, 0.3
TITLE_WEIGHT, LEAD_WEIGHT, LEAD_WORDS = 3.0, 2.0, 60
MAX_WORDS = 1500  # words of the body that are read; the rest says little more
# Signal strength s = 1 - exp(-hits / SATURATION): one strong title mention gives 0.78.
SATURATION = 2.0
MIN_SIGNAL = 0.45  # a signal weaker than this scales the score down in proportion

# Words, with dotted initials kept whole (A.I., U.S.) so that "A.I." can be told from "AI".
_WORD = re.compile(r"[^\W_]+(?:\.[^\W_]\.)*", re.UNICODE)
_MAX_CACHE = 500_000  # words remembered per language with their stems


class TaxonomyError(ValueError):
    pass


@lru_cache(maxsize=16)
def words(text: str) -> list[str]:
    """The words of ``text`` as written (NFKC). Cached for the few texts in flight, since
    relevance and enrichment read the same article; callers must not change the list."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return _WORD.findall(text)


def fold(word: str) -> str:
    """Lower case without accents."""
    if word.isascii():
        return word.lower()
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@dataclass(frozen=True)
class Entry:
    key: str  # "ai", "entertainment" or a label such as "use/dubbing-voice"
    weight: float


@dataclass
class _Matcher:
    """The taxonomy in the stems of one language: phrases indexed by their first stem."""

    language: str
    phrases: dict[tuple[str, ...], list[Entry]] = field(default_factory=dict)
    longest: dict[str, int] = field(default_factory=dict)
    exclude: dict[str, list[tuple[str, ...]]] = field(default_factory=dict)  # by first stem
    unless: dict[str, set[str]] = field(default_factory=dict)
    _stems: dict[str, str] = field(default_factory=dict)

    def stems(self, written: list[str]) -> list[str]:
        """The folded stem of each word; the stems of words seen before come from a cache."""
        cache = self._stems
        found = list(map(cache.get, written))
        if None in found:
            if len(cache) > _MAX_CACHE:
                cache.clear()
            stem = stemmer(self.language).stemWord
            for i, value in enumerate(found):
                if value is None:
                    found[i] = cache[written[i]] = stem(fold(written[i]))
        return found  # type: ignore[return-value]  # no None is left

    def add(self, term: str, entry: Entry) -> None:
        """Index a phrase; terms that stem alike count once per key, at their highest weight."""
        stems = tuple(self.stems(words(term)))
        if not stems:
            return
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


_SIGNALS = {"ai": ("strong", "weak", "cased", "exclude", "unless"),
            "entertainment": ("strong", "weak")}  # fmt: skip


class Taxonomy:
    """Signal terms and label terms; see ``config/topics.yaml`` for the format."""

    def __init__(
        self,
        terms: list[tuple[str, Entry]],
        cased: set[str] | None = None,
        unless: dict[str, list[str]] | None = None,
        exclude: list[str] | None = None,
    ) -> None:
        self.terms = terms
        self.cased = cased or set()  # case-sensitive AI terms: AI, A.I., KI
        self._unless = unless or {}  # a cased term is not AI next to these words
        self._exclude = exclude or []  # phrases whose words are read as nothing
        self._matchers: dict[str, _Matcher] = {}

    @classmethod
    def load(cls, path: Path | str = TAXONOMY) -> Taxonomy:
        """Read a taxonomy file; :class:`TaxonomyError` names the file and line of a fault."""
        doc = YamlFile(path, TaxonomyError)
        root = doc.mapping(doc.root, "the taxonomy", ("signals", "labels"))
        if "signals" not in root:
            raise doc.fail(doc.root, "the taxonomy has no 'signals'")
        signals = doc.mapping(root["signals"], "signals", _SIGNALS)
        terms: list[tuple[str, Entry]] = []
        for name, keys in _SIGNALS.items():
            if name not in signals:
                raise doc.fail(root["signals"], f"signals: '{name}' is missing")
            signal = doc.mapping(signals[name], f"signals.{name}", keys)
            for strength, weight in (("strong", STRONG), ("weak", WEAK)):
                listed = doc.strings(signal.get(strength), f"signals.{name}.{strength}")
                terms += [(term, Entry(name, weight)) for term in listed]
        for group, node in doc.mapping(root.get("labels"), "labels").items():
            for label, listed_node in doc.mapping(node, f"labels.{group}").items():
                listed = doc.strings(listed_node, f"labels.{group}.{label}")
                terms += [(term, Entry(f"{group}/{label}", STRONG)) for term in listed]
        ai = doc.mapping(signals["ai"], "signals.ai")
        unless = doc.mapping(ai.get("unless"), "signals.ai.unless")
        return cls(
            terms,
            cased=set(doc.strings(ai.get("cased"), "signals.ai.cased")),
            unless={t: doc.strings(n, f"signals.ai.unless.{t}") for t, n in unless.items()},
            exclude=doc.strings(ai.get("exclude"), "signals.ai.exclude"),
        )

    def _matcher(self, language: str) -> _Matcher:
        matcher = self._matchers.get(language)
        if matcher is None:
            matcher = _Matcher(language)
            for term, entry in self.terms:
                matcher.add(term, entry)
            for phrase in self._exclude:
                stems = tuple(matcher.stems(words(phrase)))
                if stems:
                    matcher.exclude.setdefault(stems[0], []).append(stems)
            matcher.unless = {t: set(matcher.stems(ws)) for t, ws in self._unless.items()}
            self._matchers[language] = matcher
        return matcher

    def classify(
        self,
        title: str | None,
        text: str | None,
        language: str | None = None,
        threshold: float = THRESHOLD,
    ) -> Result:
        matcher = self._matcher((language or "en").split("-")[0].lower())
        hits: dict[str, float] = {}
        cased: list[tuple[str, float]] = []  # cased terms found, with their weight
        title_stems = self._scan(words(title or ""), matcher, TITLE_WEIGHT, hits, cased)
        body_stems = self._scan(words(text or "")[:MAX_WORDS], matcher, None, hits, cased)
        if cased:
            everything = set(title_stems).union(body_stems)
            for word, weight in cased:
                if not matcher.unless.get(word, set()) & everything:
                    hits["ai"] = hits.get("ai", 0.0) + weight
        ai = 1 - math.exp(-hits.get("ai", 0.0) / SATURATION)
        entertainment = 1 - math.exp(-hits.get("entertainment", 0.0) / SATURATION)
        # Both signals count (geometric mean); a weak one pulls the score down further, so
        # that a strong AI story with a passing word about films stays below the bar.
        relevance = math.sqrt(ai * entertainment) * min(1.0, min(ai, entertainment) / MIN_SIGNAL)
        relevant = relevance >= threshold
        topics = sorted(k for k, v in hits.items() if "/" in k and v >= STRONG) if relevant else []
        return Result(round(relevance, 4), relevant, ai, entertainment, topics)

    def _scan(
        self,
        written: list[str],
        matcher: _Matcher,
        position: float | None,
        hits: dict[str, float],
        cased: list[tuple[str, float]],
    ) -> list[str]:
        """Count the taxonomy's phrases in ``written`` into ``hits`` and collect its cased AI
        terms into ``cased``; returns the stems. Only words that can start a phrase are
        visited, so the loop runs over a few dozen words, not the whole text."""
        if not written:
            return []
        stems = matcher.stems(written)
        if not matcher.exclude.keys().isdisjoint(stems):
            _blank(stems, matcher.exclude)
        longest, phrases = matcher.longest, matcher.phrases
        starts: list[int] = list(compress(count(), map(longest.__contains__, stems)))
        cased_at: set[int] = set()
        if not self.cased.isdisjoint(written) and not _shouting(written):
            cased_at = {i for i, w in enumerate(written) if w in self.cased and stems[i]}
            starts = sorted(cased_at.union(starts))
        covered: dict[str, int] = {}  # key -> the first word after its last phrase
        end = len(stems)
        for i in starts:
            weight = position or (LEAD_WEIGHT if i < LEAD_WORDS else 1.0)
            stem = stems[i]
            for n in range(min(longest.get(stem, 0), end - i), 0, -1):
                entries = phrases.get(tuple(stems[i : i + n]) if n > 1 else (stem,))
                for entry in entries or ():
                    if covered.get(entry.key, 0) <= i:  # not inside a longer phrase of its key
                        hits[entry.key] = hits.get(entry.key, 0.0) + entry.weight * weight
                        covered[entry.key] = i + n
            if i in cased_at and covered.get("ai", 0) <= i:
                cased.append((written[i], STRONG * weight))
                covered["ai"] = i + 1
        return stems


def _shouting(written: list[str]) -> bool:
    """Mostly capitals: then AI or KI may be any word of a headline."""
    sample = written[:200]
    return sum(w.isupper() for w in sample) > 0.6 * len(sample)


def _blank(stems: list[str], exclude: dict[str, list[tuple[str, ...]]]) -> None:
    """Read the excluded phrases (names such as Ai Weiwei) as no words at all."""
    for i in list(compress(count(), map(exclude.__contains__, stems))):
        for phrase in exclude.get(stems[i], ()):
            if tuple(stems[i : i + len(phrase)]) == phrase:
                stems[i : i + len(phrase)] = [""] * len(phrase)
