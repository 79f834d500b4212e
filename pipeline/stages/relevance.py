"""Relevance: is an article about AI in the entertainment industry, and which labels fit.

The taxonomy (``config/topics.yaml``) lists, per signal and per label, words and phrases in
the feeds' main languages. Text and terms are folded (case, accents) and stemmed with the
article's language, so inflections match; a phrase is matched on consecutive words, and a
German compound by the part listed ("kino*", "*film"). The score needs both signals, AI
and entertainment, each counted with a position weight (title 3, lead 2, body 1) and
saturating: a few strong mentions say as much as many. Two more signals, other industries
and fiction about AI, are not scored: the model reads them (``Result.evidence``).

The taxonomy file may name a model (:mod:`pipeline.stages.relevance_model`) trained on
labelled headlines and leads, which reads the articles in which the taxonomy sees AI or
the entertainment industry: it can overrule the taxonomy's yes when it is sure of a no (its
veto), and its no when it is confident of a yes (its bar). Its probability, put on the
taxonomy's scale, then stands for the relevance: the lower of the two under its veto, the
higher otherwise.

A whole article (``MIN_WORDS`` words or more, as the pipeline lands them; the labelled items
are a headline and a lead) that never names AI by a strong or a cased term is not about AI,
whatever else it says: its relevance is 0 and the model is not asked. News about AI says
so in its text; an article that merely sounds like it (a game's quest log, a design course)
is what the model, trained on short items, would otherwise take on its meaning. This is
also what lets a backfill's prefilter (:mod:`pipeline.stages.prefilter`) be exact: the
terms it looks for in a page's bytes are the ones the decision requires.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from itertools import compress, count
from pathlib import Path

from pipeline.settings import MIN_WORDS, TAXONOMY, THRESHOLD
from pipeline.stages.relevance_model import LEAD_WORDS as MODEL_LEAD
from pipeline.stages.relevance_model import ModelError, RelevanceModel, hashed, passage
from pipeline.stages.text import fold, stemmer, words
from pipeline.yamlfile import YamlFile

STRONG, WEAK = 1.0, 0.3
TITLE_WEIGHT, LEAD_WEIGHT, LEAD_WORDS = 3.0, 2.0, 60
MAX_WORDS = 1500  # words of the body that are read; the rest says little more
# Signal strength s = 1 - exp(-hits / SATURATION): one strong title mention gives 0.78.
SATURATION = 2.0
MIN_SIGNAL = 0.45  # a signal weaker than this scales the score down in proportion

# The key under which _scan counts the strong and cased AI terms found (AI named).
NAMED = "ai named"

_MAX_CACHE = 500_000  # words remembered per language with their stems


class TaxonomyError(ValueError):
    pass


@dataclass(frozen=True)
class Entry:
    key: str  # "ai", "entertainment" or a label such as "use/dubbing-voice"
    weight: float


# What a written word can do, as bits of its role: the longest phrase its stem starts (bits
# 0-3) and the longest exact phrase its folded form starts (bits 4-7), whether it is a
# cased AI term, whether its stem starts an excluded phrase, and whether it unmakes a
# cased term ("Iverson" next to "A.I.").
_STEMMED, _EXACT, _CASED, _EXCLUDED, _UNLESS = 0x0F, 0xF0, 0x100, 0x200, 0x400
_MAX_PHRASE = 15
EXACT = "="  # a term written "=likeness" matches that word only, not others of its stem
COMPOUND = "*"  # "kino*" matches "Kinoplakate", "*film" matches "Horrorfilms" (German)
COMPOUNDING = frozenset({"de"})  # languages that write compounds as one word
_MIN_REST = 3  # letters a compound has beyond its listed part


@dataclass
class _Matcher:
    """The taxonomy in the stems of one language: phrases indexed by their first stem, and
    the role of each written word seen so far (cached: news repeats its words)."""

    language: str
    cased: frozenset[str] = frozenset()
    phrases: dict[tuple[str, ...], list[Entry]] = field(default_factory=dict)
    longest: dict[str, int] = field(default_factory=dict)
    exclude: dict[str, list[tuple[str, ...]]] = field(default_factory=dict)  # by first stem
    unless: dict[str, set[str]] = field(default_factory=dict)  # cased term -> stems
    exact_longest: dict[str, int] = field(default_factory=dict)
    stem: dict[str, str] = field(default_factory=dict)  # written word -> its folded stem
    folded: dict[str, str] = field(default_factory=dict)  # written word -> folded
    _role: dict[str, int] = field(default_factory=dict)  # written word -> role bits
    unless_stems: set[str] = field(default_factory=set)  # every stem of ``unless``
    heads: list[str] = field(default_factory=list)  # folded first parts of compounds
    tails: list[str] = field(default_factory=list)  # stemmed last parts of compounds
    compound: dict[str, tuple[str, ...]] = field(default_factory=dict)  # word -> its key

    def stems(self, written: list[str]) -> tuple[str, ...]:
        missing = [w for w in written if w not in self.stem]
        if missing:
            stem = stemmer(self.language).stemWord
            for word in missing:
                self.folded[word] = fold(word)
                self.stem[word] = stem(self.folded[word])
        return tuple(map(self.stem.__getitem__, written))

    def roles(self, written: list[str]) -> list[int]:
        """The role of each word (0 for most); every word's stem is known afterwards."""
        roles = list(map(self._role.get, written))
        if None in roles:
            if len(self._role) > _MAX_CACHE:
                self._role.clear()
                self.stem.clear()
                self.folded.clear()
                self.compound.clear()
            for i, (word, stem) in enumerate(zip(written, self.stems(written), strict=True)):
                if roles[i] is None:
                    role = (
                        self.longest.get(stem, 0)
                        | self.exact_longest.get(self.folded[word], 0) << 4
                    )
                    if not role and (self.heads or self.tails):
                        key = self._compound(self.folded[word], stem)
                        if key:
                            self.compound[word] = key
                            role = 1
                    roles[i] = self._role[word] = (
                        role
                        | (_CASED if word in self.cased else 0)
                        | (_EXCLUDED if stem in self.exclude else 0)
                        | (_UNLESS if stem in self.unless_stems else 0)
                    )
        return roles  # type: ignore[return-value]  # no None is left

    def _compound(self, folded: str, stem: str) -> tuple[str, ...] | None:
        """The key of the listed part a compound word begins or ends with, if any."""
        for head in self.heads:
            if folded.startswith(head) and len(folded) >= len(head) + _MIN_REST:
                return (head, COMPOUND)
        for tail in self.tails:
            if stem.endswith(tail) and len(stem) >= len(tail) + _MIN_REST:
                return (COMPOUND, tail)
        return None

    def add(self, term: str, entry: Entry) -> None:
        """Index a phrase; terms that stem alike count once per key, at their highest weight.
        An exact term (``=word``) is indexed by its folded words, behind an ``=`` mark."""
        exact = term.startswith(EXACT)
        written = words(term[1:] if exact else term)[:_MAX_PHRASE]
        if not written:
            return
        self.stems(written)
        longest: dict[str, int] | None = None  # a compound's part starts no phrase
        if COMPOUND in term:
            if self.language not in COMPOUNDING:
                return
            if term.endswith(COMPOUND):
                key: tuple[str, ...] = (self.folded[written[0]], COMPOUND)
                parts, part = self.heads, key[0]
            else:
                key = (COMPOUND, self.stem[written[0]])
                parts, part = self.tails, key[1]
            if part not in parts:
                parts.append(part)
        elif exact:
            key = (EXACT, *map(self.folded.__getitem__, written))
            first, longest = key[1], self.exact_longest
        else:
            key = tuple(map(self.stem.__getitem__, written))
            first, longest = key[0], self.longest
        entries = self.phrases.setdefault(key, [])
        same = [e for e in entries if e.key == entry.key]
        if same and same[0].weight >= entry.weight:
            return
        entries[:] = [e for e in entries if e.key != entry.key] + [entry]
        if longest is not None:
            longest[first] = max(longest.get(first, 0), len(written))


@dataclass(frozen=True)
class Result:
    relevance: float
    is_relevant: bool
    ai: float
    entertainment: float
    topics: list[str]
    model: float | None = None  # the model's probability, where it was asked
    named_ai: bool = False  # whether a strong or a cased AI term names AI
    evidence: tuple[float, ...] = ()  # what the model reads of the taxonomy: see _evidence


def asks_model(ai: float, entertainment: float) -> bool:
    """Whether the model reads an article of these signals: where the taxonomy sees AI or
    the entertainment industry (nothing in the others' news is about either)."""
    return ai > 0 or entertainment > 0


_SIGNALS = {"ai": ("strong", "weak", "cased", "exclude", "unless"),
            "entertainment": ("strong", "weak"),
            "other": ("strong", "weak"),
            "fiction": ("strong", "weak")}  # fmt: skip
_REQUIRED = ("ai", "entertainment")  # the others only inform the model
# An acronym in parentheses after the words it stands for: "Kriminalinspektion (KI)".
_DEFINITION = re.compile(r"\(\s*([^()\s]{1,6})\s*\)")
_DEFINITION_WORDS = 5  # the words before it that may say what it stands for


class Taxonomy:
    """Signal terms and label terms; see ``config/topics.yaml`` for the format."""

    def __init__(
        self,
        terms: list[tuple[str, Entry]],
        cased: set[str] | None = None,
        unless: dict[str, list[str]] | None = None,
        exclude: list[str] | None = None,
        model: RelevanceModel | None = None,
    ) -> None:
        self.terms = terms
        self.cased = cased or set()  # case-sensitive AI terms: AI, A.I., KI
        self._unless = unless or {}  # a cased term is not AI next to these words
        self._exclude = exclude or []  # phrases whose words are read as nothing
        self._matchers: dict[str, _Matcher] = {}
        self.model = model

    @classmethod
    def load(cls, path: Path | str = TAXONOMY, with_model: bool = True) -> Taxonomy:
        """Read a taxonomy file, and the model it names unless not ``with_model``;
        :class:`TaxonomyError` names the file and line of a fault."""
        doc = YamlFile(path, TaxonomyError)
        root = doc.mapping(doc.root, "the taxonomy", ("signals", "labels", "model"))
        if "signals" not in root:
            raise doc.fail(doc.root, "the taxonomy has no 'signals'")
        signals = doc.mapping(root["signals"], "signals", _SIGNALS)
        terms: list[tuple[str, Entry]] = []
        for name, keys in _SIGNALS.items():
            if name not in signals:
                if name not in _REQUIRED:
                    continue
                raise doc.fail(root["signals"], f"signals: '{name}' is missing")
            signal = doc.mapping(signals[name], f"signals.{name}", keys)
            for strength, weight in (("strong", STRONG), ("weak", WEAK)):
                listed = doc.strings(signal.get(strength), f"signals.{name}.{strength}")
                terms += [(term, Entry(name, weight)) for term in listed]
        for group, node in doc.mapping(root.get("labels"), "labels").items():
            for label, listed_node in doc.mapping(node, f"labels.{group}").items():
                listed = doc.strings(listed_node, f"labels.{group}.{label}")
                terms += [(term, Entry(f"{group}/{label}", STRONG)) for term in listed]
        for term, _ in terms:
            part = term.strip(COMPOUND)
            if term.count(COMPOUND) > 1 or (
                part != term and (len(words(part)) != 1 or EXACT in term)
            ):
                raise TaxonomyError(
                    f"{path}: the term {term!r}: a part of compounds is one word with "
                    f"{COMPOUND} before or after it"
                )
        ai = doc.mapping(signals["ai"], "signals.ai")
        unless = doc.mapping(ai.get("unless"), "signals.ai.unless")
        model = None
        if "model" in root and with_model:  # a file beside the taxonomy
            name = doc.string(root["model"], "model")
            try:
                model = RelevanceModel.load(Path(path).parent / name)
            except ModelError as exc:
                raise doc.fail(root["model"], str(exc)) from None
        return cls(
            terms,
            cased=set(doc.strings(ai.get("cased"), "signals.ai.cased")),
            unless={t: doc.strings(n, f"signals.ai.unless.{t}") for t, n in unless.items()},
            exclude=doc.strings(ai.get("exclude"), "signals.ai.exclude"),
            model=model,
        )

    def _matcher(self, language: str) -> _Matcher:
        matcher = self._matchers.get(language)
        if matcher is None:
            matcher = _Matcher(language, frozenset(self.cased))
            for term, entry in self.terms:
                matcher.add(term, entry)
            for phrase in self._exclude:
                stems = matcher.stems(words(phrase))
                if stems:
                    matcher.exclude.setdefault(stems[0], []).append(stems)
            matcher.unless = {t: set(matcher.stems(ws)) for t, ws in self._unless.items()}
            matcher.unless_stems = set().union(*matcher.unless.values())
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
        present: set[str] = set()  # stems of the words that unmake a cased term
        title_words, text_words = words(title or ""), words(text or "")
        self._scan(title_words, matcher, TITLE_WEIGHT, hits, cased, present)
        self._scan(text_words[:MAX_WORDS], matcher, None, hits, cased, present)
        spelled = hits.get("ai", 0.0)  # AI named in words, not by an acronym
        if cased:
            other = self._defined_otherwise(f"{title or ''}\n{text or ''}", matcher)
            for word, weight in cased:
                if word not in other and matcher.unless.get(word, set()).isdisjoint(present):
                    hits["ai"] = hits.get("ai", 0.0) + weight
                    hits[NAMED] = hits.get(NAMED, 0.0) + weight
        ai, entertainment = (
            _strength(hits.get("ai", 0.0)),
            _strength(hits.get("entertainment", 0.0)),
        )
        named = hits.get(NAMED, 0.0) > 0
        if not named and len(text_words) >= MIN_WORDS:  # a whole article that never names AI
            return Result(0.0, threshold <= 0, ai, entertainment, [], None, named_ai=False)
        # Both signals count (geometric mean); a weak one pulls the score down further, so
        # that a strong AI story with a passing word about films stays below the bar.
        relevance = math.sqrt(ai * entertainment) * min(1.0, min(ai, entertainment) / MIN_SIGNAL)
        evidence = _evidence(hits, spelled, relevance)
        probability = None
        if self.model is not None and asks_model(ai, entertainment):
            # The model may overrule a yes (below its veto) or a no (from its bar up).
            lead = matcher.stems(text_words[:MODEL_LEAD])  # stemmed by the scan already
            found = hashed(matcher.stems(title_words), lead, evidence)
            probability = self.model.score(found, passage(title, text_words))
            on_scale = self.model.on_scale(probability)
            if probability < self.model.veto:
                relevance = min(relevance, on_scale)
            else:
                relevance = max(relevance, on_scale)
        relevance = round(relevance, 4)  # as stored: the decision can be read back from it
        relevant = relevance >= threshold
        topics = sorted(k for k, v in hits.items() if "/" in k and v >= STRONG) if relevant else []
        return Result(relevance, relevant, ai, entertainment, topics, probability, named, evidence)

    def _defined_otherwise(self, text: str, matcher: _Matcher) -> set[str]:
        """The cased AI terms the text defines as something else, as in "Karolinska
        Institutet (KI)": the words before the parentheses name no AI."""
        other: set[str] = set()
        for found in _DEFINITION.finditer(text):
            acronym = found.group(1)
            if acronym in self.cased and acronym not in other:
                before = words(text[max(0, found.start() - 100) : found.start()])
                hits: dict[str, float] = {}
                self._scan(before[-_DEFINITION_WORDS:], matcher, 1.0, hits, [], set())
                if "ai" not in hits:
                    other.add(acronym)
        return other

    @staticmethod
    def _scan(
        written: list[str],
        matcher: _Matcher,
        position: float | None,
        hits: dict[str, float],
        cased: list[tuple[str, float]],
        present: set[str],
    ) -> None:
        """Count the taxonomy's phrases in ``written`` into ``hits``, collect its cased AI
        terms into ``cased`` and the stems that unmake them into ``present``. Only words
        with a role are visited: a few dozen, not the whole text."""
        roles = matcher.roles(written)
        candidates = list(compress(count(), roles))
        if not candidates:
            return
        stem, folded, phrases = matcher.stem, matcher.folded, matcher.phrases
        compound = matcher.compound
        blanked = _excluded(written, roles, candidates, matcher)
        covered: dict[str, int] = {}  # key -> the first word after its last phrase
        shouting: bool | None = None
        end = len(written)
        for i in candidates:
            if i in blanked:
                continue
            role = roles[i]
            weight = position or (LEAD_WEIGHT if i < LEAD_WORDS else 1.0)
            stemmed, exact = role & _STEMMED, (role & _EXACT) >> 4
            for n in range(min(max(stemmed, exact), end - i), 0, -1):
                if n == 1:
                    word = written[i]
                    keys: list[tuple[str, ...]] = [(stem[word],)] if stemmed else []
                    if exact:
                        keys.append((EXACT, folded[word]))
                    if word in compound:
                        keys.append(compound[word])
                elif blanked and not blanked.isdisjoint(range(i, i + n)):
                    continue
                else:
                    span = written[i : i + n]
                    keys = [tuple(map(stem.__getitem__, span))] if n <= stemmed else []
                    if n <= exact:
                        keys.append((EXACT, *map(folded.__getitem__, span)))
                for key in keys:
                    for entry in phrases.get(key, ()):
                        if covered.get(entry.key, 0) <= i:  # not inside a longer phrase
                            hits[entry.key] = hits.get(entry.key, 0.0) + entry.weight * weight
                            if entry.key == "ai" and entry.weight >= STRONG:
                                hits[NAMED] = hits.get(NAMED, 0.0) + weight
                            covered[entry.key] = i + n
            if role & _UNLESS:
                present.add(stem[written[i]])
            if role & _CASED and covered.get("ai", 0) <= i:
                if shouting is None:
                    shouting = _shouting(written)
                if not shouting:
                    cased.append((written[i], STRONG * weight))
                    covered["ai"] = i + 1


def _strength(hits: float) -> float:
    return 1 - math.exp(-hits / SATURATION)


def _evidence(hits: dict[str, float], spelled: float, relevance: float) -> tuple[float, ...]:
    """The taxonomy's findings as the model reads them: the strength of the AI,
    entertainment, other-industry and fiction signals and of the AI uses named, the rules'
    relevance, and whether AI was named only by an acronym (1) or not (0)."""
    uses = sum(v for k, v in hits.items() if k.startswith("use/"))
    return (
        _strength(hits.get("ai", 0.0)),
        _strength(hits.get("entertainment", 0.0)),
        relevance,
        _strength(hits.get("other", 0.0)),
        _strength(hits.get("fiction", 0.0)),
        _strength(uses),
        float(spelled == 0 < hits.get("ai", 0.0)),
    )


def _shouting(written: list[str]) -> bool:
    """Mostly capitals: then AI or KI may be any word of a headline."""
    sample = written[:200]
    return sum(w.isupper() for w in sample) > 0.6 * len(sample)


def _excluded(
    written: list[str], roles: list[int], candidates: list[int], matcher: _Matcher
) -> set[int]:
    """Positions of the excluded phrases (names such as Ai Weiwei): read as no words."""
    blanked: set[int] = set()
    for i in candidates:
        if roles[i] & _EXCLUDED:
            for phrase in matcher.exclude[matcher.stem[written[i]]]:
                n = len(phrase)
                if tuple(map(matcher.stem.__getitem__, written[i : i + n])) == phrase:
                    blanked.update(range(i, i + n))
    return blanked
