"""``docs/tables.md`` says what every column of every table and every reject reason means,
and stays in step with the schemas and the code."""

from __future__ import annotations

import re

from pipeline.tables_doc import COLUMNS, DOC, REJECT_REASONS, ROOT, TABLES, render

# Where a reject's reason is named: the errors that become rejects, the helpers that make
# them, and the transport failures the fetcher tells apart.
_RAISED = re.compile(
    r"\b(?:FetchError|ExtractionError|feed_reject|fetch_reject|Reject)\((?:[^()]|\([^()]*\))*?"
    r"\"([a-z][a-z0-9]*(?:-[a-z0-9]+)+|[a-z]{3,})\"",
    re.S,
)
_RETURNED = re.compile(r'(?:return|else) "([a-z][a-z-]*)", (?:message|str\(|f")')


def reasons_in_code() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "pipeline").rglob("*.py"):
        if path.name == "tables_doc.py":
            continue
        source = path.read_text(encoding="utf-8")
        found |= set(_RAISED.findall(source)) | set(_RETURNED.findall(source))
        if 'f"http-{' in source:
            found.add("http-NNN")
    return found - {"feed", "fetch", "extract", "batch"}  # stages, not reasons


def test_every_column_of_every_table_is_described() -> None:
    for name, (schema, _) in TABLES.items():
        assert set(schema.names) - {"dt"} == set(COLUMNS[name]), name  # dt: the partition


def test_every_reason_the_code_gives_is_described_and_no_other() -> None:
    found = reasons_in_code()
    assert {"http-NNN", "robots", "timeout", "too-short", "batch-failed"} <= found
    assert found == set(REJECT_REASONS), found ^ set(REJECT_REASONS)


def test_the_committed_doc_is_the_generated_one() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/tables.md is stale: python -m pipeline.tables_doc"
    )
