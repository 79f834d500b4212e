"""What each step of ``newsflow extract`` above trafilatura is worth, on both development
sets: the extractor whole, then without each of its steps in turn, and trafilatura's own
configurations, scored as ``bench/extract_bench.py`` scores them, on the tuning part of
each set (``--split held-out`` for the part kept out of tuning, once the choices are made).

A step stays only if the extractor without it loses on neither set by more than 0.2
points of F1 and gains on both together. Usage: ``python bench/extract_ablation.py
[--split tune|held-out|all] [--limit N] [--only NAME,...]``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import extract_bench as bench
import trafilatura
from common import held_out

from pipeline.stages import extract as module


def _patched(**replacements: Any) -> Callable[[], AbstractContextManager[None]]:
    @contextmanager
    def patch() -> Iterator[None]:
        saved = {name: getattr(module, name) for name in replacements}
        for name, value in replacements.items():
            setattr(module, name, value)
        try:
            yield
        finally:
            for name, value in saved.items():
                setattr(module, name, value)

    return patch


def _options(**options: Any) -> Callable[[], AbstractContextManager[None]]:
    return _patched(TRAFILATURA_OPTIONS={**module.TRAFILATURA_OPTIONS, **options})


VARIANTS: dict[str, Callable[[], AbstractContextManager[None]]] = {
    "newsflow extract": _patched(),
    "- box pruning": _patched(_prune=lambda tree, drop: None),
    "- embedded bodies": _patched(_stated_body=lambda bodies, text: None),
    "- gallery captions": _patched(_with_captions=lambda tree, text: text),
    "- tidy": _patched(_tidy=lambda text, title: text),
    "- credit lines": _patched(_credit=lambda line: False),
    "- calls to subscribe": _patched(_SUBSCRIBE=re.compile("(?!)")),
    "- inert markup stripped": _patched(_strip_inert=lambda tree: None),
    "favor_recall": _options(favor_recall=True),
    "favor_precision": _options(favor_precision=True),
    "fast": _options(fast=True),
    "tables off": _options(include_tables=False),
}
BARE: dict[str, Callable[[bytes], str]] = {
    "trafilatura default": lambda html: trafilatura.extract(html) or "",
    "trafilatura fast=True": lambda html: trafilatura.extract(html, fast=True) or "",
    "trafilatura favor_recall": lambda html: trafilatura.extract(html, favor_recall=True) or "",
    "trafilatura favor_precision": lambda html: (
        trafilatura.extract(html, favor_precision=True) or ""
    ),
    "trafilatura no comments": lambda html: trafilatura.extract(html, include_comments=False) or "",
}

_current: list[str] = []


def _one(html: bytes) -> dict[str, Any]:
    name = _current[0]
    if name in BARE:
        return {"text": BARE[name](html)}
    with VARIANTS[name]():
        return bench.ours(html)


def _score(name: str, pages: list[bench.Page]) -> tuple[float, float]:
    _current[:] = [name]
    started = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(2) as pool:
        outputs = pool.map(_one, [p.html for p in pages], chunksize=4)
    return bench.quality(outputs, pages)["F1"], len(pages) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("all", "tune", "held-out"), default="tune")
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--only", default="", help="variants to run, comma-separated")
    args = parser.parse_args()
    sets = {}
    for key, (folder, load) in bench.SETS.items():
        pages = load(bench.DATA / folder)
        if args.split != "all":
            pages = [p for p in pages if held_out(p.name) == (args.split == "held-out")]
        sets[key] = pages[: args.limit] if args.limit else pages
    names = [*VARIANTS, *BARE]
    if args.only:
        names = [n for n in names if n in args.only.split(",")]
    print(f"split {args.split}: " + ", ".join(f"{k} {len(p)} pages" for k, p in sets.items()))
    print(f"{'variant':<30}" + "".join(f"{k:>18}{'pages/s':>9}" for k in sets))
    for name in names:
        cells = []
        for pages in sets.values():
            f1, speed = _score(name, pages)
            cells.append(f"{f1:>18.4f}{speed:>9.1f}")
        print(f"{name:<30}" + "".join(cells), flush=True)


if __name__ == "__main__":
    main()
