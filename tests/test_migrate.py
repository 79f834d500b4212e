"""``newsflow migrate``: a lake written by the earlier layout (hive-partitioned Parquet and
manifests; ``tests/golden/lake-before-delta.tar.gz`` was written by that code, two sample
days) turned into Delta tables in place, every row kept."""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.lake.migrate import migrate
from pipeline.lake.state import load_day_record
from pipeline.lake.store import LakeError, LocalLake, require_lake
from pipeline.lake.tables import days, history, read_day, read_where
from pipeline.records import STORIES_SCHEMA, STORY_DAYS_SCHEMA
from pipeline.runs.commit import build_stories
from tests.conftest import ROOT
from tests.test_cli import newsflow

FIXTURE = ROOT / "tests" / "golden" / "lake-before-delta.tar.gz"


@pytest.fixture
def old_lake(tmp_path: Path) -> Path:
    with tarfile.open(FIXTURE) as archive:
        archive.extractall(tmp_path, filter="data")
    root = tmp_path / "oldlake"
    # A commit killed before its manifest left a file no manifest lists.
    listed = json.loads((root / "_manifests" / "dt=2026-11-23.json").read_text())
    first = root / listed["tables"]["articles"]["files"][0]
    shutil.copy(first, first.with_name("part-00000-0123456789abcdef.parquet"))
    return root


def listed_rows(root: Path) -> dict[tuple[str, str], pa.Table]:
    """Every committed row of the earlier layout: the files each manifest lists."""
    rows = {}
    for manifest_path in sorted((root / "_manifests").glob("*.json")):
        manifest = json.loads(manifest_path.read_text())
        for name, entry in manifest["tables"].items():
            tables = [pq.read_table(root / key) for key in entry["files"]]
            rows[(name, manifest["dt"])] = pa.concat_tables(tables)
    return rows


def test_migrate_turns_the_earlier_layout_into_delta_tables_keeping_every_row(
    old_lake: Path,
) -> None:
    before = listed_rows(old_lake)
    assert {name for name, _ in before} == {"articles", "offtopic", "stories", "rejects",
                                            "extraction", "quality"}  # fmt: skip
    lake = LocalLake(old_lake)
    with pytest.raises(LakeError, match="newsflow migrate --lake"):
        require_lake(lake)  # no run may write beside the earlier tables

    done = newsflow("migrate", "--lake", str(old_lake))
    assert done.returncode == 0, done.stderr
    assert "days migrated    2" in done.stdout
    for (name, dt), rows in before.items():
        if name == "stories":  # a row per story and day, now story_days and current rows
            continue
        after = read_day(lake, name, dt, rows.schema).to_pylist()
        key = rows.schema.names[0]
        expected = rows.to_pylist()
        assert sorted(after, key=lambda r: str(r[key])) == sorted(
            expected, key=lambda r: str(r[key])
        )
    # The stories tables are built from the migrated articles: each day's stories with the
    # articles they gained that day, and each story's current row as its last day had it.
    latest = {}
    for (name, dt), rows in sorted(before.items()):
        if name != "stories":
            continue
        story_days = read_day(lake, "story_days", dt, STORY_DAYS_SCHEMA).to_pylist()
        assert {(r["story_id"], r["articles_today"]) for r in story_days} == {
            (r["story_id"], r["articles_today"]) for r in rows.to_pylist()
        }
        latest.update({r["story_id"]: r for r in rows.to_pylist()})
    current = read_where(lake, "stories", STORIES_SCHEMA).to_pylist()
    assert {r["story_id"]: (r["article_count"], r["first_reported_by"]) for r in current} == {
        r["story_id"]: (r["article_count"], r["first_reported_by"]) for r in latest.values()
    }
    assert not list(old_lake.glob("stories/dt=*/part-0000*-*[0-9a-f].parquet"))
    assert not (old_lake / "_manifests").exists() or not list((old_lake / "_manifests").iterdir())
    assert load_day_record(lake, "2026-11-23")["batches"]  # what the manifest said of its runs
    assert history(lake, "articles")[0].counts["migrated_from"].startswith("_manifests/")
    require_lake(lake)  # a lake again, for every command

    again = newsflow("migrate", "--lake", str(old_lake))
    assert again.returncode == 0 and "already made of Delta tables" in again.stdout


def test_a_migration_stopped_half_way_is_finished_by_running_it_again(old_lake: Path) -> None:
    manifest = old_lake / "_manifests" / "dt=2026-11-23.json"
    kept = manifest.read_bytes()
    lake = LocalLake(old_lake)
    migrate(lake, "first", lambda dt: build_stories(lake, dt, "first"))
    manifest.parent.mkdir(exist_ok=True)
    manifest.write_bytes(kept)  # as if it had stopped before removing this manifest
    versions = {name: history(lake, name)[0].version for name in ("articles", "rejects")}
    done = migrate(lake, "second", lambda dt: build_stories(lake, dt, "second"))
    assert done.days == ["2026-11-23"] and done.tables == {}  # nothing written twice
    assert {name: history(lake, name)[0].version for name in versions} == versions
    assert days(lake, "articles") == ["2026-11-22", "2026-11-23"]
