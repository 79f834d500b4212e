"""Extraction benchmark on WCXB (../shared/data/extraction/wcxb-dev): ``newsflow extract``
against bare ``trafilatura.extract`` (its defaults, and ``fast=True``) on the same pages,
in one run.

Prints the WCXB bag-of-words precision, recall and F1 (lower-case ``\\w+`` tokens with
multiplicity, per page, macro-averaged); title, author and date accuracy (bare
trafilatura's metadata from ``bare_extraction`` with its defaults); and pages/s with 1 and
2 processes. Usage: ``python bench/extract_bench.py [--limit N] [--data DIR]``.
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
from pathlib import Path
from typing import Any

import trafilatura

from pipeline.stages.extract import ExtractionError, extract

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "extraction" / "wcxb-dev"
WORD = re.compile(r"\w+")


def norm(text: str | None) -> str:
    return " ".join(WORD.findall((text or "").lower()))


def bag_scores(predicted: str, truth: str) -> tuple[float, float, float]:
    got, want = Counter(WORD.findall(predicted.lower())), Counter(WORD.findall(truth.lower()))
    overlap = sum((got & want).values())
    precision = overlap / sum(got.values()) if got else 0.0
    recall = overlap / sum(want.values()) if want else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def ours(html: bytes) -> dict[str, str | None]:
    try:
        page = extract(html, min_words=1)
    except ExtractionError:
        return {"text": "", "title": None, "author": None, "date": None}
    date = page.published_at.date().isoformat() if page.published_at else None
    return {"text": page.text, "title": page.title, "author": "; ".join(page.authors), "date": date}


def bare(html: bytes) -> dict[str, str | None]:
    return {"text": trafilatura.extract(html) or ""}


def bare_fast(html: bytes) -> dict[str, str | None]:
    return {"text": trafilatura.extract(html, fast=True) or ""}


def bare_metadata(html: bytes) -> dict[str, str | None]:
    document = trafilatura.bare_extraction(html, with_metadata=True)
    if document is None or isinstance(document, dict):
        return {"title": None, "author": None, "date": None}
    return {"title": document.title, "author": document.author, "date": document.date}


EXTRACTORS: dict[str, Callable[[bytes], dict[str, str | None]]] = {
    "bare trafilatura.extract": bare,
    "bare trafilatura fast=True": bare_fast,
    "newsflow extract": ours,
}


def _run(job: tuple[str, bytes]) -> dict[str, str | None]:
    return EXTRACTORS[job[0]](job[1])


def pages_per_s(name: str, pages: list[bytes], processes: int) -> tuple[float, list[Any]]:
    """Wall-clock pages/s of one extractor over all pages, in 1 or more processes."""
    jobs = [(name, html) for html in pages]
    if processes == 1:
        started = time.perf_counter()
        outputs = [_run(job) for job in jobs]
        return len(pages) / (time.perf_counter() - started), outputs
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        pool.map(_run, jobs[: processes * 2])  # the workers have imported everything
        started = time.perf_counter()
        outputs = pool.map(_run, jobs, chunksize=4)
        return len(pages) / (time.perf_counter() - started), outputs


def scores(outputs: list[dict[str, str | None]], truths: list[dict[str, Any]]) -> dict[str, float]:
    bags = [
        bag_scores(o["text"] or "", t["main_content"]) for o, t in zip(outputs, truths, strict=True)
    ]
    return {
        "precision": statistics.fmean(b[0] for b in bags),
        "recall": statistics.fmean(b[1] for b in bags),
        "f1": statistics.fmean(b[2] for b in bags),
    }


def metadata_accuracy(
    outputs: list[dict[str, str | None]], truths: list[dict[str, Any]]
) -> dict[str, float]:
    """Share of the pages whose reference states a field where the extractor agrees."""
    pairs = list(zip(outputs, truths, strict=True))
    checks: list[tuple[str, str, Callable[[Any, Any], bool]]] = [
        ("title", "title", lambda a, b: norm(a) == norm(b)),
        ("author", "author", lambda a, b: norm(a) == norm(b)),
        ("date", "publish_date", lambda a, b: str(a or "")[:10] == str(b)[:10]),
    ]
    result = {}
    for field, reference, same in checks:
        stated = [(o, t) for o, t in pairs if t.get(reference)]
        result[field] = statistics.fmean(same(o[field], t[reference]) for o, t in stated)
    return result


def cli_pages_per_s(paths: list[Path]) -> float:
    """The installed command end to end, start-up included."""
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        subprocess.run(
            [
                str(Path(sys.executable).parent / "newsflow"),
                "extract",
                *map(str, paths),
                "--out",
                f"{tmp}/out.jsonl",
            ],
            check=True,
            stderr=subprocess.DEVNULL,
        )
        return len(paths) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--limit", type=int, default=0, help="only the first N pages")
    args = parser.parse_args()
    if not args.data.exists():
        raise SystemExit(f"{args.data} not found: the development data sets live in ../shared/data")
    paths = sorted((args.data / "html").glob("*.html.gz"))
    if args.limit:
        paths = paths[: args.limit]
    pages, skipped = [], 0
    for path in paths:
        truth = json.loads(
            (args.data / "ground-truth" / path.name.replace(".html.gz", ".json")).read_text()
        )
        if "main_content" not in truth["ground_truth"]:
            skipped += 1  # no reference text to score against
            continue
        pages.append((path.stem, gzip.decompress(path.read_bytes()), truth["ground_truth"]))
    print(f"WCXB dev article pages: {len(pages)} scored, {skipped} without reference text")
    htmls = [html for _, html, _ in pages]
    truths = [truth for _, _, truth in pages]
    rows: list[dict[str, Any]] = []
    for name in EXTRACTORS:
        one, outputs = pages_per_s(name, htmls, 1)
        two, _ = pages_per_s(name, htmls, 2)
        row = {"name": name, "one": one, "two": two, **scores(outputs, truths)}
        if name == "newsflow extract":
            row.update(metadata_accuracy(outputs, truths))
        rows.append(row)
    rows[0].update(metadata_accuracy([bare_metadata(html) for html in htmls], truths))
    print(f"{'extractor':<28}{'1 proc':>8}{'2 proc':>8}{'P':>7}{'R':>7}{'F1':>7}"
          f"{'title':>7}{'author':>7}{'date':>7}   (pages/s; accuracy)")  # fmt: skip
    for r in rows:
        meta = "".join(
            f"{r[k]:>7.3f}" if k in r else f"{'-':>7}" for k in ("title", "author", "date")
        )
        print(f"{r['name']:<28}{r['one']:>8.1f}{r['two']:>8.1f}"
              f"{r['precision']:>7.3f}{r['recall']:>7.3f}{r['f1']:>7.3f}{meta}")  # fmt: skip
    gain = rows[2]["f1"] - rows[0]["f1"]
    print(f"F1, newsflow minus bare trafilatura: {gain:+.3f}; speed newsflow / bare fast=True: "
          f"{rows[2]['one'] / rows[1]['one']:.2f} (1 process), "
          f"{rows[2]['two'] / rows[1]['two']:.2f} (2 processes)")  # fmt: skip
    end_to_end = cli_pages_per_s(paths)
    print(f"newsflow extract command end to end (start-up included): {end_to_end:.1f} pages/s")


if __name__ == "__main__":
    main()
