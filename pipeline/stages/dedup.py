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
import math
import string
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
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
# Signatures depend on our word and shingle hashing and on rensa's MinHash.
ALGORITHM = f"newsflow-shingles/1+rensa-rminhash/{getattr(RMinHash, 'ALGORITHM_VERSION', '?')}"


class DedupStateError(RuntimeError):
    pass


@dataclass(frozen=True)
class Signature:
    exact: str  # hash of the normalised text
    digest: np.ndarray | None  # MinHash (uint64), or None for texts too short to shingle
    shingles: int
    bands: list[int] | None = None  # LSH keys: one hash per band of the digest


def _band_keys(digests: np.ndarray) -> np.ndarray:
    """One 64-bit key per LSH band for each row of a (n, NUM_PERM) digest matrix."""
    rows = digests.reshape(len(digests), BANDS, ROWS)
    keys = np.zeros((len(digests), BANDS), dtype=np.uint64)
    for k in range(ROWS):
        keys = (keys ^ rows[:, :, k]) * np.uint64(0x100000001B3)
        keys ^= keys >> np.uint64(29)
    return keys


# Each band's keys are salted with a constant of its own, so that all bands share one
# lookup structure and a key of one band never meets the same key of another.
_BAND_SALT = (np.arange(1, BANDS + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)).astype(
    np.uint64
)


class _Bands:
    """LSH band key → the rows that have it. Rows loaded in bulk (the window's, from the
    state) sit in two sorted numpy arrays, searched with ``searchsorted``; rows added
    since, in a dict. A few bytes a key instead of a Python list and int apiece."""

    def __init__(self) -> None:
        self._keys = np.empty(0, dtype=np.uint64)
        self._rows = np.empty(0, dtype=np.int64)
        self._recent: dict[int, list[int]] = {}

    def load(self, rows: np.ndarray, keys: np.ndarray) -> None:
        """Index ``rows`` by their band keys (a (len(rows), BANDS) matrix)."""
        salted = (keys ^ _BAND_SALT).ravel()
        owners = np.repeat(rows.astype(np.int64), BANDS)
        order = np.argsort(salted, kind="stable")
        self._keys, self._rows = salted[order], owners[order]

    def add(self, row: int, keys: list[int]) -> None:
        salted = np.array(keys, dtype=np.uint64) ^ _BAND_SALT
        for key in salted.tolist():
            self._recent.setdefault(key, []).append(row)

    def candidates(self, keys: list[int]) -> set[int]:
        salted = np.array(keys, dtype=np.uint64) ^ _BAND_SALT
        found: set[int] = set()
        if len(self._keys):
            lo = np.searchsorted(self._keys, salted, "left")
            hi = np.searchsorted(self._keys, salted, "right")
            for a, b in zip(lo.tolist(), hi.tolist(), strict=True):
                if a < b:
                    found.update(self._rows[a:b].tolist())
        for key in salted.tolist():
            found.update(self._recent.get(key, ()))
        return found

    def drop(self, rows: list[int]) -> None:
        gone = np.array(rows, dtype=np.int64)
        keep = ~np.isin(self._rows, gone)
        self._keys, self._rows = self._keys[keep], self._rows[keep]
        forgotten = set(rows)
        for key in list(self._recent):
            kept = [r for r in self._recent[key] if r not in forgotten]
            if kept:
                self._recent[key] = kept
            else:
                del self._recent[key]


# Odd multipliers (mod 2**64) that make a shingle hash depend on word order.
_ROLL = np.array(
    [0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93,
     0xFF51AFD7ED558CCD][:SHINGLE],
    dtype=np.uint64,
)  # fmt: skip
_SEPARATORS = string.punctuation + string.whitespace
_PUNCTUATION = bytes.maketrans(_SEPARATORS.encode(), b" " * len(_SEPARATORS))
_WIDE_PUNCTUATION = [c.encode("utf-8") for c in "‘’“”«»–—…·•¡¿\u00a0"]
_BASE = 0x100000001B3  # odd, so it has an inverse modulo 2**64
_powers = np.ones(1, dtype=np.uint64)
_inverse_powers = np.ones(1, dtype=np.uint64)
_powers_lock = threading.Lock()


def _geometric(base: int, size: int) -> np.ndarray:
    """base**i (mod 2**64) for i < size: two short running products and one broadcast
    multiplication (a running product over millions of elements is slow)."""

    def running(factor: int, count: int) -> np.ndarray:  # factor**0 .. factor**(count-1)
        one = np.ones(1, dtype=np.uint64)
        return np.concatenate((one, np.cumprod(np.full(count - 1, factor, dtype=np.uint64))))

    step = math.isqrt(size) + 1
    low, high = running(base, step), running(pow(base, step, 2**64), -(-size // step))
    table: np.ndarray = (high[:, None] * low[None, :]).ravel()[:size]
    return table


def _power_tables(length: int) -> tuple[np.ndarray, np.ndarray]:
    """BASE**i and BASE**-i (mod 2**64) for i < length; shared, grown, never shrunk."""
    global _powers, _inverse_powers
    with _powers_lock:
        if len(_powers) < length:
            size = max(length, 2 * len(_powers))
            _powers = _geometric(_BASE, size)
            _inverse_powers = _geometric(pow(_BASE, -1, 2**64), size)
        return _powers, _inverse_powers


def normalised_bytes(text: str) -> bytes:
    """Lower-case UTF-8 with punctuation and spacing turned into single separators."""
    data = text.lower().encode("utf-8")
    if not data.isascii():
        for mark in _WIDE_PUNCTUATION:
            if mark in data:
                data = data.replace(mark, b" ")
    return data.translate(_PUNCTUATION)


def _word_hashes(texts: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """A 64-bit hash of every word of every text, flat, and each text's word count.
    Polynomial prefix sums over the bytes: no Python object per word."""
    joined = b" ".join(texts) + b" "
    buffer = np.frombuffer(joined, dtype=np.uint8)
    size = len(buffer)
    powers, inverse_powers = _power_tables(size + 1)
    space = buffer == 32
    before = np.concatenate(([True], space[:-1]))
    after = np.concatenate((space[1:], [True]))
    starts = np.flatnonzero(~space & before)
    ends = np.flatnonzero(~space & after) + 1
    prefix = np.zeros(size + 1, dtype=np.uint64)
    np.cumsum((buffer.astype(np.uint64) + 1) * powers[:size], out=prefix[1:])
    hashes = (prefix[ends] - prefix[starts]) * inverse_powers[starts]
    # Finalise (splitmix64): a polynomial hash has weak low bits.
    hashes ^= hashes >> np.uint64(30)
    hashes *= np.uint64(0xBF58476D1CE4E5B9)
    hashes ^= hashes >> np.uint64(27)
    hashes *= np.uint64(0x94D049BB133111EB)
    hashes ^= hashes >> np.uint64(31)
    text_starts = np.cumsum([0] + [len(t) + 1 for t in texts])
    counts = np.diff(np.searchsorted(starts, text_starts))
    return hashes, counts


def _hashed(docs: list[tuple[str | None, str | None]]) -> tuple[Any, Any, Any, list[str]]:
    """The word hashes of many (title, text) pairs (of the body, or of the title when
    there is no body), their lengths and ends, and each one's exact hash."""
    texts = []
    for title, text in docs:
        body = normalised_bytes(text or "")
        texts.append(body if body.strip() else normalised_bytes(title or ""))
    flat, lengths = _word_hashes(texts)
    ends = np.cumsum(lengths)
    exact = [
        hashlib.sha256(flat[e - n : e].tobytes()).hexdigest()[:32]
        for n, e in zip(lengths, ends, strict=True)
    ]
    return flat, lengths, ends, exact


def signatures(docs: list[tuple[str | None, str | None]]) -> list[Signature]:
    """Signatures of many (title, text) pairs: of the body, or of the title when there is
    no body. All hashing is done for the whole batch at once."""
    flat, lengths, ends, exact = _hashed(docs)
    counts = np.maximum(lengths - SHINGLE + 1, 0)
    total = int(lengths.sum())
    long_enough = counts >= MIN_SHINGLES
    digests: list[np.ndarray | None] = [None] * len(docs)
    bands: list[list[int] | None] = [None] * len(docs)
    if total >= SHINGLE and long_enough.any():
        windows = total - SHINGLE + 1
        rolled = flat[:windows] * _ROLL[0]
        for k in range(1, SHINGLE):
            rolled += flat[k : k + windows] * _ROLL[k]
        doc_of = np.repeat(np.arange(len(docs)), lengths)[:windows]
        starts = np.concatenate(([0], ends[:-1]))
        keep = (np.arange(windows) - starts[doc_of] < counts[doc_of]) & long_enough[doc_of]
        chosen = np.flatnonzero(long_enough)
        offsets = np.concatenate(([0], np.cumsum(counts[chosen]))).astype(np.uint64)
        matrix = RMinHash.digest_matrix_from_flat_token_hashes(
            rolled[keep], offsets, NUM_PERM, SEED
        )
        rows = np.array(matrix.to_rows(), dtype=np.uint64)
        for i, row, keys in zip(chosen, rows, _band_keys(rows).tolist(), strict=True):
            digests[i], bands[i] = row, keys
    return [Signature(exact[i], digests[i], int(counts[i]), bands[i]) for i in range(len(docs))]


def signature(title: str | None, text: str | None) -> Signature:
    return signatures([(title, text)])[0]


def find_duplicates(
    docs: Iterable[tuple[str, str | None, str | None]],
    index: DedupIndex,
    batch: int = 1024,
    workers: int = 2,
) -> Iterator[tuple[str, str | None]]:
    """(id, duplicate_of) for a stream of (id, title, text), in stream order. Signatures of
    the next batches are computed on ``workers`` threads (numpy releases the GIL) while
    the index takes the current one."""

    def chunks() -> Iterator[list[tuple[str, str | None, str | None]]]:
        chunk: list[tuple[str, str | None, str | None]] = []
        for doc in docs:
            chunk.append(doc)
            if len(chunk) >= batch:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque[tuple[list[tuple[str, str | None, str | None]], Future[list[Signature]]]]
        pending = deque()

        def drain(limit: int) -> Iterator[tuple[str, str | None]]:
            while len(pending) > limit:
                chunk, future = pending.popleft()
                for (doc_id, _, _), sig in zip(chunk, future.result(), strict=True):
                    yield doc_id, index.add(doc_id, sig)

        for chunk in chunks():
            pending.append((chunk, pool.submit(signatures, [(t, x) for _, t, x in chunk])))
            yield from drain(workers)
        yield from drain(0)


def exact_hashes(docs: list[tuple[str | None, str | None]]) -> list[str]:
    """The exact hashes ``signatures`` gives, without the MinHash work (for articles older
    than the window, whose near copies are no longer looked for)."""
    return _hashed(docs)[3]


class DedupIndex:
    """Every article seen so far by exact hash; those of the window also by LSH band (their
    MinHash signatures), so that near copies are found among recent articles and exact
    copies across all history, at a cost that follows the window, not the history."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.roots: list[str] = []  # the first copy each article duplicates (itself if original)
        self.digests: list[np.ndarray | None] = []
        self.sizes: list[int] = []
        self.exacts: list[str] = []
        self.days: list[str] = []  # the day each article landed on
        self.today = ""  # the day of the articles being added
        self.tables: dict[str, int] = {}  # the table versions it matches (kept by the lake)
        self._exact: dict[str, int] = {}
        self._bands = _Bands()
        self._signed: dict[str, list[int]] = {}  # day → its rows that have a signature
        self._by_id: dict[str, int] = {}
        self.changed: set[str] = set()  # the days that gained rows since the index was made
        self.signed: set[str] = set()  # the days whose signatures are kept (by the lake)
        self.months: set[str] = set()  # the months whose hashes are one file (by the lake)
        self.legacy = False  # read from the lake's one-file index, removed at the next save

    def prune(self, first_day: str) -> int:
        """Forget the signatures of articles that landed before ``first_day`` (their exact
        hashes stay); how many were forgotten."""
        old = [i for day in sorted(self._signed) if day < first_day for i in self._signed.pop(day)]
        if not old:
            return 0
        for i in old:
            self.digests[i] = None
        self._bands.drop(old)
        return len(old)

    def __len__(self) -> int:
        return len(self.ids)

    def _match(self, sig: Signature) -> int | None:
        found = self._exact.get(sig.exact)
        if found is not None or sig.digest is None or sig.bands is None:
            return found
        digest = sig.digest
        best, best_score = None, 0.0
        for other in self._bands.candidates(sig.bands):
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
        self._record(article_id, root, sig)
        return None if root == article_id else root

    def _record(self, article_id: str, root: str, sig: Signature) -> None:
        index = len(self.ids)
        self.ids.append(article_id)
        self.roots.append(root)
        self.digests.append(sig.digest)
        self.sizes.append(sig.shingles)
        self.exacts.append(sig.exact)
        self.days.append(self.today)
        self._by_id[article_id] = index
        self._exact.setdefault(sig.exact, index)
        self.changed.add(self.today)
        if sig.bands is not None:
            self._bands.add(index, sig.bands)
            self._signed.setdefault(self.today, []).append(index)

    # -- persistence ------------------------------------------------------------------

    def rows_of(self, *days: str) -> list[int]:
        wanted = set(days)
        return [i for i, d in enumerate(self.days) if d in wanted]

    def _digest_column(self, rows: list[int]) -> pa.Array:
        digests = [self.digests[i] for i in rows]
        present = np.array([d is not None for d in digests], dtype=bool)
        offsets = np.zeros(len(digests) + 1, dtype=np.int32)
        np.cumsum(np.where(present, NUM_PERM, 0), out=offsets[1:])
        signed = [d for d in digests if d is not None]
        values = np.concatenate(signed) if signed else np.empty(0, dtype=np.uint64)
        return pa.ListArray.from_arrays(
            pa.array(offsets), pa.array(values, pa.uint64()), mask=pa.array(~present)
        )

    def to_parquet(
        self,
        metadata: dict[str, str] | None = None,
        days: Iterable[str] | None = None,
        part: str = "all",
    ) -> bytes:
        """The index as Parquet: only the rows that landed on ``days``, if given; with
        ``part`` "hashes" without the signatures, with "signatures" only the article ids
        and signatures of the rows that have one."""
        rows = list(range(len(self.ids))) if days is None else self.rows_of(*days)
        if part == "signatures":
            rows = [i for i in rows if self.digests[i] is not None]

        def strings(values: list[str]) -> pa.Array:
            return pa.array([values[i] for i in rows], pa.string())

        columns: dict[str, pa.Array] = {"article_id": strings(self.ids)}
        if part != "signatures":
            columns |= {
                "root": strings(self.roots),
                "exact": strings(self.exacts),
                "shingles": pa.array([self.sizes[i] for i in rows], pa.int32()),
                "day": strings(self.days),
            }
        if part != "hashes":
            columns["digest"] = self._digest_column(rows)
        table = pa.table(columns).replace_schema_metadata(
            {"newsflow.state_version": str(STATE_VERSION), "newsflow.algorithm": ALGORITHM,
             **(metadata or {})}
        )  # fmt: skip
        sink = io.BytesIO()
        pq.write_table(table, sink, compression="zstd")
        return sink.getvalue()

    @classmethod
    def from_parquet(cls, data: bytes, where: str) -> DedupIndex:
        """The index ``to_parquet`` wrote whole."""
        return cls._from_table(cls._read(data, where, keep_digests=True))

    @classmethod
    def from_parts(cls, parts: list[tuple[bytes, list[bytes], str]]) -> DedupIndex:
        """The index made of parts (the "hashes" of a day or of a month and the
        "signatures" wanted of its days, as ``to_parquet`` writes them; where they were
        read)."""
        tables = [cls._read(hashes, where, signatures=signed) for hashes, signed, where in parts]
        return cls._from_table(pa.concat_tables(tables)) if tables else cls()

    @staticmethod
    def _read(
        data: bytes, where: str, keep_digests: bool = False, signatures: list[bytes] | None = None
    ) -> pa.Table:
        def load(data: bytes) -> pa.Table:
            try:
                table = pq.read_table(io.BytesIO(data))
            except (pa.ArrowException, OSError, ValueError) as exc:
                raise DedupStateError(f"{where}: unreadable dedup index ({exc})") from None
            meta = table.schema.metadata or {}
            if meta.get(b"newsflow.state_version") != str(STATE_VERSION).encode():
                raise DedupStateError(f"{where}: not a dedup index of version {STATE_VERSION}")
            if meta.get(b"newsflow.algorithm") != ALGORITHM.encode():
                raise DedupStateError(
                    f"{where}: signatures were made by {meta.get(b'newsflow.algorithm')!r}, "
                    f"this version makes {ALGORITHM!r}; rebuild the index from the articles table"
                )
            return table.replace_schema_metadata(None)

        table = load(data)
        if "day" not in table.column_names:
            table = table.append_column("day", pa.array([""] * table.num_rows, pa.string()))
        if signatures:
            signed = pa.concat_tables([load(data) for data in signatures])
            found = pc.index_in(table.column("article_id"), value_set=signed.column("article_id"))
            digest = signed.column("digest").take(found)
        elif keep_digests and "digest" in table.column_names:
            digest = table.column("digest")
        else:
            digest = pa.nulls(table.num_rows, pa.list_(pa.uint64()))
        table = table.select(["article_id", "root", "exact", "shingles", "day"])
        return table.append_column("digest", digest)

    @classmethod
    def _from_table(cls, table: pa.Table) -> DedupIndex:
        index = cls()
        column = table.column("digest").combine_chunks()
        present = column.is_valid().to_numpy(zero_copy_only=False)
        matrix = column.flatten().to_numpy().astype(np.uint64).reshape(-1, NUM_PERM)
        index.ids = table.column("article_id").to_pylist()
        index.roots = table.column("root").to_pylist()
        index.exacts = table.column("exact").to_pylist()
        index.sizes = table.column("shingles").to_pylist()
        index.days = table.column("day").to_pylist()
        count = len(index.ids)
        index.digests = [None] * count
        signed_rows = np.flatnonzero(present)
        for i, row in zip(signed_rows.tolist(), matrix, strict=True):
            index.digests[i] = row
            index._signed.setdefault(index.days[i], []).append(i)
        index._bands.load(signed_rows, _band_keys(matrix))
        index._by_id = dict(zip(index.ids, range(count), strict=True))
        # The first row of each exact hash: later rows are written first, earlier over them.
        index._exact = dict(zip(reversed(index.exacts), range(count - 1, -1, -1), strict=True))
        return index
