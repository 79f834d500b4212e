"""Exact and near-duplicate articles: syndicated, reposted and lightly edited copies.

Exact copies share the hash of their normalised text. Near copies are found with MinHash
(rensa) over word shingles and LSH banding: a reposted wire story with its own headline,
boilerplate, a cut tail or a few edits. A candidate is confirmed when the estimated
Jaccard similarity of the shingle sets is high, or when one text is almost contained in
the other (a cut copy). Two articles that merely report the same event share few
five-word runs, so they are not duplicates: the story clusterer groups those.

``duplicate_of`` is always the first copy seen (the root, never a copy of a copy). The
index persists as signatures in the lake's state and is reloaded by the next run.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import string
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from rensa import RMinHash

SHINGLE = 5  # words per shingle
NUM_PERM = 128
BANDS = 32  # 32 bands of 4 rows: a pair with Jaccard 0.5 is a candidate 87% of the time
ROWS = NUM_PERM // BANDS
SEED = 20261123
MIN_SHINGLES = 12  # shorter texts are compared exactly only
JACCARD = 0.55  # near copies: most shingles shared
CONTAINMENT = 0.85  # cut copies: almost all of the shorter text in the longer one
MIN_JACCARD_FOR_CONTAINMENT = 0.25
STATE_VERSION = 1
ALGORITHM = f"rensa-rminhash/{getattr(RMinHash, 'ALGORITHM_VERSION', 'unknown')}"


class DedupStateError(RuntimeError):
    pass


@dataclass(frozen=True)
class Signature:
    exact: str  # hash of the normalised text
    digest: np.ndarray | None  # MinHash (uint64), or None for texts too short to shingle
    shingles: int


# Multipliers (mod 2**64) that make a shingle hash depend on word order.
_ROLL = np.array(
    [pow(0x100000001B3, k, 2**64) for k in range(SHINGLE - 1, -1, -1)], dtype=np.uint64
)
_PUNCTUATION = bytes.maketrans(string.punctuation.encode(), b" " * len(string.punctuation))
_WIDE_PUNCTUATION = [c.encode("utf-8") for c in "‘’“”«»–—…·•¡¿"]


def words(text: str) -> list[bytes]:
    """Lower-case words without punctuation (UTF-8): what two copies of one text share.
    Bytes, because that is several times faster than str for this on the hot path."""
    data = text.lower().encode("utf-8")
    if not data.isascii():
        for mark in _WIDE_PUNCTUATION:
            if mark in data:
                data = data.replace(mark, b" ")
    return data.translate(_PUNCTUATION).split()


def signatures(docs: list[tuple[str | None, str | None]]) -> list[Signature]:
    """Signatures of many (title, text) pairs: of the body, or of the title when there is
    no body. Shingle hashes are rolled from word hashes for all documents at once."""
    tokens = [words(text or "") or words(title or "") for title, text in docs]
    lengths = np.array([len(t) for t in tokens], dtype=np.int64)
    counts = np.maximum(lengths - SHINGLE + 1, 0)
    exact = [hashlib.sha256(b" ".join(t)).hexdigest()[:32] for t in tokens]
    hashed = RMinHash.hash_token_sets(tokens)
    total = int(lengths.sum())
    long_enough = counts >= MIN_SHINGLES
    digests: list[np.ndarray | None] = [None] * len(docs)
    if total >= SHINGLE and long_enough.any():
        flat = np.fromiter(itertools.chain.from_iterable(hashed), dtype=np.uint64, count=total)
        windows = total - SHINGLE + 1
        rolled = flat[:windows] * _ROLL[0]
        for k in range(1, SHINGLE):
            rolled += flat[k : k + windows] * _ROLL[k]
        doc_of = np.repeat(np.arange(len(docs)), lengths)[: len(rolled)]
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        keep = (np.arange(len(rolled)) - starts[doc_of] < counts[doc_of]) & long_enough[doc_of]
        chosen = np.flatnonzero(long_enough)
        offsets = np.concatenate(([0], np.cumsum(counts[chosen]))).astype(np.uint64)
        matrix = RMinHash.digest_matrix_from_flat_token_hashes(
            rolled[keep], offsets, NUM_PERM, SEED
        )
        for i, row in zip(chosen, matrix.to_rows(), strict=True):
            digests[i] = np.asarray(row, dtype=np.uint64)
    return [Signature(exact[i], digests[i], int(counts[i])) for i in range(len(docs))]


def signature(title: str | None, text: str | None) -> Signature:
    return signatures([(title, text)])[0]


class DedupIndex:
    """Every article seen so far, by exact hash and by LSH band."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.roots: list[str] = []  # the first copy each article duplicates (itself if original)
        self.digests: list[np.ndarray | None] = []
        self.sizes: list[int] = []
        self.exacts: list[str] = []
        self._exact: dict[str, int] = {}
        self._bands: list[dict[bytes, list[int]]] = [{} for _ in range(BANDS)]
        self._by_id: dict[str, int] = {}

    def _index_bands(self, index: int, digest: np.ndarray) -> None:
        for band in range(BANDS):
            self._bands[band].setdefault(
                digest[band * ROWS : (band + 1) * ROWS].tobytes(), []
            ).append(index)

    def __len__(self) -> int:
        return len(self.ids)

    def _match(self, sig: Signature) -> int | None:
        found = self._exact.get(sig.exact)
        if found is not None or sig.digest is None:
            return found
        digest = sig.digest
        candidates: set[int] = set()
        for band in range(BANDS):
            key = digest[band * ROWS : (band + 1) * ROWS].tobytes()
            candidates.update(self._bands[band].get(key, ()))
        best, best_score = None, 0.0
        for other in candidates:
            theirs = self.digests[other]
            assert theirs is not None
            jaccard = int(np.count_nonzero(digest == theirs)) / NUM_PERM
            shared = jaccard / (1 + jaccard) * (sig.shingles + self.sizes[other])
            contained = shared / max(1, min(sig.shingles, self.sizes[other]))
            near = jaccard >= JACCARD or (
                contained >= CONTAINMENT and jaccard >= MIN_JACCARD_FOR_CONTAINMENT
            )
            if near and jaccard > best_score:
                best, best_score = other, jaccard
        return best

    def add(self, article_id: str, sig: Signature) -> str | None:
        """Record an article; returns the id of the first copy it duplicates, or None."""
        known = self._by_id.get(article_id)
        if known is not None:  # seen before (a rerun): same answer as the first time
            root = self.roots[known]
            return None if root == article_id else root
        match = self._match(sig)
        root = self.roots[match] if match is not None else article_id
        index = len(self.ids)
        self.ids.append(article_id)
        self.roots.append(root)
        self.digests.append(sig.digest)
        self.sizes.append(sig.shingles)
        self.exacts.append(sig.exact)
        self._by_id[article_id] = index
        self._exact.setdefault(sig.exact, index)
        if sig.digest is not None:
            self._index_bands(index, sig.digest)
        return None if root == article_id else root

    # -- persistence ------------------------------------------------------------------

    def to_parquet(self) -> bytes:
        table = pa.table(
            {
                "article_id": pa.array(self.ids, pa.string()),
                "root": pa.array(self.roots, pa.string()),
                "exact": pa.array(self.exacts, pa.string()),
                "shingles": pa.array(self.sizes, pa.int32()),
                "digest": pa.array(
                    [d.tolist() if d is not None else None for d in self.digests],
                    pa.list_(pa.uint64()),
                ),
            }
        ).replace_schema_metadata(
            {"newsflow.state_version": str(STATE_VERSION), "newsflow.algorithm": ALGORITHM}
        )
        sink = io.BytesIO()
        pq.write_table(table, sink, compression="zstd")
        return sink.getvalue()

    @classmethod
    def from_parquet(cls, data: bytes, where: str) -> DedupIndex:
        table = pq.read_table(io.BytesIO(data))
        meta = table.schema.metadata or {}
        if meta.get(b"newsflow.state_version") != str(STATE_VERSION).encode():
            raise DedupStateError(f"{where}: not a dedup index of version {STATE_VERSION}")
        if meta.get(b"newsflow.algorithm") != ALGORITHM.encode():
            raise DedupStateError(
                f"{where}: signatures were made by {meta.get(b'newsflow.algorithm')!r}, "
                f"this version makes {ALGORITHM!r}; rebuild the index from the articles table"
            )
        index = cls()
        columns = [
            table.column(n).to_pylist()
            for n in ("article_id", "root", "exact", "shingles", "digest")
        ]
        for article_id, root, exact, shingles, digest in zip(*columns, strict=True):
            i = len(index.ids)
            index.ids.append(article_id)
            index.roots.append(root)
            index.exacts.append(exact)
            index.sizes.append(shingles)
            sig = np.asarray(digest, dtype=np.uint64) if digest is not None else None
            index.digests.append(sig)
            index._by_id[article_id] = i
            index._exact.setdefault(exact, i)
            if sig is not None:
                index._index_bands(i, sig)
        return index
