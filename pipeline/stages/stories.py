"""Stories: coverage of one event across outlets, grouped as articles stream in.

Articles arrive in publication order. Each is compared with the stories still open (last
article within ``window_days``) and joins the most similar one above the threshold, or
starts a new story. A copy (``duplicate_of`` set) joins its original's story. Story ids
are derived from the article that opened the story, never change once written, and
carry over between runs: the index (term statistics, story centroids, which article is
in which story) is saved in the lake's state and reloaded by the next run.

Representation: TF-IDF over stemmed content words of the title (weighted up) and the
lead, with document frequencies learned from the stream itself, compared by cosine with
each story's centroid, and weighed by how long the story has been quiet.

Event identity: look-alike events (two guild votes, two earthquakes in one week) share
their vocabulary and differ in who and where. A young story, still defined by its first
reports, takes an article only if the two agree on the names they weigh most (the people,
organisations, places and works that a follow-up repeats and a look-alike replaces) and on
the names of their headlines and leads: a look-alike's background may name the other
event's actors, its lead names its own.
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
import math
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.stages.dedup import DedupIndex, find_duplicates
from pipeline.stages.text import weighted_terms

STATE_VERSION = 2  # 2: a story keeps the names of its leads


class StoryStateError(RuntimeError):
    pass


@dataclass(frozen=True)
class StoryParams:
    # Cosine with a story's centroid needed to join it. Short texts share fewer words by
    # nature, so the bar moves from ``short_threshold`` (a headline of ``short_terms``
    # distinct terms or fewer) to ``threshold`` (``long_terms`` or more: an article).
    threshold: float = 0.12
    short_threshold: float = 0.08
    short_terms: int = 12
    long_terms: int = 40
    # A story with no article for this long is closed. Coverage of one event can pause for
    # weeks (a trial, a vote, a sequel to a dispute); the quiet weight below still asks more
    # of an article the longer the story has been quiet.
    window_days: float = 21.0
    max_terms: int = 200_000  # the vocabulary kept for document frequencies, most frequent
    title_weight: float = 3.0
    name_weight: float = 3.0  # weight of names (people, companies, works) over other words
    lead_words: int = 600  # words of the text after the title that count
    query_terms: int = 20  # an article's strongest terms, used to find candidate stories
    postings: int = 200  # most recent stories per term that are considered
    candidates: int = 50  # stories scored in full, the ones sharing most weight with it
    centroid_terms: int = 500  # strongest terms kept per article and per story
    # Two open stories whose centroids are this similar are one story told in two strands:
    # the younger joins the older, if it was opened in this run (written ids never change).
    merge_threshold: float = 0.18
    merge_candidates: int = 3
    # Coverage comes in bursts: the longer a story has been quiet, the more an article
    # must resemble it to join it. Similarity is scaled by 1 / (1 + quiet / quiet_hours),
    # but never below a floor. A headline is weak evidence, so time counts for much
    # (``short_quiet_floor``); a full article can revive a story days later on its words.
    quiet_hours: float = 1.0
    short_quiet_floor: float = 0.2
    quiet_floor: float = 0.7
    # Names must agree while a story has ``name_check_articles`` articles or fewer (a
    # grown story is known by its centroid), in two ways, each checked only when both sides
    # name at least ``min_names`` (``min_core``): a headline may name one. Also checked
    # before two stories merge.
    # - Of the ``top_names`` names that weigh most in the article, or of those that weigh
    #   most in the story, at least ``name_agreement`` of the weight is named by the other.
    # - The same, at least ``core_agreement``, of the names in the first ``core_terms``
    #   terms of the headline and of the text: who and where the report is about. A
    #   look-alike names the other event's actors in its background, rarely in its lead.
    name_check_articles: int = 3
    top_names: int = 10
    name_agreement: float = 0.4
    min_names: int = 3
    core_terms: int = 40
    core_agreement: float = 0.25
    min_core: int = 2


@dataclass
class StoryDoc:
    """What the clusterer needs to know of one article."""

    id: str
    title: str | None
    text: str | None
    published_at: datetime | None = None
    source: str | None = None
    language: str | None = None
    duplicate_of: str | None = None


@dataclass
class Story:
    story_id: str
    headline: str | None
    first_seen: datetime
    last_seen: datetime
    first_article_id: str | None  # the earliest original article (None: only copies so far)
    first_source: str | None
    first_reported_at: datetime | None
    article_ids: list[str] = field(default_factory=list)
    outlets: dict[str, int] = field(default_factory=dict)
    centroid: dict[str, float] = field(default_factory=dict)
    norm: float = 0.0
    names: set[str] = field(default_factory=set)  # the centroid's terms that are names (a subset)
    core: set[str] = field(default_factory=set)  # the names its articles' leads name (a subset)


def _dot(a: dict[str, float], b: dict[str, float]) -> float:
    """The dot product of two sparse vectors, over the terms they share (the set
    intersection runs in C); summed exactly, so that no set order can change it."""
    return math.fsum(a[t] * b[t] for t in a.keys() & b.keys())


def story_id_for(article_id: str) -> str:
    return "st_" + hashlib.sha256(article_id.encode("utf-8")).hexdigest()[:16]


def _ts(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class StoryIndex:
    def __init__(self, params: StoryParams | None = None) -> None:
        self.params = params or StoryParams()
        self.docs = 0
        self.df: Counter[str] = Counter()
        self.stories: dict[str, Story] = {}
        self.story_of: dict[str, str] = {}  # article id → story id
        self._inverted: dict[str, dict[str, None]] = {}  # term → stories, oldest first
        self._clock = datetime(1970, 1, 1, tzinfo=UTC)
        self._swept = self._clock
        self._new: set[str] = set()  # stories opened by this index, not loaded from state
        self.tables: dict[str, int] = {}  # the table versions it matches (kept by the lake)

    # -- assignment -------------------------------------------------------------------

    def _weights(self, doc: StoryDoc) -> tuple[dict[str, float], set[str], set[str]]:
        """The article's unit TF-IDF vector, which of its terms are names, and which of
        those its headline and lead name (in their first ``core_terms`` terms each)."""
        counts: dict[str, float] = {}
        boost: dict[str, float] = {}
        core: set[str] = set()
        openers: set[str] = set()
        lead = " ".join((doc.text or "").split()[: self.params.lead_words])
        for text, weight in ((doc.title or "", self.params.title_weight), (lead, 1.0)):
            terms = weighted_terms(text, doc.language, self.params.name_weight)
            core.update(t.stem for t in terms[: self.params.core_terms])
            for term, name, opener in terms:
                counts[term] = counts.get(term, 0.0) + weight
                boost[term] = max(boost.get(term, 1.0), name)
                if opener:
                    openers.add(term)
        self.docs += 1
        self.df.update(counts.keys())
        weights = {
            t: (1 + math.log(c)) * boost[t] * math.log((self.docs + 1) / (self.df[t] + 0.5))
            for t, c in counts.items()
        }
        if len(weights) > self.params.centroid_terms:
            kept = sorted(weights, key=weights.__getitem__, reverse=True)
            weights = {t: weights[t] for t in kept[: self.params.centroid_terms]}
        norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
        names = {t for t in weights if boost[t] > 1}
        # A lead's subject often opens its sentence ("Netflix said"): there the names are
        # also the words that open a sentence and are never written small.
        lead_names = core & (names | (openers & weights.keys()))
        return {t: w / norm for t, w in weights.items()}, names, lead_names

    def final(self, article_id: str, assigned: str) -> str:
        """The story an article is in now (stories opened in this run can merge)."""
        return self.story_of.get(article_id, assigned)

    def _length(self, vector: dict[str, float]) -> float:
        """0 for a headline (``short_terms`` terms or fewer), 1 for an article."""
        p = self.params
        return min(1.0, max(0.0, (len(vector) - p.short_terms) / (p.long_terms - p.short_terms)))

    def _recency(self, quiet: timedelta, length: float) -> float:
        p = self.params
        floor = p.short_quiet_floor + length * (p.quiet_floor - p.short_quiet_floor)
        hours = max(0.0, quiet.total_seconds() / 3600)
        return max(floor, 1 / (1 + hours / p.quiet_hours))

    def _is_open(self, story: Story, now: datetime) -> bool:
        return now - story.last_seen <= timedelta(days=self.params.window_days)

    def assign(self, doc: StoryDoc) -> str:
        """The story of ``doc``; records it. Assigning an article again gives its story."""
        known = self.story_of.get(doc.id)
        if known is not None:
            return known
        now = doc.published_at or self._clock
        self._clock = max(self._clock, now)
        if self._clock - self._swept > timedelta(days=1):
            self.close_stale(self._clock)
            self._swept = self._clock
        vector, names, core = self._weights(doc)
        strongest = sorted(vector, key=vector.__getitem__, reverse=True)[: self.params.query_terms]
        length = self._length(vector)
        story: Story | None = None
        others: list[Story] = []
        if doc.duplicate_of and doc.duplicate_of in self.story_of:
            story = self.stories.get(self.story_of[doc.duplicate_of])
        if story is None:
            story, others = self._best(vector, names, core, strongest, now, length)
        if story is None:
            story = Story(
                story_id=story_id_for(doc.id),
                headline=doc.title,
                first_seen=now,
                last_seen=now,
                first_article_id=None,
                first_source=None,
                first_reported_at=None,
            )
            self.stories[story.story_id] = story
            self._new.add(story.story_id)
        self._add(story, doc, vector, names, core, strongest, now)
        for other in others:
            story = self._maybe_merge(story, other, length)
        return story.story_id

    def _maybe_merge(self, story: Story, other: Story, length: float) -> Story:
        """Merge ``other`` and ``story`` if their centroids are alike, judged with the time
        weight of the article (of ``length``) that brought them together; returns the
        survivor."""
        if other.story_id not in self.stories or other is story or not other.norm:
            return story
        similarity = _dot(story.centroid, other.centroid)
        apart = max(story.first_seen - other.last_seen, other.first_seen - story.last_seen)
        similarity *= self._recency(apart, length)
        if similarity / (story.norm * other.norm) < self.params.merge_threshold:
            return story
        if not self._names_agree(story.centroid, story.names, story.core, other):
            return story
        keep, gone = sorted((story, other), key=lambda s: (s.first_seen, s.story_id))
        if gone.story_id not in self._new:
            return story
        for article in gone.article_ids:
            self.story_of[article] = keep.story_id
        keep.article_ids.extend(gone.article_ids)
        for outlet, count in gone.outlets.items():
            keep.outlets[outlet] = keep.outlets.get(outlet, 0) + count
        keep.names |= gone.names
        keep.core |= gone.core
        keep.first_seen = min(keep.first_seen, gone.first_seen)
        keep.last_seen = max(keep.last_seen, gone.last_seen)
        if gone.first_reported_at is not None and (
            keep.first_reported_at is None or gone.first_reported_at < keep.first_reported_at
        ):
            keep.first_article_id, keep.first_source = gone.first_article_id, gone.first_source
            keep.first_reported_at, keep.headline = gone.first_reported_at, gone.headline
        for term, weight in gone.centroid.items():
            keep.centroid[term] = keep.centroid.get(term, 0.0) + weight
            posting = self._inverted.get(term)
            if posting is not None and gone.story_id in posting:
                del posting[gone.story_id]
                posting[keep.story_id] = None
        self._trim(keep)
        del self.stories[gone.story_id]
        self._new.discard(gone.story_id)
        return keep

    def _trim(self, story: Story) -> None:
        centroid = story.centroid
        if len(centroid) > self.params.centroid_terms + 50:
            kept = sorted(centroid, key=centroid.__getitem__, reverse=True)
            story.centroid = {t: centroid[t] for t in kept[: self.params.centroid_terms]}
            story.names.intersection_update(story.centroid)
            story.core.intersection_update(story.centroid)
        story.norm = math.sqrt(sum(w * w for w in story.centroid.values()))

    def _names_agree(
        self, vector: dict[str, float], names: set[str], core: set[str], story: Story
    ) -> bool:
        """Whether ``vector`` (an article's, or a story's centroid, whose terms in ``names``
        are names and in ``core`` the names of its leads) and ``story`` name the same
        happening, as far as names tell."""
        p = self.params
        if len(story.article_ids) > p.name_check_articles:
            return True

        def agree(ours: set[str], theirs: set[str], least: int, needed: float) -> bool:
            if len(ours) < least or len(theirs) < least:
                return True
            mine = {t: vector[t] for t in ours}  # names are among the vector's terms
            other = {t: story.centroid[t] for t in theirs}
            return max(known(mine, other), known(other, mine)) >= needed

        def known(weights: dict[str, float], other: dict[str, float]) -> float:
            top = sorted(weights, key=lambda t: (-weights[t], t))[: p.top_names]
            return sum(weights[t] for t in top if t in other) / sum(weights[t] for t in top)

        return agree(names, story.names, p.min_names, p.name_agreement) and agree(
            core, story.core, p.min_core, p.core_agreement
        )

    def _best(
        self,
        vector: dict[str, float],
        names: set[str],
        core: set[str],
        strongest: list[str],
        now: datetime,
        length: float,
    ) -> tuple[Story | None, list[Story]]:
        """The story to join (or None), and the runners-up that also cleared the bar."""
        p = self.params
        overlap: dict[str, float] = {}
        for term in strongest:
            for story_id in itertools.islice(reversed(self._inverted.get(term, {})), p.postings):
                overlap[story_id] = overlap.get(story_id, 0.0) + vector[term]
        candidates = sorted(overlap, key=overlap.__getitem__, reverse=True)[: p.candidates]
        bar = p.short_threshold + length * (p.threshold - p.short_threshold)
        scored = []
        for story_id in candidates:
            story = self.stories.get(story_id)  # postings may still name a merged story
            if story is None or not self._is_open(story, now) or not story.norm:
                continue
            score = _dot(vector, story.centroid) / story.norm
            score *= self._recency(now - story.last_seen, length)
            if score >= bar and self._names_agree(vector, names, core, story):
                scored.append((score, story.story_id, story))
        scored.sort(key=lambda item: (-item[0], item[1]))
        if not scored:
            return None, []
        return scored[0][2], [s for _, _, s in scored[1 : 1 + p.merge_candidates]]

    def _add(
        self,
        story: Story,
        doc: StoryDoc,
        vector: dict[str, float],
        names: set[str],
        core: set[str],
        strongest: list[str],
        now: datetime,
    ) -> None:
        story.article_ids.append(doc.id)
        story.names |= names
        story.core |= core
        if doc.source:
            story.outlets[doc.source] = story.outlets.get(doc.source, 0) + 1
        story.first_seen = min(story.first_seen, now)
        story.last_seen = max(story.last_seen, now)
        first = story.first_reported_at
        if doc.duplicate_of is None and (first is None or now < first):
            story.first_article_id, story.first_source = doc.id, doc.source
            story.first_reported_at, story.headline = now, doc.title or story.headline
        centroid = story.centroid
        for term, weight in vector.items():
            centroid[term] = centroid.get(term, 0.0) + weight
        self._trim(story)
        for term in strongest:
            posting = self._inverted.setdefault(term, {})
            posting.pop(story.story_id, None)  # move to the end: most recent last
            posting[story.story_id] = None
        self.story_of[doc.id] = story.story_id

    def restore(self, doc: StoryDoc, story_id: str) -> None:
        """Record ``doc`` as an article of ``story_id`` (as the tables say it is): how the
        index is rebuilt from the articles table, in publication order."""
        if doc.id in self.story_of:
            return
        now = doc.published_at or self._clock
        self._clock = max(self._clock, now)
        vector, names, core = self._weights(doc)
        strongest = sorted(vector, key=vector.__getitem__, reverse=True)[: self.params.query_terms]
        story = self.stories.get(story_id)
        if story is None:
            story = Story(story_id, doc.title, now, now, None, None, None)
            self.stories[story_id] = story
        self._add(story, doc, vector, names, core, strongest, now)

    def _prune_terms(self) -> None:
        """Keep the document frequencies of the ``max_terms`` most frequent terms: the
        vocabulary stops growing with the history (a term forgotten counts as rare)."""
        if len(self.df) <= self.params.max_terms:
            return
        keep = self.df.most_common(int(self.params.max_terms * 0.8))
        self.df = Counter(dict(keep))

    def close_stale(self, now: datetime) -> list[str]:
        """Forget stories closed for a whole window (they are in the stories table), and
        the rarest terms once the vocabulary is full."""
        self._prune_terms()
        horizon = now - timedelta(days=2 * self.params.window_days)
        stale = [sid for sid, s in self.stories.items() if s.last_seen < horizon]
        for story_id in stale:
            story = self.stories.pop(story_id)
            for article in story.article_ids:
                self.story_of.pop(article, None)
        if stale:
            gone = set(stale)
            for term in list(self._inverted):
                posting = self._inverted[term]
                for story_id in gone.intersection(posting):
                    del posting[story_id]
                if not posting:
                    del self._inverted[term]
        return stale

    # -- persistence ------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        document: dict[str, Any] = {
            "version": STATE_VERSION,
            "params": self.params.__dict__,
            "docs": self.docs,
            "tables": self.tables,
            "clock": _ts(self._clock),
            "df": self.df,
            "stories": [
                {
                    "story_id": s.story_id,
                    "headline": s.headline,
                    "first_seen": _ts(s.first_seen),
                    "last_seen": _ts(s.last_seen),
                    "first_article_id": s.first_article_id,
                    "first_source": s.first_source,
                    "first_reported_at": _ts(s.first_reported_at),
                    "article_ids": s.article_ids,
                    "outlets": s.outlets,
                    "centroid": s.centroid,
                    "names": sorted(s.names),
                    "core": sorted(s.core),
                }
                for s in self.stories.values()
            ],
        }
        return gzip.compress(json.dumps(document, separators=(",", ":")).encode("utf-8"), 6)

    @classmethod
    def from_bytes(cls, data: bytes, where: str, params: StoryParams | None = None) -> StoryIndex:
        try:
            document = json.loads(gzip.decompress(data))
        except (OSError, ValueError) as exc:
            raise StoryStateError(f"{where}: unreadable story index: {exc}") from None
        if not isinstance(document, dict) or document.get("version") != STATE_VERSION:
            raise StoryStateError(f"{where}: not a story index of version {STATE_VERSION}")
        index = cls(params)
        index.docs = int(document["docs"])
        index.tables = dict(document.get("tables") or {})
        index.df = Counter(document["df"])
        index._clock = _dt(document["clock"]) or index._clock
        for item in document["stories"]:
            first_seen, last_seen = _dt(item["first_seen"]), _dt(item["last_seen"])
            assert first_seen is not None and last_seen is not None
            story = Story(
                story_id=item["story_id"],
                headline=item["headline"],
                first_seen=first_seen,
                last_seen=last_seen,
                first_article_id=item["first_article_id"],
                first_source=item["first_source"],
                first_reported_at=_dt(item["first_reported_at"]),
                article_ids=list(item["article_ids"]),
                outlets=dict(item["outlets"]),
                centroid=dict(item["centroid"]),
                names=set(item.get("names") or ()).intersection(item["centroid"]),
                core=set(item.get("core") or ()).intersection(item["centroid"]),
            )
            story.norm = math.sqrt(sum(w * w for w in story.centroid.values()))
            index.stories[story.story_id] = story
            for article in story.article_ids:
                index.story_of[article] = story.story_id
            strongest = sorted(story.centroid, key=story.centroid.__getitem__, reverse=True)
            for term in strongest[: index.params.query_terms]:
                index._inverted.setdefault(term, {})[story.story_id] = None
        return index


def group(
    docs: Iterable[StoryDoc], dedup: DedupIndex, index: StoryIndex
) -> Iterator[tuple[StoryDoc, str, str | None]]:
    """Run articles, in publication order, through duplicate detection and then story
    assignment. Yields (doc, story_id, duplicate_of). A story opened in this run can
    still merge into an older one later in the stream: ``index.final(doc.id, story_id)``
    gives the story an article ended in."""
    pending: deque[StoryDoc] = deque()

    def keyed() -> Iterator[tuple[str, str | None, str | None]]:
        for doc in docs:
            pending.append(doc)
            yield doc.id, doc.title, doc.text

    for _, duplicate_of in find_duplicates(keyed(), dedup):
        doc = pending.popleft()
        doc.duplicate_of = duplicate_of
        yield doc, index.assign(doc), duplicate_of


STORY_TOPICS, STORY_STAKEHOLDERS = 8, 6  # at most this many of each on a story's row
_PARTIES = ("organisation", "person")  # the entities that are a story's stakeholders


def dominant(per_article: list[list[str]], limit: int) -> list[str]:
    """What at least half of the articles have, most common first (ties: first mentioned),
    at most ``limit``."""
    counts: dict[str, int] = {}
    for values in per_article:
        for value in dict.fromkeys(values):  # once per article, in order of first mention
            counts[value] = counts.get(value, 0) + 1
    return _most(counts, len(per_article), limit)


def _time(article: dict[str, Any]) -> datetime:
    return article["published_at"] or article["fetched_at"]  # type: ignore[no-any-return]


def _counts(entries: list[dict[str, Any]] | None) -> dict[str, int]:
    return {entry["name"]: entry["articles"] for entry in entries or []}


def _entries(counts: dict[str, int]) -> list[dict[str, Any]]:
    return [{"name": name, "articles": count} for name, count in counts.items()]


def _most(counts: dict[str, int], among: int, limit: int) -> list[str]:
    """What at least half of ``among`` articles have, most common first (ties: first
    mentioned), at most ``limit``: ``dominant`` from the counts it would make."""
    needed = (among + 1) // 2
    ranked = sorted(counts, key=lambda v: -counts[v])  # stable: ties keep their first mention
    return [v for v in ranked if counts[v] >= needed][:limit]


def advance_story(
    story_id: str, previous: dict[str, Any] | None, articles: list[dict[str, Any]], dt: str
) -> dict[str, Any]:
    """The current row of a story (a row of ``STORIES_SCHEMA`` with its ``dt``) once
    ``articles``, its articles of day ``dt``, joined its row ``previous`` (None: a story
    new to the table). An article the row holds already changes nothing, so building a
    day again gives the same row; the row carries the counts its lists are made from, so
    a story of any length is updated from its row and the day alone.

    The story's first report is its earliest original (not a duplicate), else its
    earliest copy; topics and stakeholders are those at least half its originals (all its
    articles, while it has no original) have."""
    ids = list(previous["article_ids"]) if previous else []
    known = set(ids)
    new = sorted((a for a in articles if a["article_id"] not in known),
                 key=lambda a: (_time(a), a["article_id"]))  # fmt: skip
    outlets = _counts(previous["outlet_counts"]) if previous else {}
    topics = _counts(previous["topic_counts"]) if previous else {}
    parties = _counts(previous["stakeholder_counts"]) if previous else {}
    originals = previous["original_count"] if previous else 0
    first: dict[str, Any] | None = None
    if previous and previous["first_reported_by"]:
        first = {**previous["first_reported_by"], "at": previous["first_reported_at"],
                 "title": previous["headline"]}  # fmt: skip
    first_seen = previous["first_seen"] if previous else None
    last_seen = previous["last_seen"] if previous else None
    for article in new:
        at = _time(article)
        ids.append(article["article_id"])
        outlets[article["source_name"]] = outlets.get(article["source_name"], 0) + 1
        first_seen = at if first_seen is None else min(first_seen, at)
        last_seen = at if last_seen is None else max(last_seen, at)
        original = article["duplicate_of"] is None
        if original and originals == 0:  # the first original: what copies said gives way
            topics, parties, first = {}, {}, None
        if original or originals == 0:
            for name in dict.fromkeys(article.get("topics") or []):
                topics[name] = topics.get(name, 0) + 1
            named = [e["name"] for e in article.get("entities") or [] if e["kind"] in _PARTIES]
            for name in dict.fromkeys(named):
                parties[name] = parties.get(name, 0) + 1
            if first is None or (at, article["article_id"]) < (first["at"], first["article_id"]):
                first = {
                    "article_id": article["article_id"],
                    "at": at,
                    "source_name": article["source_name"],
                    "published_at": article["published_at"],
                    "title": article["title"],
                }
        originals += original
    assert first is not None and first_seen is not None and last_seen is not None, story_id
    among = originals or len(ids)
    by_count = sorted(outlets, key=lambda o: (-outlets[o], o))
    return {
        "story_id": story_id,
        "headline": first["title"],
        "first_seen": first_seen,
        "last_seen": last_seen,
        "article_count": len(ids),
        "outlets": by_count,
        "first_reported_by": {
            "article_id": first["article_id"],
            "source_name": first["source_name"],
            "published_at": first["published_at"],
        },
        "article_ids": ids,
        "topics": _most(topics, among, STORY_TOPICS),
        "stakeholders": _most(parties, among, STORY_STAKEHOLDERS),
        "first_reported_at": first["at"],
        "original_count": originals,
        "outlet_counts": [{"name": o, "articles": outlets[o]} for o in by_count],
        "topic_counts": _entries(topics),  # in order of first mention
        "stakeholder_counts": _entries(parties),
        "dt": max(previous["dt"], dt) if previous else dt,
    }


def story_day_rows(articles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of ``STORY_DAYS_SCHEMA``: what each story gained among ``articles`` (a day's)."""
    members: dict[str, list[dict[str, Any]]] = {}
    for article in articles:
        if article["story_id"]:
            members.setdefault(article["story_id"], []).append(article)
    rows = []
    for story_id in sorted(members):
        group_ = sorted(members[story_id], key=lambda a: (_time(a), a["article_id"]))
        outlets = Counter(a["source_name"] for a in group_)
        rows.append({
            "story_id": story_id,
            "articles_today": len(group_),
            "article_ids": [a["article_id"] for a in group_],
            "outlets": sorted(outlets, key=lambda o: (-outlets[o], o)),
        })  # fmt: skip
    return rows
