"""Duplicates and stories against ../shared/data, with one configuration, in one run.

- UCI News Aggregator headlines (STORY as gold): B-cubed precision/recall/F1 and ARI.
- WikiRef220 full texts: the same, in file order and in three shuffled orders.
- The look-alike stress sets written for this project (``bench/data/lookalike_events*.jsonl``):
  pairs of different events of one kind whose coverage interleaves, over 20 days; short
  articles in four languages, and full-length ones whose look-alikes share a background.
- BBC News: the 50 exact-duplicate texts found, and every further pair listed with an
  independent check (word-sequence similarity) so a person can judge it.
- ``newsflow cluster`` over synthetic articles of 2-5 KB (made here): docs/s, peak RSS,
  and the dedup index alone in docs/s.

Usage: ``python bench/cluster_bench.py [--synthetic N] [--data DIR]``.
"""

from __future__ import annotations

import argparse
import csv
import difflib
import itertools
import json
import random
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common import held_out

from pipeline.stages.dedup import DedupIndex, find_duplicates
from pipeline.stages.stories import StoryDoc, StoryIndex, group

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"


def bcubed(pred: list[Any], gold: list[Any]) -> tuple[float, float, float]:
    by_pred, by_gold = defaultdict(set), defaultdict(set)
    for i, (p, g) in enumerate(zip(pred, gold, strict=True)):
        by_pred[p].add(i)
        by_gold[g].add(i)
    precision = recall = 0.0
    for p, g in zip(pred, gold, strict=True):
        shared = len(by_pred[p] & by_gold[g])
        precision += shared / len(by_pred[p])
        recall += shared / len(by_gold[g])
    precision, recall = precision / len(pred), recall / len(pred)
    return precision, recall, 2 * precision * recall / (precision + recall)


def adjusted_rand(pred: list[Any], gold: list[Any]) -> float:
    def pairs(n: int) -> float:
        return n * (n - 1) / 2

    table = Counter(zip(pred, gold, strict=True))
    index = sum(pairs(n) for n in table.values())
    a = sum(pairs(n) for n in Counter(pred).values())
    b = sum(pairs(n) for n in Counter(gold).values())
    expected = a * b / pairs(len(pred))
    top = (a + b) / 2
    return (index - expected) / (top - expected) if top != expected else 1.0


def cluster(docs: list[StoryDoc]) -> list[str]:
    index = StoryIndex()
    assigned = [(doc.id, story) for doc, story, _ in group(docs, DedupIndex(), index)]
    return [index.final(doc_id, story) for doc_id, story in assigned]


def report(name: str, pred: list[str], gold: list[str]) -> tuple[float, float, float, float]:
    p, r, f = bcubed(pred, gold)
    ari = adjusted_rand(pred, gold)
    print(f"  {name:<34} B3 P {p:.3f}  R {r:.3f}  F1 {f:.3f}   ARI {ari:.3f}   "
          f"{len(set(pred))} stories / {len(set(gold))} gold")  # fmt: skip
    return p, r, f, ari


def uci(data: Path) -> None:
    with (data / "clustering" / "uci-news-aggregator-first6366.csv").open(encoding="utf-8") as f:
        rows = sorted(csv.DictReader(f), key=lambda r: int(r["TIMESTAMP"]))
    docs = [
        StoryDoc(
            id=r["ID"],
            title=r["TITLE"],
            text=None,
            published_at=datetime.fromtimestamp(int(r["TIMESTAMP"]) / 1000, UTC),
            source=r["HOSTNAME"],
        )
        for r in rows
    ]
    started = time.perf_counter()
    pred = cluster(docs)
    rate = len(docs) / (time.perf_counter() - started)
    report(f"UCI headlines ({len(docs)}, {rate:.0f}/s)", pred, [r["STORY"] for r in rows])


def wikiref(data: Path) -> None:
    items = []
    for path in sorted((data / "clustering" / "wikiref220").glob("*.txt")):
        if path.name.startswith("README"):
            continue
        gold = re.sub(r"\s*\(\d+\)\.txt$|\.\d+\.txt$", "", path.name)
        lines = [
            line.strip()
            for line in path.read_text(encoding="cp1252", errors="replace").splitlines()
        ]
        lines = [line for line in lines if line]
        items.append((path.name, lines[0] if lines else "", "\n".join(lines[1:]), gold))
    scores = []
    for seed in (None, 1, 2, 3):
        order = list(items)
        if seed is not None:
            random.Random(seed).shuffle(order)
        pred = cluster([StoryDoc(id=i[0], title=i[1], text=i[2]) for i in order])
        label = "file order" if seed is None else f"shuffled, seed {seed}"
        scores.append(report(f"WikiRef220 ({label})", pred, [i[3] for i in order]))
    print(f"  {'WikiRef220 mean of 4 orders':<34} B3 F1 {sum(s[2] for s in scores) / 4:.3f}")


# Look-alike stress sets written for this project: short articles (about 125 words) in
# four languages, and full-length ones (400-650 words) whose look-alike events share
# their background (the same unions, agencies, rivals), as real coverage does.
LOOKALIKES = {
    "look-alikes": ROOT / "bench" / "data" / "lookalike_events.jsonl",
    "look-alikes, long": ROOT / "bench" / "data" / "lookalike_events_long.jsonl",
}


def lookalikes(name: str, path: Path, days: int = 20) -> None:
    """A look-alike stress set: pairs of different events of one kind (two guild votes, two
    earthquakes), three articles each from three outlets, in four streams each; B-cubed on
    all, and on the pairs held out of tuning (scored among themselves). In bursts (full
    texts, then headlines alone), the two events of a pair break within a day of each
    other, on a day of ``days``; an event's first two reports come within 12 hours, its
    follow-up a day or two later, so a pair's coverage interleaves, and with that of the
    other pairs. In random order (full texts), every article comes at a random time of
    the ``days``: time says nothing, and an event's reports may be weeks apart."""
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    start = datetime(2026, 3, 1, tzinfo=UTC)
    hour = timedelta(hours=1)
    events, pairs = [i["event"] for i in items], [i["pair"] for i in items]
    after = {"first": (0, 0), "second": (0, 12), "follow-up": (24, 48)}
    runs = (("full text", True, True), ("headlines", False, True),
            ("random order", True, False))  # fmt: skip
    for label, with_text, bursts in runs:
        scores: list[tuple[float, ...]] = []
        for seed in (1, 2, 3, 4):
            rng = random.Random(seed)
            if bursts:
                pair_day = {pair: rng.uniform(0, days - 2) for pair in dict.fromkeys(pairs)}
                breaks = {
                    event: start + timedelta(days=pair_day[pair]) + rng.uniform(0, 24) * hour
                    for event, pair in dict.fromkeys(zip(events, pairs, strict=True))
                }
                times = [breaks[i["event"]] + rng.uniform(*after[i["role"]]) * hour for i in items]
            else:
                times = [start + rng.uniform(0, days * 24) * hour for _ in items]
            timed = sorted((at, n) for n, at in enumerate(times))
            order = [items[n] for _, n in timed]
            docs = [
                StoryDoc(
                    id=f"{i['event']}/{i['role']}",
                    title=i["title"],
                    text=i["text"] if with_text else None,
                    published_at=at,
                    source=i["outlet"],
                    language=i["language"],
                )
                for (at, _), i in zip(timed, order, strict=True)
            ]
            pred, gold = cluster(docs), [i["event"] for i in order]
            held = [n for n, i in enumerate(order) if held_out(i["pair"])]
            scores.append((*bcubed(pred, gold), bcubed([pred[n] for n in held],
                                                       [gold[n] for n in held])[2]))  # fmt: skip
        p, r, f, h = (sum(s[k] for s in scores) / len(scores) for k in range(4))
        print(f"  {f'{name}, {label}':<34} B3 P {p:.3f}  R {r:.3f}  F1 {f:.3f}   "
              f"held-out pairs F1 {h:.3f}   {len(items)} articles / "
              f"{len(set(events))} events, 4 orders")  # fmt: skip


def bbc(data: Path) -> None:
    with (data / "dedup" / "bbc-news-train.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    groups: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        groups[row["Text"].strip()].append(row["ArticleId"])
    gold = {tuple(sorted(p)) for ids in groups.values() for p in itertools.combinations(ids, 2)}
    index = DedupIndex()
    started = time.perf_counter()
    for _ in find_duplicates(((r["ArticleId"], None, r["Text"]) for r in rows), index):
        pass
    rate = len(rows) / (time.perf_counter() - started)
    members: dict[str, list[str]] = defaultdict(list)
    for article, root in zip(index.ids, index.roots, strict=True):
        members[root].append(article)
    found = {tuple(sorted(p)) for ids in members.values() for p in itertools.combinations(ids, 2)}
    text = {r["ArticleId"]: r["Text"].split() for r in rows}
    extra = sorted(found - gold)
    similar = [
        difflib.SequenceMatcher(None, text[a], text[b], autojunk=False).ratio() for a, b in extra
    ]
    near = sum(s >= 0.75 for s in similar)
    print(f"  BBC exact duplicates found: {len(found & gold)} of {len(gold)} ({rate:.0f} docs/s)")
    print(f"  further pairs flagged: {len(extra)}: revised copies of one article (word-sequence "
          f"similarity >= 0.75): {near}; false pairs (below): {len(extra) - near}")  # fmt: skip
    for (a, b), s in sorted(zip(extra, similar, strict=True), key=lambda x: x[1])[:5]:
        print(f"    lowest: {a}~{b} similarity {s:.2f}: {' '.join(text[a][:9])} …")


WORDS = (
    "studio streamer union actors writers voice clone model training rights deal licence "
    "film series season episode trailer premiere festival box office album label artist "
    "song tour game console player developer publisher book author novel rights copyright "
    "court lawsuit settlement contract strike vote budget effects animation dubbing script"
).split()


def synthetic(path: Path, count: int, seed: int = 7) -> None:
    """``count`` JSON lines of 2-5 KB: stories of several articles over 30 days, 5% copies."""
    rng = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    vocab = [f"{w}{n}" for w in WORDS for n in range(40)]
    names = [f"Name{n}" for n in range(5000)]
    written: list[str] = []
    with path.open("w", encoding="utf-8") as out:
        for n in range(count):
            if written and rng.random() < 0.05:
                record = json.loads(rng.choice(written[-500:]))
                record["id"] = f"d{n}"
                record["title"] = "Wire: " + record["title"]
            else:
                story = rng.randrange(max(1, count // 8))
                srng = random.Random(story)
                cast = srng.sample(names, 4)
                topic = srng.sample(vocab, 30)
                words = []
                for _ in range(rng.randint(280, 680)):
                    roll = rng.random()
                    pool = cast if roll < 0.05 else topic if roll < 0.5 else vocab
                    words.append(rng.choice(pool))
                when = start + timedelta(minutes=n * 30 * 24 * 60 // max(count, 1))
                record = {
                    "id": f"d{n}",
                    "title": " ".join(words[:10]),
                    "text": " ".join(words),
                    "published_at": when.isoformat(),
                    "source": f"outlet{n % 50}",
                }
            line = json.dumps(record)
            written.append(line)
            if len(written) > 1000:
                del written[:500]
            out.write(line + "\n")


def run_measured(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of a command: its own high-water mark, read from
    /proc while it runs (ru_maxrss of a child would count the parent's pages before exec)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    status = Path(f"/proc/{process.pid}/status")
    peak_kib = 0
    while process.poll() is None:
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak_kib = max(peak_kib, int(line.split()[1]))
        except OSError:
            break
        time.sleep(0.05)
    if process.returncode:
        raise SystemExit(f"{command[0]} failed with {process.returncode}")
    return time.perf_counter() - started, peak_kib / 1024


def throughput(count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "in.jsonl"
        synthetic(source, count)
        size = source.stat().st_size
        newsflow = str(Path(sys.executable).parent / "newsflow")
        out = str(Path(tmp) / "out.jsonl")
        seconds, peak = run_measured([newsflow, "cluster", "--in", str(source), "--out", out])
        average = size / count / 1024
        print(
            f"  newsflow cluster, {count} synthetic articles ({average:.1f} KB average): "
            f"{count / seconds:.0f} docs/s, {seconds:.0f} s, peak RSS {peak:.0f} MiB"
        )
        with source.open(encoding="utf-8") as lines:
            docs = [json.loads(line) for line in itertools.islice(lines, 20000)]
    started = time.perf_counter()
    for _ in find_duplicates(((d["id"], d["title"], d["text"]) for d in docs), DedupIndex()):
        pass
    rate = len(docs) / (time.perf_counter() - started)
    print(f"  dedup index alone (signatures + index, {len(docs)} articles): {rate:.0f} docs/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--synthetic", type=int, default=100_000, help="0 to skip")
    args = parser.parse_args()
    if not args.data.exists():
        raise SystemExit(f"{args.data} not found: the development data sets live in ../shared/data")
    print("Stories (one configuration for headlines and full texts):")
    uci(args.data)
    wikiref(args.data)
    for name, path in LOOKALIKES.items():
        lookalikes(name, path)
    print("Duplicates:")
    bbc(args.data)
    if args.synthetic:
        print("Throughput and memory:")
        throughput(args.synthetic)


if __name__ == "__main__":
    main()
