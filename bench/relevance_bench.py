"""Relevance against the project's labelled set and against off-topic pressure, in one run.

- ``bench/data/relevance_*.jsonl`` (``common.RELEVANCE_SETS``): headline+lead items written
  for this project in English, German, French and Spanish, positives across sectors, AI
  uses and languages, and hard negatives of each trap; the second set (adversarial)
  written to make the filter fail (AI in another industry beside an entertainment word,
  "theatre" of war and "Oscars of science", entertainment news naming a tech company,
  "AI", "KI" and "IA" as names and other acronyms, positives that avoid the word AI), the
  third (fresh) likewise, with new traps, after the taxonomy had been tuned on the first
  two, and held out whole; the others (broad, trade, press, regional, culture, business,
  hard, celebrity, tech, policy, opinion, plain, broadcast, specialist, reviews, audio,
  creators, international, releases, events, legal, fandom, briefs, features) by writers
  who had not seen the taxonomy, in the manner of general, trade, wire, regional,
  culture-page, business-page, people, technology, politics, opinion, broadcasters',
  enthusiast, critics', podcast and radio, creator-economy, international-desk, press
  release, event-report, legal and labour, youth and fandom, newsletter and magazine news,
  "hard" to beat a keyword filter and "plain" with no traps set, AI named as most news
  names it.
  Precision and recall of the taxonomy with its model and alone, on each set, on the
  tuning part (which also trains the model) and on the part held out (the third set and
  the last four whole, and 30% of the others by a hash of the headline), set by set, and
  every miss of the tuning part.
- HuffPost News Category (../shared/data/topics, 10,000 items, almost none about AI in
  entertainment): how many the filter accepts; every accepted item is printed to be judged.
- Throughput on one core of classification alone (HuffPost items, synthetic articles)
  and of classification and enrichment together (relevance, labels, entities and rights
  signals) over real articles: the pages of ../shared/data/extraction with their text cut
  to about 4 KB; there also classification with the model's words part alone, for what its
  meaning part costs. Each figure is the best of five rounds: on a shared machine the best
  round is the one least disturbed by others.

Usage: ``python bench/relevance_bench.py [--data DIR] [--collisions] [--show-held-out]``. With
``--collisions`` it lists instead, for each single-word term of the taxonomy that is
stemmed, the words of those texts that share its stem without being a plain inflection of
it ("authority" for "author"): candidates for an exact term ("=author").
"""

from __future__ import annotations

import os

# "On one core": the sentence encoder's numpy too (before numpy is first imported).
os.environ["OPENBLAS_NUM_THREADS"] = "1"

import argparse
import copy
import dataclasses
import gzip
import json
import random
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import Stemmer
from common import RELEVANCE_SETS, held_out, huffpost_items, labelled_items
from protego import Protego

from pipeline.stages.enrich import Gazetteer, find_entities, page_rights
from pipeline.stages.relevance import EXACT, Taxonomy
from pipeline.stages.text import fold, words

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"


def labelled(taxonomy: Taxonomy, show_held_out: bool = False) -> None:
    """Precision and recall on the labelled sets, on their tuning part and on the part held
    out of tuning (by a hash of the headline), with the taxonomy's model and without it, and
    every miss of the tuning part: the held-out misses only with ``show_held_out``, so that
    tuning never reads them."""
    items = labelled_items()
    held = tuple(f"  {origin}" for origin in RELEVANCE_SETS.values())  # held-out part by set
    parts = ("all", *RELEVANCE_SETS.values(), "tune", "held out", *held)
    counts = {part: Counter[str]() for part in parts}
    alone = {part: Counter[str]() for part in parts}  # the taxonomy without its model
    rules = Taxonomy.load(with_model=False)
    misses = []
    for item in items:
        result = taxonomy.classify(item["title"], item["text"], item["language"])
        outcome = _outcome(result.is_relevant, item["relevant"])
        ruled = rules.classify(item["title"], item["text"], item["language"]).is_relevant
        part = item["part"]
        by_set = f"  {item['origin']}" if part == "held out" else None
        for counted in filter(None, ("all", item["origin"], part, by_set)):
            counts[counted][outcome] += 1
            alone[counted][_outcome(ruled, item["relevant"])] += 1
        if outcome in ("fp", "fn") and (part == "tune" or show_held_out):
            label = "false positive" if outcome == "fp" else "missed"
            mark = f" ({item['origin']}{', held out' if part == 'held out' else ''})"
            misses.append(f"    {label:<14} {result.relevance:.2f} {item['language']} "
                          f"{item['kind']}: {item['title']}{mark}")  # fmt: skip
    positives = sum(i["relevant"] for i in items)
    print(f"  labelled set: {len(items)} items ({positives} relevant, "
          f"{len(items) - positives} traps), in four languages")  # fmt: skip
    model = "with its model" if taxonomy.model else "(it has no model)"
    print(f"  {'':<12} {'':>10}  taxonomy {model:<19} taxonomy alone")
    for part, c in counts.items():
        a = alone[part]
        print(f"  {part:<12} {sum(c.values()):>4} items  precision {_p(c)}  recall {_r(c)}"
              f"    precision {_p(a)}  recall {_r(a)}")  # fmt: skip
    print("\n".join(misses))


def _outcome(accepted: bool, relevant: bool) -> str:
    return {(True, True): "tp", (True, False): "fp", (False, True): "fn"}.get(
        (accepted, relevant), "tn"
    )


def _p(c: Counter[str]) -> str:
    return f"{c['tp'] / max(1, c['tp'] + c['fp']):.3f}"


def _r(c: Counter[str]) -> str:
    return f"{c['tp'] / max(1, c['tp'] + c['fn']):.3f}"


def huffpost(taxonomy: Taxonomy, data: Path) -> list[tuple[str, str]]:
    rows = huffpost_items(data)
    docs = [(r["headline"], r["short_description"]) for r in rows]
    scored = [
        (taxonomy.classify(title, text, "en"), r["category"], r["headline"])
        for r, (title, text) in zip(rows, docs, strict=True)
    ]
    accepted = [(c, h) for result, c, h in scored if result.is_relevant]
    share = len(accepted) / len(rows)
    unseen = [h for _, _, h in scored if held_out(h)]  # the model trains on the others
    taken = sum(1 for _, h in accepted if held_out(h))
    print(f"  HuffPost: accepted {len(accepted)} of {len(rows)} ({share:.2%}), {taken} of the "
          f"{len(unseen)} held out of the model's training; every one:")  # fmt: skip
    for category, headline in accepted:
        print(f"    [{category}] {headline}")
    print("  the five highest scores below the bar, to judge the margin:")
    rejected = sorted((s for s in scored if not s[0].is_relevant), key=lambda s: -s[0].relevance)
    for result, category, headline in rejected[:5]:
        print(f"    {result.relevance:.2f} [{category}] {headline}")
    return docs


def best_rate(count: int, work: Callable[[], object], rounds: int = 5) -> float:
    best = float("inf")
    for _ in range(rounds):
        words.cache_clear()
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return count / best


def throughput(taxonomy: Taxonomy, docs: list[tuple[str, str]], label: str) -> None:
    def work() -> None:
        for title, text in docs:
            taxonomy.classify(title, text, "en")

    print(f"  classify, {label}: {best_rate(len(docs), work):.0f} articles/s on one core")


ROBOTS = Protego.parse(
    "User-agent: GPTBot\nUser-agent: CCBot\nDisallow: /\n\n"
    "User-agent: *\nDisallow: /admin/\nDisallow: /search\n"
)


def real_articles(data: Path, chars: int = 4000) -> list[tuple[str, str, str, bytes, str]]:
    """(url, title, text, html, language) of the extraction set's articles of at least
    ``chars`` characters, their text cut to about ``chars``."""
    articles = []
    folder = data / "extraction" / "wcxb-dev"
    for path in sorted((folder / "ground-truth").glob("*.json")):
        truth = json.loads(path.read_text(encoding="utf-8"))
        text = truth["ground_truth"].get("main_content") or ""
        page = folder / "html" / f"{path.stem}.html.gz"
        if len(text) >= chars and page.exists():
            cut = text[:chars].rsplit(" ", 1)[0] if chars else text
            html = gzip.decompress(page.read_bytes())
            title = truth["ground_truth"].get("title") or ""
            articles.append((truth.get("url", ""), title, cut, html, "en"))
    return articles


def enrich_throughput(taxonomy: Taxonomy, data: Path) -> None:
    articles = real_articles(data)
    gazetteer = Gazetteer.load()
    size = sum(len(a[2].encode()) for a in articles) / max(1, len(articles))

    def classify(taxonomy: Taxonomy = taxonomy) -> None:
        for _, title, text, _, language in articles:
            taxonomy.classify(title, text, language)

    words_only = copy.copy(taxonomy)  # the model without its meaning part, for the cost
    if taxonomy.model is not None:
        words_only.model = dataclasses.replace(taxonomy.model, mix=0.0)

    def everything() -> None:  # entities for every article, not only the relevant ones
        for url, title, text, html, language in articles:
            taxonomy.classify(title, text, language)
            find_entities(gazetteer, title, text)
            page_rights(url, [], html, ROBOTS, b"")

    print(f"  {len(articles)} real articles, text {size / 1000:.1f} KB on average:")
    print(f"    classify alone:          {best_rate(len(articles), classify):.0f} articles/s")
    rate = best_rate(len(articles), lambda: classify(words_only))
    print(f"    classify, words only:    {rate:.0f} articles/s (the model's words part alone)")
    print(f"    classify + enrich:       {best_rate(len(articles), everything):.0f} articles/s"
          " (entities and rights signals for every article)")  # fmt: skip


def synthetic(count: int, seed: int = 3) -> list[tuple[str, str]]:
    """Articles of about 4 KB from news-like words, some of them on topic."""
    rng = random.Random(seed)
    words = (
        "the studio said on tuesday that its new film would use tools for visual effects and "
        "that actors and writers had been consulted about the plans for the series while the "
        "union asked for consent and pay and the company reported quarterly results with "
        "streaming growth as music labels and game publishers watched generative AI models"
    ).split()
    return [
        (" ".join(rng.choices(words, k=10)), " ".join(rng.choices(words, k=650)))
        for _ in range(count)
    ]


def collisions(taxonomy: Taxonomy, data: Path, language: str = "en") -> None:
    vocabulary: Counter[str] = Counter()
    for line in (data / "topics" / "huffpost-news-category-first10000.jsonl").open():
        row = json.loads(line)
        vocabulary.update(words(f"{row['headline']} {row['short_description']}"))
    for _, title, text, _, _ in real_articles(data, chars=0):
        vocabulary.update(words(f"{title} {text}"))
    stem = Stemmer.Stemmer("english").stemWord
    by_stem: dict[str, Counter[str]] = {}
    for word, times in vocabulary.items():
        folded = fold(word)
        by_stem.setdefault(stem(folded), Counter())[folded] += times
    print(f"Words sharing the stem of a single-word term ({language}), most frequent first:")
    for term in sorted({t for t, _ in taxonomy.terms if not t.startswith(EXACT)}):
        if len(words(term)) != 1:
            continue
        folded = fold(term)
        others = [
            f"{w} ({n})"
            for w, n in (by_stem.get(stem(folded)) or Counter()).most_common()
            if not (w.startswith(folded) and len(w) - len(folded) <= 2) and w != folded
        ]
        if others:
            print(f"  {term:<20} {', '.join(others[:6])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--collisions", action="store_true", help="list stem collisions")
    parser.add_argument("--show-held-out", action="store_true",
                        help="also list the misses of the part held out of tuning")  # fmt: skip
    args = parser.parse_args()
    taxonomy = Taxonomy.load()
    if args.collisions:
        collisions(taxonomy, args.data)
        return
    print("Relevance:")
    labelled(taxonomy, args.show_held_out)
    if args.data.exists():
        docs = huffpost(taxonomy, args.data)
        throughput(taxonomy, docs, f"{len(docs)} HuffPost headline+description items")
        enrich_throughput(taxonomy, args.data)
    else:
        print(f"  {args.data} not found: HuffPost and real articles skipped")
    throughput(taxonomy, synthetic(5000), "5000 synthetic 4 KB articles, every other word a term")


if __name__ == "__main__":
    main()
