"""Relevance first: a test on a page's raw bytes, before any HTML is parsed, of whether
it might be about AI in entertainment, so that a backfill of every outlet in a crawl
extracts only the few pages that might be.

A page passes when one of the taxonomy's strong AI terms (``signals.ai`` in
``config/topics.yaml``) appears anywhere in its bytes, in markup and scripts too (a page's
JSON-LD and meta tags repeat its headline and description), or when a weak AI term or an
entertainment term appears in its ``<title>`` or its description meta tags: the model may
accept on its meaning alone an article whose AI terms are weak or absent. Weak AI terms
("robot", "software", "generator") are in nearly every page's markup, so they count only
in the title and description.

It errs towards passing: a term is matched as the start of a word (so "deepfake" finds
"deepfakes", and "kino*" any German compound starting so), in the lower-cased page (read
as UTF-8, else as Latin-1) against the term as written (accents included), the cased
terms (AI, KI, A.I.) as whole words as written. Whatever passes is extracted and read by
the full relevance decision; ``bench/backfill_bench.py`` measures how much of what that
decision accepts passes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import ahocorasick

from pipeline.stages.relevance import COMPOUND, EXACT, STRONG, Taxonomy

# The head of a page, as far as its title and description are looked for.
HEAD_CHARACTERS = 64 * 1024
_TITLE = re.compile(r"<title[^>]*>([^<]{1,1000})", re.IGNORECASE)
_META = re.compile(r"<meta\b[^>]{1,3000}>", re.IGNORECASE)
_META_NAME = re.compile(
    r"""(?:name|property)\s*=\s*["']?(?:og:|twitter:)?(?:title|description)["'\s/>]""",
    re.IGNORECASE,
)
_CONTENT = re.compile(r"""content\s*=\s*(["'])(.{1,2000}?)\1""", re.IGNORECASE | re.DOTALL)
_SHORT = 3  # a last word this short ends a word too: "llm" is not "llmore"
# Between the words of a term: up to three spaces, marks or entities ("voice&nbsp;clone").
_GAP = r"(?:[\W_]|&\w{2,6};){1,3}"
# A cased term in running text, not in a token of markup or a script's data ("…/AI+x…"):
# after a space, a tag, a hyphen or an opening mark (or an entity: "l&#39;IA"), and before
# a space, a tag or a mark.
_CASED_BEFORE = r"(?:(?<=[\s>(;\-\"'\u00ab\u2018\u2019\u201c\u201e])|^)"
_CASED_AFTER = r"(?=[\s<.,;:!?)&\"'\u00bb\u2019\u201d-]|$)"


def _text(body: bytes) -> str:
    """The page as text: UTF-8, else Latin-1 (every byte a character)."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body.decode("latin-1")


@dataclass(frozen=True)
class _Term:
    pattern: re.Pattern[str]
    reach: int  # how far the whole term may reach on either side of its anchor


class _Terms:
    """Terms found at once: an Aho-Corasick automaton finds the anchor of each (its longest
    word) in one pass, and the term's pattern is tried around each anchor found."""

    def __init__(self, terms: Iterable[tuple[str, _Term]]) -> None:
        self._automaton = ahocorasick.Automaton()
        anchors: dict[str, list[_Term]] = {}
        for anchor, term in terms:
            anchors.setdefault(anchor, []).append(term)
        for anchor, listed in anchors.items():
            self._automaton.add_word(anchor, (len(anchor), listed))
        if anchors:
            self._automaton.make_automaton()

    def found(self, text: str) -> bool:
        if not len(self._automaton):
            return False
        for end, (length, listed) in self._automaton.iter(text):
            at = end + 1 - length
            for term in listed:
                if term.pattern.search(text, max(0, at - term.reach), at + term.reach):
                    return True
        return False


def _term(term: str) -> tuple[str, _Term] | None:
    """``term`` as its anchor and a pattern over lower-cased text; None for no word."""
    written = term.lower().removeprefix(EXACT)
    leading, trailing = written.startswith(COMPOUND), written.endswith(COMPOUND)
    parts = [w for w in re.split(r"[\s\-_.,'/]+", written.strip(COMPOUND)) if w]
    if not parts:
        return None
    body = _GAP.join(re.escape(p) for p in parts)
    start = "" if leading else r"(?<![a-z0-9])"
    end = r"(?![a-z0-9])" if len(parts[-1]) <= _SHORT and not trailing else ""
    reach = sum(len(p) + 8 for p in parts)
    return max(parts, key=len), _Term(re.compile(start + body + end), reach)


def _cased(term: str) -> tuple[str, _Term]:
    """A cased term (AI, KI) as written, a whole word in running text."""
    pattern = re.compile(_CASED_BEFORE + re.escape(term) + _CASED_AFTER)
    return term, _Term(pattern, len(term) + 1)


class Prefilter:
    """Whether a page's raw bytes might be about AI in entertainment (see the module)."""

    def __init__(self, ai: Iterable[str], cased: Iterable[str], headline: Iterable[str]) -> None:
        self._ai = _Terms(t for t in map(_term, dict.fromkeys(ai)) if t)
        self._cased = _Terms(_cased(term) for term in sorted(set(cased)))
        self._headline = _Terms(t for t in map(_term, dict.fromkeys(headline)) if t)

    @classmethod
    def from_taxonomy(cls, taxonomy: Taxonomy) -> Prefilter:
        cased = taxonomy.cased
        ai = [(t, e) for t, e in taxonomy.terms if e.key == "ai" and t not in cased]
        return cls(
            [t for t, e in ai if e.weight == STRONG],
            cased,
            [t for t, e in ai if e.weight != STRONG]
            + [t for t, e in taxonomy.terms if e.key == "entertainment"],
        )

    def names_ai(self, body: bytes) -> bool:
        """Whether a strong or cased AI term is anywhere in ``body``."""
        return self._names_ai(_text(body))

    def headline_says(self, body: bytes) -> bool:
        """Whether a weak AI term or an entertainment term is in the page's title or its
        description tags."""
        return self._headline_says(_text(body))

    def _names_ai(self, text: str) -> bool:
        return self._cased.found(text) or self._ai.found(text.lower())

    def _headline_says(self, text: str) -> bool:
        head = text[:HEAD_CHARACTERS]
        said = [m.group(1) for m in _TITLE.finditer(head)]
        for tag in _META.finditer(head):
            content = _CONTENT.search(tag.group(0))
            if content and _META_NAME.search(tag.group(0)):
                said.append(content.group(2))
        return bool(said) and self._headline.found("\n".join(said).lower())

    def __call__(self, body: bytes) -> bool:
        text = _text(body)
        return self._names_ai(text) or self._headline_says(text)
