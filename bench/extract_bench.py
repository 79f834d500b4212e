"""Extraction benchmark on two development sets of ../shared/data/extraction, in one run:
``newsflow extract`` against bare ``trafilatura.extract`` (its defaults, and
``fast=True``) on the same pages, and against trafilatura's defaults doing what newsflow
does, the text and its metadata (``with_metadata=True``: title, author, date).

- **WCXB dev** (793 news and article pages with reference text): bag-of-words precision,
  recall and F1 (lower-case ``\\w+`` tokens with multiplicity, per page, macro-averaged),
  and title, author and date accuracy.
- **trafilatura-eval** (949 pages in many languages, most not news): trafilatura's own
  snippet metric, each ``with`` snippet found a true positive and missed a false
  negative, each ``without`` snippet found a false positive; precision, recall and F1
  from the sums over the set.

Each set is split by a hash of the page's name: 30% of it is **held out**, never looked
at while tuning, and reported apart (``--split tune`` to see the tuning part alone).
Speed: pages per second of CPU in one process, the extractors taking turns page by page
(so that a shared machine whose speed drifts slows them alike), pages per second of wall
time with two processes, and the ``newsflow extract`` command end to end (start-up
included) with ``--workers 1`` and 2.

Usage: ``python bench/extract_bench.py [--limit N] [--split all|tune|held-out]
[--sets wcxb,trafilatura-eval] [--no-speed]``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trafilatura
from common import held_out

from pipeline.stages.extract import ExtractionError, extract

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "extraction"
WORD = re.compile(r"\w+")


@dataclass
class Page:
    name: str
    path: Path
    html: bytes
    truth: dict[str, Any] = field(default_factory=dict)  # reference text and metadata
    with_: list[str] = field(default_factory=list)  # snippets the text must hold
    without: list[str] = field(default_factory=list)  # snippets it must not


def load_wcxb(root: Path) -> list[Page]:
    pages = []
    for path in sorted((root / "html").glob("*.html.gz")):
        truth = json.loads((root / "ground-truth" / path.name.replace(".html.gz", ".json"))
                           .read_text())["ground_truth"]  # fmt: skip
        if "main_content" in truth:  # one page has no reference text to score against
            pages.append(Page(path.stem, path, gzip.decompress(path.read_bytes()), truth,
                              truth.get("with") or [], truth.get("without") or []))  # fmt: skip
    return pages


def load_trafilatura_eval(root: Path) -> list[Page]:
    entries = json.loads((root / "evaldata.json").read_text())
    pages = []
    for entry in sorted(entries.values(), key=lambda e: e["file"]):
        path = root / "html" / f"{entry['file']}.gz"
        if path.exists():
            html = gzip.decompress(path.read_bytes())
            pages.append(Page(entry["file"], path, html, {}, entry["with"], entry["without"]))
    return pages


SETS: dict[str, tuple[str, Callable[[Path], list[Page]]]] = {
    "wcxb": ("wcxb-dev", load_wcxb),
    "trafilatura-eval": ("trafilatura-eval", load_trafilatura_eval),
}


def norm(text: str | None) -> str:
    return " ".join(WORD.findall((text or "").lower()))


def bag_scores(predicted: str, truth: str) -> tuple[float, float, float]:
    got, want = Counter(WORD.findall(predicted.lower())), Counter(WORD.findall(truth.lower()))
    overlap = sum((got & want).values())
    precision = overlap / sum(got.values()) if got else 0.0
    recall = overlap / sum(want.values()) if want else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def _spaced(text: str) -> str:
    return " ".join(text.split())


def snippet_counts(predicted: str, page: Page) -> tuple[int, int, int]:
    """(true positives, false negatives, false positives) of trafilatura's metric."""
    text = _spaced(predicted)
    found = sum(_spaced(s) in text for s in page.with_)
    wrong = sum(_spaced(s) in text for s in page.without)
    return found, len(page.with_) - found, wrong


def ours(html: bytes) -> dict[str, str | None]:
    try:
        page = extract(html, min_words=1)
    except ExtractionError:
        return {"text": "", "title": None, "author": None, "date": None}
    day = page.published_date or (page.published_at.date() if page.published_at else None)
    date = day.isoformat() if day else None
    return {"text": page.text, "title": page.title, "author": "; ".join(page.authors), "date": date}


def bare(html: bytes) -> dict[str, str | None]:
    return {"text": trafilatura.extract(html) or ""}


def bare_fast(html: bytes) -> dict[str, str | None]:
    return {"text": trafilatura.extract(html, fast=True) or ""}


def bare_metadata(html: bytes) -> dict[str, str | None]:
    """trafilatura's defaults doing what ``newsflow extract`` does: the text, and the title,
    author and date of its metadata."""
    document = trafilatura.bare_extraction(html, with_metadata=True)
    if document is None or isinstance(document, dict):
        return {"text": "", "title": None, "author": None, "date": None}
    return {"text": document.text or "", "title": document.title, "author": document.author,
            "date": document.date}  # fmt: skip


EXTRACTORS: dict[str, Callable[[bytes], dict[str, str | None]]] = {
    "newsflow extract": ours,
    "trafilatura default": bare,
    "trafilatura + metadata": bare_metadata,
    "trafilatura fast=True": bare_fast,
}


def _run(job: tuple[str, bytes]) -> dict[str, str | None]:
    return EXTRACTORS[job[0]](job[1])


def interleaved(pages: list[Page]) -> tuple[dict[str, float], dict[str, list[dict[str, Any]]]]:
    """CPU pages per second of each extractor in one process, and its outputs. The
    extractors take turns page by page, each timed in CPU seconds, so that a machine whose
    speed drifts during the run (a shared one) slows them alike and their ratio holds."""
    for name in EXTRACTORS:  # imports and first-call caches are not counted
        EXTRACTORS[name](pages[0].html)
    spent = dict.fromkeys(EXTRACTORS, 0.0)
    outputs: dict[str, list[dict[str, Any]]] = {name: [] for name in EXTRACTORS}
    for page in pages:
        for name, extractor in EXTRACTORS.items():
            started = time.process_time()
            outputs[name].append(extractor(page.html))
            spent[name] += time.process_time() - started
    return {name: len(pages) / max(spent[name], 1e-9) for name in EXTRACTORS}, outputs


def two_processes(name: str, pages: list[Page]) -> float:
    """Pages per second of wall time of one extractor over the pages with two processes
    (the workers warmed up first)."""
    jobs = [(name, page.html) for page in pages]
    with multiprocessing.get_context("fork").Pool(2) as pool:
        pool.map(_run, jobs[:4])
        started = time.perf_counter()
        pool.map(_run, jobs, chunksize=4)
        return len(pages) / (time.perf_counter() - started)


def quality(outputs: list[dict[str, Any]], pages: list[Page]) -> dict[str, float]:
    """Bag-of-words P/R/F1 where the set has reference text (macro over pages), else the
    snippet metric (micro over the set)."""
    pairs = list(zip(outputs, pages, strict=True))
    if all("main_content" in page.truth for page in pages):
        bags = [bag_scores(o["text"] or "", p.truth["main_content"]) for o, p in pairs]
        precision, recall, f1 = (statistics.fmean(b[i] for b in bags) for i in range(3))
        return {"P": precision, "R": recall, "F1": f1}
    tp = fn = fp = 0
    for o, p in pairs:
        found, missed, wrong = snippet_counts(o["text"] or "", p)
        tp, fn, fp = tp + found, fn + missed, fp + wrong
    precision, recall = tp / max(1, tp + fp), tp / max(1, tp + fn)
    return {"P": precision, "R": recall, "F1": 2 * precision * recall / (precision + recall)}


def metadata_accuracy(outputs: list[dict[str, Any]], pages: list[Page]) -> dict[str, float]:
    """Share of the pages whose reference states a field where the extractor agrees."""
    pairs = list(zip(outputs, pages, strict=True))
    checks: list[tuple[str, str, Callable[[Any, Any], bool]]] = [
        ("title", "title", lambda a, b: norm(a) == norm(b)),
        ("author", "author", lambda a, b: norm(a) == norm(b)),
        ("date", "publish_date", lambda a, b: str(a or "")[:10] == str(b)[:10]),
    ]
    result = {}
    for name, reference, same in checks:
        stated = [(o, p.truth[reference]) for o, p in pairs if p.truth.get(reference)]
        if stated:
            result[name] = statistics.fmean(same(o.get(name), t) for o, t in stated)
    return result


def command_pages_per_s(paths: list[Path], workers: int) -> float:
    """The installed ``newsflow extract`` command end to end, start-up included."""
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        subprocess.run(
            [str(Path(sys.executable).parent / "newsflow"), "extract", *map(str, paths),
             "--workers", str(workers), "--out", f"{tmp}/out.jsonl"],
            check=True, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        return len(paths) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--limit", type=int, default=0, help="only the first N pages of a set")
    parser.add_argument("--split", choices=("all", "tune", "held-out"), default="all")
    parser.add_argument("--sets", default=",".join(SETS), help="which sets, comma-separated")
    parser.add_argument("--no-speed", action="store_true", help="one process, no timings")
    args = parser.parse_args()
    if not args.data.exists():
        raise SystemExit(f"{args.data} not found: the development data sets live in ../shared/data")
    header = (f"{'extractor':<24}{'P':>7}{'R':>7}{'F1':>7}{'F1 tune':>9}{'F1 held':>9}"
              f"{'title':>7}{'author':>7}{'date':>7}{'1 proc':>8}{'2 proc':>8}")  # fmt: skip
    for key in args.sets.split(","):
        folder, load = SETS[key]
        pages = load(args.data / folder)
        if args.split != "all":
            pages = [p for p in pages if held_out(p.name) == (args.split == "held-out")]
        if args.limit:
            pages = pages[: args.limit]
        out = [held_out(p.name) for p in pages]
        print(f"\n{folder}: {len(pages)} pages ({sum(out)} held out); CPU pages/s in 1 process "
              "(taking turns), pages/s with 2")  # fmt: skip
        print(header)
        speeds, every_output = interleaved(pages)
        for name in EXTRACTORS:
            outputs = every_output[name]
            one = speeds[name]
            two = 0.0 if args.no_speed else two_processes(name, pages)
            row = quality(outputs, pages)
            parts = {
                part: quality([o for o, h in zip(outputs, out, strict=True) if h == want],
                              [p for p, h in zip(pages, out, strict=True) if h == want])["F1"]
                if want in out else float("nan")
                for part, want in (("tune", False), ("held", True))
            }  # fmt: skip
            meta = metadata_accuracy(outputs, pages) if "title" in outputs[0] else {}
            cells = "".join(f"{meta[k]:>7.3f}" if k in meta else f"{'-':>7}"
                            for k in ("title", "author", "date"))  # fmt: skip
            speed = "" if args.no_speed else f"{one:>8.1f}{two:>8.1f}"
            print(f"{name:<24}{row['P']:>7.3f}{row['R']:>7.3f}{row['F1']:>7.3f}"
                  f"{parts['tune']:>9.3f}{parts['held']:>9.3f}{cells}{speed}")  # fmt: skip
        if not args.no_speed:
            ratio = speeds["newsflow extract"] / speeds["trafilatura default"]
            like = speeds["newsflow extract"] / speeds["trafilatura + metadata"]
            command = [command_pages_per_s([p.path for p in pages], w) for w in (1, 2)]
            print(f"speed, newsflow / trafilatura default (CPU, 1 process): {ratio:.2f}; "
                  f"newsflow / trafilatura + metadata: {like:.2f}; the newsflow extract "
                  f"command end to end: {command[0]:.1f} pages/s with --workers 1, "
                  f"{command[1]:.1f} with 2")  # fmt: skip


if __name__ == "__main__":
    main()
