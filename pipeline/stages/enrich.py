"""Enrichment: the entities an article names, and the rights its outlet declares.

Entities come from a curated gazetteer (``config/entities.yaml``: organisations, people,
works and AI products, each with its spellings) and from patterns over the words: a
person after a role ("actor Jane Doe", "Regisseurin Anna Berg") or beside "said", an
organisation before a corporate word ("Northlight Studios"), a work in quotes after its
kind ("the film “Quiet Hours”") or before a role ("“Quiet Hours” director"). No model, no
download: fast and the same on every machine.

Rights signals say what the outlet allows text-and-data mining and AI crawlers to do:
which known AI crawlers its robots.txt turns away from the article's URL, any TDM
reservation (W3C TDMRep: ``/.well-known/tdmrep.json``, then the ``tdm-reservation``
header, then the ``<meta name="tdm-reservation">`` tag, in that order of precedence), and
``noai`` in the robots meta tag or the ``X-Robots-Tag`` header.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import compress, count
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from protego import Protego

from pipeline.settings import ENTITIES, TAXONOMY, THRESHOLD
from pipeline.stages.relevance import Result, Taxonomy
from pipeline.stages.text import title_case, words
from pipeline.yamlfile import YamlFile

KINDS = ("organisation", "person", "work", "product")
MAX_ENTITIES = 40
TEXT_CHARS = 20_000  # characters of the body read for entities

# Crawlers that collect text for AI training or AI answers, as their operators name them.
AI_CRAWLERS = (
    "GPTBot", "ChatGPT-User", "OAI-SearchBot", "CCBot", "Google-Extended", "anthropic-ai",
    "ClaudeBot", "Claude-Web", "PerplexityBot", "Bytespider", "Applebot-Extended",
    "meta-externalagent", "FacebookBot", "Amazonbot", "cohere-ai", "Diffbot", "Omgilibot",
    "ImagesiftBot", "Timpibot", "YouBot",
)  # fmt: skip
TDMREP_PATH = "/.well-known/tdmrep.json"


class EntitiesError(ValueError):
    pass


# -- entities --------------------------------------------------------------------------

# Words after which a name is a person's: roles in the feeds' languages. Case matters:
# German nouns are capitalised, and the English roles that open sentences ("Actor Jane
# Doe said") are listed capitalised too.
_PERSON_BEFORE = frozenset(
    """
    actor actress actors director directors producer producers singer rapper composer
    Actor Actress Director Producer Singer Rapper Composer Filmmaker Comedian Author
    songwriter screenwriter writer author novelist artist musician comedian filmmaker
    animator showrunner creator star CEO chief executive president chairman chairwoman chair
    founder co-founder cofounder spokesperson spokesman spokeswoman lawyer attorney senator
    Senator Sen Rep Representative judge Judge journalist critic performer dancer host
    actriz cantante directora productor productora guionista escritor escritora fundador
    acteur actrice réalisateur réalisatrice chanteur chanteuse scénariste écrivain fondateur
    Schauspieler Schauspielerin Regisseur Regisseurin Sänger Sängerin Autor Autorin Gründer
    Produzent Produzentin Komponist Komponistin Drehbuchautor Drehbuchautorin
    """.split()
)
_SAID = frozenset("said says told dijo afirmó explicó declaró sagte erklärte betonte".split())
_ORG_AFTER = frozenset(
    """
    Studios Studio Pictures Entertainment Records Games Labs Films Productions Animation
    Interactive Technologies Inc Corp Corporation Ltd LLC GmbH AG SA Guild Union Association
    Alliance Network Media Group Company Agency Foundation Institute Academy
    """.split()
)
_NOT_NAME = frozenset(
    """
    The A An In On At Of For From By With As To And Or But If When While This That These
    Those It Its He She They We You I His Her Their Our Mr Mrs Ms Dr Sir Dame Monday Tuesday
    Wednesday Thursday Friday Saturday Sunday January February March April May June July
    August September October November December AI KI IA TV Hollywood Los El La Le Les Der Die
    Das Un Une Ein Eine New
    """.split()
)
_WORK_BEFORE = frozenset(
    """
    film movie series show sitcom drama documentary album song single track game videogame
    novel book musical play franchise sequel season episode trailer short película serie
    álbum canción videojuego novela libro série chanson jeu roman livre Film Serie Album
    Lied Spiel Roman Buch
    """.split()
)
_WORK_AFTER = frozenset(
    """
    director star stars actor actress creator producer showrunner composer sequel trailer
    remake reboot franchise soundtrack cast author writer
    """.split()
)
# A short span in quotes starting with a capital or a digit. A quote closes where no letter
# follows (not at an apostrophe inside a word); an ASCII apostrophe opens a quote only after
# a space ("the studio's 'Quiet Hours'"), checked by hand since a look-behind in the
# pattern would make the whole scan several times slower.
_QUOTED = re.compile(
    r"[“\"«„‘']\s*([A-Z0-9¿¡ÀÁÉÍÓÚÑÖÜ][^“”\"«»„‘\n]{0,80}?)\s*[”\"»“’'](?![^\W\d_])"
)
# How the words of a name found by pattern may be joined: "Jean-Luc", "O'Brien", "J. K.",
# "Simon & Schuster"; a comma or a line break means the words belong to different things.
_NAME = re.compile(r"[^\W_]+(?:(?:[ '’&-]|\. ?| & )[^\W_]+)*\.?")
# A full stop after a word of two letters or more ends a sentence, unless it abbreviates.
_FULL_STOP = re.compile(r"([^\W_]{2,})\. ")
_ABBREVIATIONS = frozenset("Bros Inc Corp Ltd Co Jr Sr St Mr Mrs Ms Dr Sen Rep".split())


def _one_name(written: str) -> bool:
    """Whether words as written read as one name, not pieces of two sentences."""
    return bool(_NAME.fullmatch(written)) and all(
        stop.group(1) in _ABBREVIATIONS for stop in _FULL_STOP.finditer(written)
    )


# Words after which a name is an organisation's ("the startup Vocalis").
_ORG_BEFORE = frozenset(
    """
    startup start-up company firm streamer broadcaster distributor agency empresa
    productora compañía société entreprise Firma Unternehmen
    """.split()
)
_CUES = _PERSON_BEFORE | _SAID | _ORG_AFTER | _ORG_BEFORE
_ROLES = frozenset(w.lower() for w in _PERSON_BEFORE | _ORG_BEFORE)


def _name_like(word: str) -> bool:
    return word[0].isupper() and word not in _NOT_NAME


def _person_like(word: str) -> bool:
    """A word of a person's name: capitalised, not all capitals unless an initial, not a
    role ("Founder") or a corporate word ("Studios")."""
    return (
        _name_like(word)
        and (len(word) == 1 or not word.isupper())
        and word not in _ORG_AFTER
        and word.lower() not in _ROLES
    )


@dataclass
class Gazetteer:
    """Entity names by their words; each spelling maps to its entry's name and kind."""

    names: dict[tuple[str, ...], tuple[str, str]] = field(default_factory=dict)
    longest: dict[str, int] = field(default_factory=dict)
    # Where a name can begin: the first words of the names and the cue words of patterns.
    wanted: set[str] = field(default_factory=lambda: set(_CUES))

    def add(self, spelling: str, name: str, kind: str) -> tuple[str, str] | None:
        """Index a spelling; returns the entry that already had it, if another did."""
        key = tuple(words(spelling))
        if not key:
            return None
        known = self.names.get(key)
        if known and known != (name, kind):
            return known
        self.names[key] = (name, kind)
        self.longest[key[0]] = max(self.longest.get(key[0], 0), len(key))
        self.wanted.add(key[0])
        return None

    @classmethod
    def load(cls, path: Path | str = ENTITIES) -> Gazetteer:
        doc = YamlFile(path, EntitiesError)
        gazetteer = cls()
        for kind, entries in doc.mapping(doc.root, "the entities file", KINDS).items():
            for name, node in doc.mapping(entries, kind).items():
                for spelling in [name, *doc.strings(node, f"{kind}.{name}")]:
                    other = gazetteer.add(spelling, name, kind)
                    if other:
                        raise doc.fail(node, f"{spelling!r} already names {other[1]} {other[0]!r}")
        return gazetteer

    def find(
        self, written: list[str], positions: Iterable[int]
    ) -> Iterable[tuple[int, int, str, str]]:
        """(start, end, name, kind) of each longest match starting at one of ``positions``
        (in order): the words where a name can begin."""
        longest, names = self.longest, self.names
        end = 0
        for i in positions:
            if i < end or written[i] not in longest:
                continue
            for n in range(min(longest[written[i]], len(written) - i), 0, -1):
                found = names.get(tuple(written[i : i + n]))
                if found:
                    yield i, i + n, found[0], found[1]
                    end = i + n
                    break


def _as_written(text: str, tokens: list[str]) -> str:
    """The name as the text spells it between its words ("O'Brien", "Jean-Luc")."""
    pattern = r"[\W_]{1,3}".join(map(re.escape, tokens))
    found = re.search(pattern, text)
    return found.group(0) if found else " ".join(tokens)


def _patterns(
    text: str, written: list[str], taken: set[int], positions: list[int]
) -> list[tuple[int, str, str]]:
    """(position, name, kind) of persons and organisations found by the cue words among
    ``positions``, where no other name is ``taken``."""
    found: list[tuple[int, str, str]] = []

    def keep(start: int, end: int, kind: str, cue: int) -> None:
        """Keep words ``start:end`` as a name if they and the ``cue`` word beside them are
        written as one phrase (no comma, full stop or line break between them)."""
        if not taken.isdisjoint(range(start, end)):
            return
        phrase = _as_written(text, written[min(start, cue) : max(end, cue + 1)])
        if not _one_name(phrase):
            return
        if cue < start:
            phrase = phrase[len(written[cue]) :].lstrip()
        elif cue >= end:
            phrase = phrase[: -len(written[cue])].rstrip()
        found.append((start, phrase, kind))
        taken.update(range(start, end))

    def person(start: int, step: int) -> tuple[int, int] | None:
        """The words of a person's name from ``start`` on (or back, ``step`` -1): two to
        four, ending on a whole word (not an initial)."""
        end = start
        while abs(end - start) < 4 and 0 <= end < len(written) and _person_like(written[end]):
            end += step
        if end == start:
            return None
        first, last = sorted((start, end - step))
        while last > first and len(written[last]) == 1:
            last -= 1
        return (first, last + 1) if last > first else None

    for i in positions:
        cue = written[i]
        if cue not in _CUES:
            continue
        if cue in _ORG_BEFORE and i + 1 < len(written) and _name_like(written[i + 1]):
            end = i + 1
            while end < len(written) and end - i <= 3 and _name_like(written[end]):
                end += 1
            keep(i + 1, end, "organisation", i)
        elif cue in _PERSON_BEFORE:
            if span := person(i + 1, 1):
                keep(*span, "person", i)
        elif cue in _SAID:
            before = person(i - 1, -1)
            previous = written[before[0] - 1] if before and before[0] > 0 else ""
            if previous and _name_like(previous) and previous.lower() not in _ROLES:
                before = None  # more capitals before it: the name of a thing, not a person
            if span := before or person(i + 1, 1):
                keep(*span, "person", i)
        elif cue in _ORG_AFTER and (i + 1 == len(written) or not _name_like(written[i + 1])):
            # "Northlight Studios", but not "Interactive Media Agreement": the corporate
            # word must end the run of capitals.
            start = i
            while start > 0 and i - start < 3 and _name_like(written[start - 1]):
                start -= 1
            if start < i:
                keep(start, i + 1, "organisation", i)
    return found


_PUNCTUATION = "\"'“”‘’«»„,.;:!?()[]"


def _quoted_works(text: str) -> list[tuple[float, str]]:
    """(share of the text before it, title) of titles in quotes with their kind before
    them or a role after them."""
    works = []
    for match in _QUOTED.finditer(text):
        start = match.start()
        if text[start] == "'" and start > 0 and not text[start - 1].isspace():
            continue  # an apostrophe: "the studio's"
        title = match.group(1).strip(" ,.;:!?")
        if not title or len(title.split()) > 10:
            continue
        before = [w.strip(_PUNCTUATION) for w in text[max(0, start - 40) : start].split()[-3:]]
        after = [w.strip(_PUNCTUATION) for w in text[match.end() : match.end() + 30].split()[:1]]
        if _WORK_BEFORE.intersection(before) or _WORK_AFTER.intersection(after):
            works.append((start / len(text), title))
    return works


def find_entities(
    gazetteer: Gazetteer, title: str | None, text: str | None
) -> list[dict[str, str]]:
    """Named entities, each once, ``{"name", "kind"}``, in order of first mention (the
    title's first). In a Title Case headline every word looks like a name, so only the
    gazetteer reads it."""
    mentions: list[tuple[int, float, str, str]] = []
    wanted = gazetteer.wanted
    for part_number, part in enumerate((title or "", (text or "")[:TEXT_CHARS])):
        written = words(part)
        positions = list(compress(count(), map(wanted.__contains__, written)))
        taken: set[int] = set()
        for start, end, name, kind in gazetteer.find(written, positions):
            mentions.append((part_number, start, name, kind))
            taken.update(range(start, end))
        if part_number == 0 and title_case(written):
            continue
        for start, name, kind in _patterns(part, written, taken, positions):
            mentions.append((part_number, start, name, kind))
        for share, work in _quoted_works(part):
            mentions.append((part_number, share * len(written), work, "work"))
    seen: dict[tuple[str, str], None] = {}
    for _, _, name, kind in sorted(mentions, key=lambda m: (m[0], m[1])):
        seen.setdefault((name, kind))
    # A quoted name that is known as something else ("Sora") is that, not a work.
    other = {name for name, kind in seen if kind != "work"}
    entities = [
        {"name": name, "kind": kind} for name, kind in seen if kind != "work" or name not in other
    ]
    return entities[:MAX_ENTITIES]


# -- relevance and enrichment together --------------------------------------------------


@dataclass(frozen=True)
class Enrichment:
    relevance: Result
    entities: list[dict[str, str]]


class Enricher:
    """Relevance, labels and entities for one article at a time."""

    def __init__(self, taxonomy: Taxonomy, gazetteer: Gazetteer, threshold: float) -> None:
        self.taxonomy = taxonomy
        self.gazetteer = gazetteer
        self.threshold = threshold

    @classmethod
    def load(
        cls,
        taxonomy: Path | str = TAXONOMY,
        entities: Path | str = ENTITIES,
        threshold: float = THRESHOLD,
    ) -> Enricher:
        return cls(Taxonomy.load(taxonomy), Gazetteer.load(entities), threshold)

    def __call__(self, title: str | None, text: str | None, language: str | None) -> Enrichment:
        result = self.taxonomy.classify(title, text, language, self.threshold)
        entities = find_entities(self.gazetteer, title, text) if result.is_relevant else []
        return Enrichment(result, entities)

    def score(self, row: dict[str, Any]) -> bool:
        """Fill an article row's relevance, topics and entities; whether it is relevant."""
        enrichment = self(row["title"], row["text"], row["language"])
        result = enrichment.relevance
        row["relevance"], row["topics"] = result.relevance, result.topics
        row["entities"] = enrichment.entities if result.is_relevant else None
        return result.is_relevant

    def scored(self, row: dict[str, Any]) -> bool:
        """Whether a row scored already (by :meth:`score`, where it was landed) is relevant:
        its relevance as stored (to four places, as the decision reads it) against the bar."""
        return bool(round(row["relevance"], 4) >= self.threshold)


# -- rights ----------------------------------------------------------------------------

# A meta tag, or the end of the head (spelt-out classes: far faster than re.IGNORECASE).
_META_OR_END = re.compile(rb"<[Mm][Ee][Tt][Aa]\s[^>]*>|</[Hh][Ee][Aa][Dd]\s*>")
_ATTRIBUTE = re.compile(rb"""([\w-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")
_HEAD_BYTES = 256 * 1024


def _meta_tags(html: bytes) -> dict[str, str]:
    """``name`` → ``content`` of the rights meta tags (TDM and robots) in the page's head,
    names in lower case; the first of each name counts. One pass over the head, in place:
    these microseconds are paid for every page."""
    tags: dict[str, str] = {}
    for found in _META_OR_END.finditer(html, 0, _HEAD_BYTES):
        tag = found.group(0)
        if tag[1] == ord("/"):
            break  # </head>
        lowered = tag.lower()
        if b"tdm-" not in lowered and b"robots" not in lowered:
            continue  # a head holds dozens of other meta tags
        attributes = {
            m.group(1).lower(): (m.group(2) or m.group(3) or m.group(4) or b"")
            for m in _ATTRIBUTE.finditer(tag)
        }
        name = attributes.get(b"name")
        if name is not None and b"content" in attributes:
            value = attributes[b"content"].decode("utf-8", errors="replace").strip()
            tags.setdefault(name.decode("latin-1").strip().lower(), value)
    return tags


def _reservation(value: object) -> bool | None:
    """TDMRep: 1 reserves, 0 does not; anything else is a protocol error, read as unset."""
    text = str(value).strip()
    return {"1": True, "0": False}.get(text)


@lru_cache(maxsize=256)
def _tdmrep_rules(document: bytes) -> tuple[tuple[re.Pattern[str], dict[str, Any]], ...]:
    """The rules of a ``tdmrep.json``, each with its ``location`` compiled; read once per
    site, since every page of the site brings the same document."""
    try:
        rules = json.loads(document)
    except ValueError:
        return ()
    if not isinstance(rules, list):
        return ()
    compiled = []
    for rule in rules:
        if not isinstance(rule, dict) or not isinstance(rule.get("location"), str):
            continue
        location = rule["location"].strip()
        pattern = ".*".join(map(re.escape, location.split("*")))
        if not location.startswith("/"):
            pattern = "/" + pattern
        compiled.append((re.compile(pattern), rule))
    return tuple(compiled)


def _tdmrep_rule(document: bytes, path: str) -> dict[str, Any] | None:
    """The first rule of a ``tdmrep.json`` whose ``location`` matches ``path``."""
    matching = (rule for pattern, rule in _tdmrep_rules(document) if pattern.fullmatch(path))
    return next(matching, None)


def ai_crawlers_disallowed(robots: Protego, url: str, crawlers: Iterable[str]) -> list[str]:
    """The crawlers that ``robots`` keeps away from ``url``. Most crawlers fall under the
    same group of rules (``*``), so each group is asked once where protego tells which
    group applies (a private method: without it, each crawler is asked)."""
    group_of = getattr(robots, "_get_matching_rule_set", None)
    verdicts: dict[int, bool] = {}
    refused = []
    for crawler in crawlers:
        group = id(group_of(crawler)) if group_of else id(crawler)
        allowed = verdicts.get(group)
        if allowed is None:
            allowed = verdicts[group] = robots.can_fetch(url, crawler)
        if not allowed:
            refused.append(crawler)
    return refused


def page_rights(
    url: str,
    headers: list[tuple[str, str]],
    html: bytes,
    robots: Protego | None,
    tdmrep: bytes | None,
    crawlers: Iterable[str] = AI_CRAWLERS,
) -> dict[str, Any]:
    """The rights signals of one page: the ``rights`` column of its record.

    ``robots`` is the outlet's parsed robots.txt (None when it could not be read);
    ``tdmrep`` the body of its ``/.well-known/tdmrep.json`` (empty when there is none,
    None when it could not be read)."""
    header = {k.lower(): v for k, v in reversed(headers)}
    meta = _meta_tags(html)
    reserved: bool | None = None
    policy = source = None
    rule = _tdmrep_rule(tdmrep, urlsplit(url).path or "/") if tdmrep else None
    candidates = [
        ("tdmrep", rule.get("tdm-reservation") if rule else None, rule and rule.get("tdm-policy")),
        ("header", header.get("tdm-reservation"), header.get("tdm-policy")),
        ("meta", meta.get("tdm-reservation"), meta.get("tdm-policy")),
    ]
    for where, value, declared_policy in candidates:
        if value is not None and _reservation(value) is not None:
            reserved, source = _reservation(value), where
            policy = str(declared_policy).strip() if declared_policy and reserved else None
            break
    directives = f"{meta.get('robots', '')},{header.get('x-robots-tag', '')}".lower()
    return {
        "ai_crawlers_disallowed": None
        if robots is None
        else ai_crawlers_disallowed(robots, url, crawlers),
        "tdm_reserved": reserved,
        "tdm_policy": policy,
        "tdm_source": source,
        "noai": "noai" in {d.strip() for d in re.split(r"[,\s]+", directives)},
    }
