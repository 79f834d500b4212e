"""What the benchmarks share: synthetic article pages (real-looking markup, random prose),
running a command while sampling the memory of its whole process tree, the split of a
development set into a tuning part and a part held out of tuning, and the labelled
relevance sets with that split."""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import psutil

WORDS = (
    "the studio said on tuesday that its new tools would speed up production while unions "
    "asked for consent and pay when a performer's likeness is used again by a model trained "
    "on archives of film television music games and books across the industry this season "
    "executives analysts artists writers actors voice dubbing visual effects streaming "
    "release budget audience rights agreement contract festival box office premiere label"
).split()
AI_LEAD = (
    "Generative AI is reshaping how the film and television industry works, and the studio "
    "said its artificial intelligence tools would be used in visual effects and dubbing."
)


def page(rng: random.Random, title: str, on_topic: bool, extra: str = "") -> bytes:
    """An article page of random words from the trade-press vocabulary, led by a paragraph
    on AI in film and TV if ``on_topic``; ``extra`` is HTML added inside the article."""
    paragraphs = [
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(40, 70))).capitalize() + "."
        for _ in range(rng.randint(4, 7))
    ]
    if on_topic:
        paragraphs.insert(0, AI_LEAD)
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>"
        f"</head><body><header><nav><a href='/'>Home</a> <a href='/news'>News</a></nav>"
        f"</header><main><article><h1>{title}</h1><p class='byline'>By Alex Writer</p>"
        f"{body}{extra}</article></main><footer><p>All rights reserved.</p></footer></body></html>"
    ).encode()


def measured(
    command: list[str], env: Mapping[str, str] | None = None
) -> tuple[float, int, int, subprocess.CompletedProcess[str]]:
    """Run ``command``; its wall-clock seconds, the peak resident memory of it and its
    children together and of the command alone (sampled every 0.1 s), and how it ended.
    Summing the tree counts pages shared by forked processes more than once."""
    started = time.perf_counter()
    child = psutil.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    peak = alone = 0
    while child.poll() is None:
        try:
            tree = [child, *child.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
            alone = max(alone, child.memory_info().rss)
        except psutil.Error:
            pass
        time.sleep(0.1)
    seconds = time.perf_counter() - started
    out, err = child.communicate()
    return seconds, peak, alone, subprocess.CompletedProcess(command, child.returncode, out, err)


HELD_OUT = 0.3  # the share of a development set kept out of tuning


def held_out(name: str) -> bool:
    """Whether the item of this name (a page, a headline, a pair of events) is in the part
    of its set held out of tuning: 30% of any set, by a hash of the name, the same in
    every run."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < HELD_OUT


# The labelled relevance sets: the first written with the taxonomy, the second by a writer
# out to make the filter fail, who had read its rules, the third likewise after the
# taxonomy was tuned on the first two, and held out whole; the others by writers in each
# language who had not seen the taxonomy, each in the manner of other outlets (general,
# trade, wire, regional, culture and business news; people, technology, politics and
# opinion pages; broadcasters' web copy, the specialist press, critics' reviews, podcast
# and radio news, the creator economy, international entertainment desks, press releases,
# event reports, the legal and labour beat, youth and fandom sites, newsletters' briefs,
# magazine features and profiles), one written to beat a keyword filter, one plain
# coverage that names AI as most news does.
RELEVANCE_SETS = {
    "relevance_set.jsonl": "own",
    "relevance_adversarial.jsonl": "adversarial",
    "relevance_fresh.jsonl": "fresh",
    "relevance_broad.jsonl": "broad",
    "relevance_trade.jsonl": "trade",
    "relevance_press.jsonl": "press",
    "relevance_regional.jsonl": "regional",
    "relevance_culture.jsonl": "culture",
    "relevance_business.jsonl": "business",
    "relevance_hard.jsonl": "hard",
    "relevance_celebrity.jsonl": "celebrity",
    "relevance_tech.jsonl": "tech",
    "relevance_policy.jsonl": "policy",
    "relevance_opinion.jsonl": "opinion",
    "relevance_plain.jsonl": "plain",
    "relevance_broadcast.jsonl": "broadcast",
    "relevance_specialist.jsonl": "specialist",
    "relevance_reviews.jsonl": "reviews",
    "relevance_audio.jsonl": "audio",
    "relevance_creators.jsonl": "creators",
    "relevance_international.jsonl": "international",
    "relevance_releases.jsonl": "releases",
    "relevance_events.jsonl": "events",
    "relevance_legal.jsonl": "legal",
    "relevance_fandom.jsonl": "fandom",
    "relevance_briefs.jsonl": "briefs",
    "relevance_features.jsonl": "features",
}
# Held out whole, never trained on: the third set, and the last four, each a new writer's
# and a new kind of outlet: what the filter does on news it has not met.
HELD_OUT_WHOLE = frozenset(("fresh", "legal", "fandom", "briefs", "features"))


def labelled_items() -> list[dict[str, Any]]:
    """Every labelled relevance item, with its ``origin`` (the set's short name) and its
    ``part``: "held out" (the sets of ``HELD_OUT_WHOLE``, and 30% of the others by a hash
    of the headline) or "tune"."""
    items = []
    for name, origin in RELEVANCE_SETS.items():
        path = Path(__file__).resolve().parent / "data" / name
        for line in path.read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            whole = origin in HELD_OUT_WHOLE
            part = "held out" if whole or held_out(item["title"]) else "tune"
            items.append({**item, "origin": origin, "part": part})
    return items


def huffpost_items(data: Path) -> list[dict[str, Any]]:
    """The HuffPost News Category items of ``data`` (../shared/data), as
    ``headline``, ``short_description``, ``category``..."""
    path = data / "topics" / "huffpost-news-category-first10000.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def precision_recall(accepted: Iterable[bool], relevant: Iterable[bool]) -> tuple[float, float]:
    tp = fp = fn = 0
    for a, r in zip(accepted, relevant, strict=True):
        tp += a and r
        fp += a and not r
        fn += r and not a
    return tp / max(1, tp + fp), tp / max(1, tp + fn)
