"""Words of an article, as duplicate detection and story clustering see them."""

from __future__ import annotations

import re
import unicodedata
from functools import cache, lru_cache
from typing import NamedTuple

import Stemmer

# Words, with dotted initials kept whole (A.I., U.S.) so that "A.I." can be told from "AI".
_WORD = re.compile(r"[^\W_]+(?:\.[^\W_]\.)*", re.UNICODE)
_TERM = re.compile(r"[^\W\d_][\w'’]*|\d+", re.UNICODE)

# Function words of the feeds' main languages; they say nothing about which story it is.
STOPWORDS = frozenset(
    """
    a about after again all also an and any are as at be been before being both but by can
    could did do does down each few for from further had has have he her here hers him his how
    i if in into is it its just me more most my no nor not now of off on once one only or other
    our out over own same she should so some such than that the their them then there these
    they this those through to too two under until up very was we were what when where which
    while who whom why will with would you your says said say new year years week day time
    told just like get got make made back first last
    el la los las un una unos unas y o de del al en con por para que es son fue ser se su sus
    lo le les como más pero sin sobre entre este esta estos estas ese esa ya muy también
    le la les un une des et ou de du au aux en dans par pour que qui est sont été être se sa
    son ses ce cette ces il elle ils elles nous vous sur avec sans plus mais pas ne aussi
    der die das den dem des ein eine einen einem eines und oder zu im in mit von für auf ist
    sind war wurde werden sich sie er es wir ihr nicht auch noch nach bei aus als wie dass
    """.split()
)

# Capitalised by convention, not names: the days and months say when, not who or where.
CALENDAR = frozenset(
    """
    monday tuesday wednesday thursday friday saturday sunday january february march april
    may june july august september october november december montag dienstag mittwoch
    donnerstag freitag samstag sonntag januar februar märz mai juni juli oktober dezember
    """.split()
)

# German writes every noun with a capital: there a capitalised word after an article or an
# inflected adjective ("der Vertrag", "neuen Verträgen") is a noun, not a name.
_GERMAN_ARTICLES = frozenset(
    """
    der die das den dem des ein eine einen einem einer eines kein keine keinen keinem keiner
    keines zum zur im am vom beim ins ans sein ihr unser euer
    """.split()
)
_GERMAN_INFLECTIONS = ("e", "en", "er", "es", "em")
# Lowercase words with those endings that are no adjectives: prepositions and conjunctions
# ("gegen Lufthansa", "oder Siemens"); verbs in the past ("sagte Müller") end in -te.
_GERMAN_NOT_ADJECTIVES = frozenset(
    """
    gegen unter über hinter neben zwischen wegen während ohne oder aber sondern gegenüber
    außer innerhalb außerhalb oberhalb unterhalb seitens entlang haben werden wurden waren
    """.split()
)

_STEMMERS = {"en": "english", "es": "spanish", "fr": "french", "de": "german", "it": "italian",
             "pt": "portuguese", "nl": "dutch"}  # fmt: skip
STEMMED = tuple(_STEMMERS)  # the languages stemmed as written; any other as English


@cache
def stemmer(language: str) -> Stemmer._Stemmer:
    return Stemmer.Stemmer(_STEMMERS.get(language, "english"))


def title_case(words: list[str]) -> bool:
    long_words = [w for w in words if len(w) > 3]
    return bool(long_words) and sum(w[:1].isupper() for w in long_words) > 0.6 * len(long_words)


_SENTENCE = re.compile(r"(?<=[.!?:;\"“”])\s+|\n+")


class Term(NamedTuple):
    stem: str
    weight: float  # ``name_weight`` for a name, 1 otherwise
    opener: bool  # a name only by opening its sentence: "Netflix said"


def weighted_terms(text: str, language: str | None = None, name_weight: float = 1.0) -> list[Term]:
    """Stemmed content words with a weight: ``name_weight`` for names (capitalised inside a
    sentence, or all capitals), 1 otherwise. In Title Case text capitals say nothing.

    A sentence's first word carries no weight, but outside German it is an ``opener`` when
    the text never writes it small: weak evidence, good enough to say what a lead is about."""
    text = unicodedata.normalize("NFKC", text)
    found = _TERM.findall(text)
    names = name_weight != 1.0 and not title_case(found)
    lower = {w for w in found if w.islower()}  # a word written small somewhere is no name
    german = (language or "").startswith("de")
    kept: list[str] = []
    weights: list[float] = []
    openers: list[bool] = []
    for sentence in _SENTENCE.split(text):
        previous = ""
        for position, word in enumerate(_TERM.findall(sentence)):
            before, previous = previous, word
            lowered = word.lower().replace("’", "'").strip("'")
            if len(lowered) < 2 or lowered in STOPWORDS:
                continue
            kept.append(lowered)
            if not names or word.isdigit() or lowered in CALENDAR:
                weights.append(1.0)
                openers.append(False)
                continue
            # Short acronyms (AI, TV, VFX, CEO) are vocabulary; SAG-AFTRA or NETFLIX are names.
            acronym = word.isupper() and len(word) > 1
            capital = (acronym and len(word) > 3) or (
                not acronym and word[:1].isupper() and position > 0
            )
            if capital and german and not acronym:
                capital = before not in _GERMAN_ARTICLES and not (
                    before.islower()
                    and before.endswith(_GERMAN_INFLECTIONS)
                    and not before.endswith("te")
                    and before not in _GERMAN_NOT_ADJECTIVES
                )
            weights.append(name_weight if capital else 1.0)
            openers.append(
                position == 0
                and not german
                and not acronym
                and word[:1].isupper()
                and lowered not in lower
            )
    stems = stemmer(language or "en").stemWords(kept)
    return list(map(Term._make, zip(stems, weights, openers, strict=True)))


@lru_cache(maxsize=16)
def words(text: str) -> list[str]:
    """The words of ``text`` as written (NFKC). Cached for the few texts in flight, since
    relevance and enrichment read the same article; callers must not change the list."""
    if not text.isascii() and not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    return _WORD.findall(text)


def fold(word: str) -> str:
    """Lower case without accents."""
    if word.isascii():
        return word.lower()
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))
