"""Relevance first: a test on a page's raw bytes, before any HTML is parsed, of whether
the full relevance decision could accept it, so that a backfill of every outlet in a crawl
extracts only the pages that might be about AI in entertainment.

The decision (:mod:`pipeline.stages.relevance`) rejects a whole article that names AI by no
strong or cased term of the taxonomy. So a page passes when such a term is in what
extraction could read of it: the page without its scripts (but those holding data: JSON-LD,
a state object), styles and comments, its tags and their attributes (but the title meta
tags) as spaces, its character references decoded. Terms are matched as the decision
matches them, only more loosely:

- folded (lower case, no accents), each word of a term by the start that every inflection
  of it shares (the folded word's common part with its stem in each language the pipeline
  stems: "machine learning" finds "machines learned"), the words of a phrase in a row;
- a German compound's listed part inside a word ("*generator" in "Bildgenerator");
- cased terms (AI, KI, A.I.) as written, as whole words.

So the prefilter lets through every page the decision could accept whose text has
``MIN_WORDS`` words or more (shorter pages are rejected as too short before relevance is
asked); what it lets through beyond those is read and rejected by the decision.
``bench/backfill_bench.py`` measures both.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

import ahocorasick

from pipeline.stages.relevance import COMPOUND, EXACT, STRONG, Taxonomy
from pipeline.stages.text import STEMMED, fold, stemmer, words

# What extraction never reads: scripts but data ones, styles, comments. Every pattern here
# reaches a bounded length from where it starts, so that no page takes quadratic time.
_INERT_START = re.compile(r"<(?:script|style)\b|<!--", re.IGNORECASE)
_CLOSE = {
    "<!--": re.compile("-->"),
    "<script": re.compile("</script", re.IGNORECASE),
    "<style": re.compile("</style", re.IGNORECASE),
}
_DATA_SCRIPT = re.compile(r"json", re.IGNORECASE)  # JSON-LD, __NEXT_DATA__ and the like
_STATE = ("__INITIAL_STATE__", "__PRELOADED_STATE__", "__APOLLO_STATE__")
_TAG = re.compile(r"</?[a-zA-Z!?][^<>]{0,4096}>")  # a longer tag's attributes stay: passing
HEAD_CHARACTERS = 64 * 1024  # where the title meta tags are looked for
_LANG = re.compile(r"""<html\b[^<>]{0,500}?\blang\s*=\s*["']?([a-zA-Z]{2})\b""", re.IGNORECASE)
_META = re.compile(r"<meta\b[^>]{1,3000}>", re.IGNORECASE)
_META_TITLE = re.compile(
    r"""(?:name|property|itemprop)\s*=\s*["']?[\w:.\-]*(?:title|headline)["'\s/>]""",
    re.IGNORECASE,
)
_CONTENT = re.compile(r"""content\s*=\s*(["'])(.{1,2000}?)\1""", re.IGNORECASE | re.DOTALL)
_MARKS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]+")
_LETTER = r"[^\W_]"  # of a word, as :func:`pipeline.stages.text.words` reads them
_TAIL = _LETTER + "{0,40}"  # the rest of a word after the start of a term's word
_GAP = r"[\W_]{1,80}"  # between two words: marks, spaces, removed tags
_FIRST_LETTERS = 3


def _text(body: bytes) -> str:
    """The page as text: UTF-8, else Latin-1 (every byte a character)."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body.decode("latin-1")


def _readable(page: str) -> str:
    """What extraction could read of a page: its title meta tags, then the page without
    scripts, styles, comments and tags, its character references decoded."""
    titles = [
        content.group(2)
        for tag in _META.finditer(page, 0, HEAD_CHARACTERS)
        if _META_TITLE.search(tag.group(0)) and (content := _CONTENT.search(tag.group(0)))
    ]
    return html.unescape("\n".join([*titles, _TAG.sub(" ", _without_inert(page))]))


def _without_inert(page: str) -> str:
    """``page`` without its comments, styles and scripts but data ones (whose text stays),
    in one pass: an element never closed keeps the rest of the page as it is."""
    kept: list[str] = []
    at = 0
    while (found := _INERT_START.search(page, at)) is not None:
        kept.append(page[at : found.start()])
        opening = found.group(0).lower()
        closing = _CLOSE[opening].search(page, found.end())
        if closing is None:
            at = found.start()
            break
        end = closing.start()
        if opening == "<script":
            tag_end = page.find(">", found.end(), end)
            attributes, script = page[found.end() : tag_end], page[tag_end + 1 : end]
            if tag_end >= 0 and (
                _DATA_SCRIPT.search(attributes) or any(s in script for s in _STATE)
            ):
                kept.append(" " + script)
        kept.append(" ")
        closed = page.find(">", end)
        at = len(page) if closed < 0 else closed + 1
    kept.append(page[at:])
    return "".join(kept)


def _languages(page: str) -> tuple[str, ...]:
    """The languages the decision may stem the page's words in: the one it declares (if
    stemmed) and English, the stemmer of every other; every one when it declares none."""
    declared = _LANG.search(page, 0, HEAD_CHARACTERS)
    if declared is None:
        return STEMMED
    language = declared.group(1).lower()
    return (language, "en") if language in STEMMED and language != "en" else ("en",)


def _folded(text: str) -> str:
    """``text`` folded as the decision folds its words: lower case, no accents."""
    if text.isascii():
        return text.lower()
    return _MARKS.sub("", unicodedata.normalize("NFKD", text.lower()))


@dataclass(frozen=True)
class _Term:
    pattern: re.Pattern[str]  # a candidate from its first word on, each word a group
    # The term's words stemmed in each language (None: the pattern is enough).
    stems: dict[str, tuple[str, ...]] | None = None
    inside: bool = False  # found inside a word too: the last part of a compound

    def found(self, text: str, at: int, languages: Iterable[str]) -> bool:
        """Whether the term starts at ``at``."""
        candidate = self.pattern.match(text, at)
        if candidate is None or self.stems is None:
            return candidate is not None
        written = candidate.groups()
        for language in languages:
            if tuple(stemmer(language).stemWords(written)) == self.stems[language]:
                return True
        return False


class _Terms:
    """Terms found at once: an Aho-Corasick automaton finds where each may start (the
    start of its first word) in one pass, and the term is tried there."""

    def __init__(self, terms: Iterable[tuple[str, _Term]]) -> None:
        self._automaton = ahocorasick.Automaton()
        anchors: dict[str, list[_Term]] = {}
        for anchor, term in terms:
            anchors.setdefault(anchor, []).append(term)
        for anchor, listed in anchors.items():
            inside = any(term.inside for term in listed)
            self._automaton.add_word(anchor, (len(anchor), inside, listed))
        if anchors:
            self._automaton.make_automaton()

    def found(self, text: str, languages: Iterable[str] = STEMMED) -> bool:
        if not len(self._automaton):
            return False
        for end, (length, inside, listed) in self._automaton.iter(text):
            at = end + 1 - length
            if at and not inside and text[at - 1].isalnum():
                continue  # inside a word: most of the automaton's finds ("gen" in "agent")
            for term in listed:
                if term.found(text, at, languages):
                    return True
        return False


def _start(word: str) -> str:
    """The start that the inflections of a folded word share: its common part with its
    stem in each language, and at least its first three letters (a stemmer that changes a
    vowel, Dutch "open" to "oop", would leave next to nothing)."""
    stems = [stemmer(language).stemWord(word) for language in STEMMED]
    first, last = min([word, *stems]), max([word, *stems])  # the two least alike
    pairs = enumerate(zip(first, last, strict=False))
    shared = next((i for i, (a, b) in pairs if a != b), len(first))
    return word[: max(shared, _FIRST_LETTERS)]


def _term(term: str) -> tuple[str, _Term] | None:
    """A strong term as its anchor and a _Term over folded text; None for no word.

    A candidate is found by the start that every inflection of each word shares (its
    common part with its stem in each language), then its words are stemmed as the
    decision stems them: "machine learning" finds "machines learned", not "ai" "aims"."""
    exact, compound = term.startswith(EXACT), COMPOUND in term
    parts = [fold(w) for w in words(term.removeprefix(EXACT).strip(COMPOUND))]
    if not parts:
        return None
    starts = [p if exact else _start(p) for p in parts]
    tail = "" if exact else _TAIL
    body = _GAP.join("(" + re.escape(s) + tail + ")" for s in starts) + "(?!" + _LETTER + ")"
    if not term.startswith(COMPOUND):  # the last part of a compound: anywhere in a word
        body = "(?<!" + _LETTER + ")" + body
    stems = None  # an exact term's words are as written; a compound's parts any word's
    if not exact and not compound:
        stems = {language: tuple(stemmer(language).stemWords(parts)) for language in STEMMED}
    return starts[0], _Term(re.compile(body), stems, inside=term.startswith(COMPOUND))


def _cased(term: str) -> tuple[str, _Term]:
    """A cased term (AI, KI, A.I.) as written, a whole word."""
    pattern = re.compile(r"(?<!" + _LETTER + ")" + re.escape(term) + r"(?!" + _LETTER + ")")
    return term, _Term(pattern)


class Prefilter:
    """Whether the relevance decision could accept a page, from its raw bytes (see the
    module)."""

    def __init__(self, ai: Iterable[str], cased: Iterable[str]) -> None:
        self._ai = _Terms(t for t in map(_term, dict.fromkeys(ai)) if t)
        self._cased = _Terms(_cased(term) for term in sorted(set(cased)))

    @classmethod
    def from_taxonomy(cls, taxonomy: Taxonomy) -> Prefilter:
        """The taxonomy's strong AI terms and its cased ones: those that name AI."""
        strong = [t for t, e in taxonomy.terms if e.key == "ai" and e.weight == STRONG]
        return cls([t for t in strong if t not in taxonomy.cased], taxonomy.cased)

    def __call__(self, body: bytes) -> bool:
        page = _text(body)
        text = _readable(page)
        return self._cased.found(text) or self._ai.found(_folded(text), _languages(page))
