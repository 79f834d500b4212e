"""Extraction benchmark on WCXB (../shared/data/extraction/wcxb-dev): ``newsflow extract``
against bare ``trafilatura.extract`` (defaults) on the same pages, in one run.

Prints pages/s and the WCXB bag-of-words precision, recall and F1 (lower-case ``\\w+``
tokens with multiplicity, per page, macro-averaged), plus title and date accuracy of
newsflow's metadata. Usage: ``python bench/extract_bench.py [--limit N] [--data DIR]``.
"""

from __future__ import annotations

import argparse
import gzip
import json
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

from pipeline.extract import ExtractionError, extract

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
        return {"text": "", "title": None, "date": None}
    date = page.published_at.date().isoformat() if page.published_at else None
    return {"text": page.text, "title": page.title, "date": date}


def bare(html: bytes) -> dict[str, str | None]:
    return {"text": trafilatura.extract(html) or "", "title": None, "date": None}


def measure(
    name: str,
    fn: Callable[[bytes], dict[str, str | None]],
    pages: list[tuple[str, bytes, dict[str, Any]]],
) -> dict[str, Any]:
    started = time.perf_counter()
    outputs = [fn(html) for _, html, _ in pages]
    seconds = time.perf_counter() - started
    scores = [
        bag_scores(o["text"] or "", t["main_content"])
        for o, (_, _, t) in zip(outputs, pages, strict=True)
    ]
    result = {
        "name": name,
        "pages_per_s": len(pages) / seconds,
        "precision": statistics.fmean(s[0] for s in scores),
        "recall": statistics.fmean(s[1] for s in scores),
        "f1": statistics.fmean(s[2] for s in scores),
    }
    if outputs[0]["title"] is not None or any(o["title"] for o in outputs):
        result["title_acc"] = statistics.fmean(
            norm(o["title"]) == norm(t.get("title"))
            for o, (_, _, t) in zip(outputs, pages, strict=True)
        )
        dated = [
            (o, t) for o, (_, _, t) in zip(outputs, pages, strict=True) if t.get("publish_date")
        ]
        result["date_acc"] = statistics.fmean(
            o["date"] == str(t["publish_date"])[:10] for o, t in dated
        )
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
    results = [
        measure("bare trafilatura.extract", bare, pages),
        measure("newsflow extract", ours, pages),
    ]
    print(f"{'extractor':<26}{'pages/s':>9}{'P':>8}{'R':>8}{'F1':>8}{'title':>8}{'date':>8}")
    for r in results:
        extra = (
            f"{r['title_acc']:>8.3f}{r['date_acc']:>8.3f}"
            if "title_acc" in r
            else f"{'-':>8}{'-':>8}"
        )
        scores = f"{r['precision']:>8.3f}{r['recall']:>8.3f}{r['f1']:>8.3f}"
        print(f"{r['name']:<26}{r['pages_per_s']:>9.1f}{scores}{extra}")
    ratio = results[1]["pages_per_s"] / results[0]["pages_per_s"]
    gain = results[1]["f1"] - results[0]["f1"]
    print(f"speed ratio newsflow/bare: {ratio:.2f}   F1 difference: {gain:+.3f}")
    end_to_end = cli_pages_per_s(paths)
    print(f"newsflow extract command end to end (start-up included): {end_to_end:.1f} pages/s")


if __name__ == "__main__":
    main()
