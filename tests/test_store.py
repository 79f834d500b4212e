from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from pipeline.lake.store import (
    LEASE_KEY,
    Lake,
    LakeError,
    LocalLake,
    lease,
    open_lake,
)
from pipeline.lake.tables import days, history, maintain, open_table, read_day, replace_day
from pipeline.settings import S3Settings
from sample.s3server import SeaweedS3

SCHEMA = pa.schema([("id", pa.string()), ("n", pa.int64())])


def s3_settings(s3: SeaweedS3) -> S3Settings:
    env = s3.env()
    return S3Settings(
        s3.endpoint, env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], "us-east-1"
    )


@pytest.fixture(params=["local", "s3"])
def any_lake(request: pytest.FixtureRequest, tmp_path: Path) -> Lake:
    if request.param == "local":
        return LocalLake(tmp_path / "lake")
    s3: SeaweedS3 = request.getfixturevalue("s3")
    bucket: str = request.getfixturevalue("bucket")
    return open_lake(f"s3://{bucket}/news/prod", s3.settings())


def test_put_get_list_delete(any_lake: Lake) -> None:
    any_lake.put("articles/dt=2026-11-23/part-00000.parquet", b"one")
    any_lake.put("articles/dt=2026-11-24/part-00000.parquet", b"two")
    any_lake.put("rejects/dt=2026-11-23/part-00000.parquet", b"three")
    assert any_lake.get("articles/dt=2026-11-24/part-00000.parquet") == b"two"
    assert any_lake.get("articles/dt=2026-11-25/part-00000.parquet") is None
    assert any_lake.list_keys("articles/") == [
        "articles/dt=2026-11-23/part-00000.parquet",
        "articles/dt=2026-11-24/part-00000.parquet",
    ]
    any_lake.delete("articles/dt=2026-11-23/part-00000.parquet")
    any_lake.delete("articles/dt=2026-11-23/part-00000.parquet")  # deleting twice is fine
    assert any_lake.list_keys("articles/dt=2026-11-23/") == []


def test_a_day_is_replaced_in_one_commit_and_earlier_versions_stay_readable(
    any_lake: Lake,
) -> None:
    day = "2026-11-23"
    big = pa.table({"id": ["a", "b", "c", "d", "e"], "n": [1, 2, 3, 4, 5]}, schema=SCHEMA)
    first = replace_day(any_lake, "articles", day, big, "run-1")
    replace_day(any_lake, "articles", "2026-11-24", big.slice(0, 1), "run-1")
    small = big.slice(3, 2)
    second = replace_day(any_lake, "articles", day, small, "run-2", {"new": 0})
    assert read_day(any_lake, "articles", day, SCHEMA).equals(small)
    assert read_day(any_lake, "articles", "2026-11-24", SCHEMA).num_rows == 1  # untouched
    assert read_day(any_lake, "articles", day, SCHEMA, version=first).equals(big)  # time travel
    assert days(any_lake, "articles") == ["2026-11-23", "2026-11-24"]
    # The table's history is the lineage: which run wrote what.
    newest = history(any_lake, "articles")[0]
    assert (newest.version, newest.run_id) == (second, "run-2")
    assert newest.counts == {"dt": day, "rows": 2, "new": 0}


def test_a_column_added_later_reads_as_null_in_older_days(any_lake: Lake) -> None:
    replace_day(any_lake, "articles", "2026-11-22", pa.table({"id": ["a"], "n": [1]}, SCHEMA), "r")
    wider = SCHEMA.append(pa.field("flags", pa.list_(pa.string())))
    rows = pa.table({"id": ["b"], "n": [2], "flags": [["future-date"]]}, schema=wider)
    replace_day(any_lake, "articles", "2026-11-23", rows, "r")
    older = read_day(any_lake, "articles", "2026-11-22", wider)
    assert older.to_pylist() == [{"id": "a", "n": 1, "flags": None}]
    assert read_day(any_lake, "articles", "2026-11-23", wider).to_pylist()[0]["flags"] == [
        "future-date"
    ]


def test_a_table_never_written_reads_as_empty(any_lake: Lake) -> None:
    assert read_day(any_lake, "articles", "2026-11-23", SCHEMA).num_rows == 0
    assert days(any_lake, "articles") == [] and history(any_lake, "articles") == []


def test_local_keys_cannot_escape_the_lake(tmp_path: Path) -> None:
    with pytest.raises(LakeError, match="escapes"):
        LocalLake(tmp_path / "lake").put("../outside.txt", b"x")


def test_missing_bucket_is_a_clear_error(s3: SeaweedS3) -> None:
    lake = open_lake("s3://no-such-bucket-here/p", s3.settings())
    with pytest.raises(LakeError) as error:
        lake.put("a.txt", b"x")
    assert "s3://no-such-bucket-here/p/a.txt" in str(error.value)
    assert s3.endpoint in str(error.value)


def test_unknown_lake_scheme_is_refused() -> None:
    with pytest.raises(
        LakeError, match="gs:// lake: it must be s3://bucket/prefix or a local folder"
    ):
        open_lake("gs://bucket/p")


def test_s3_settings_never_print_the_secret() -> None:
    settings = S3Settings("http://127.0.0.1:1", "key-id", "very-secret-value", "us-east-1")
    assert "very-secret-value" not in repr(settings)


def test_a_local_lake_leaves_no_empty_folders(tmp_path: Path) -> None:
    lake = LocalLake(tmp_path / "lake")
    lake.put("_staging/dt=2026-11-23/a.parquet", b"a")
    lake.put("_staging/dt=2026-11-23/b.parquet", b"b")
    lake.delete("_staging/dt=2026-11-23/a.parquet")
    assert (tmp_path / "lake" / "_staging" / "dt=2026-11-23").is_dir()  # b is still there
    lake.delete("_staging/dt=2026-11-23/b.parquet")
    assert not (tmp_path / "lake" / "_staging").exists()
    assert (tmp_path / "lake").is_dir()  # the lake itself stays


def test_put_if_absent_writes_once(any_lake: Lake) -> None:
    assert any_lake.put_if_absent("_state/lease.json", b"first")
    assert not any_lake.put_if_absent("_state/lease.json", b"second")
    assert any_lake.get("_state/lease.json") == b"first"
    assert any_lake.list_keys("_state/") == ["_state/lease.json"]


def test_the_lease_has_one_holder_at_a_time(any_lake: Lake) -> None:
    order: list[str] = []
    taken = threading.Event()

    def second() -> None:
        taken.wait()
        with lease(any_lake, "second", poll=0.05):
            order.append("second in")

    thread = threading.Thread(target=second)
    thread.start()
    with lease(any_lake, "first"), lease(any_lake, "first, again"):  # re-entrant in a thread
        taken.set()
        time.sleep(0.5)
        order.append("first out")
    thread.join(timeout=30)
    assert order == ["first out", "second in"]
    assert any_lake.get(LEASE_KEY) is None


def dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_a_lease_left_by_a_killed_holder_is_taken_over_and_a_live_one_waited_for(
    any_lake: Lake,
) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    future = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()
    any_lake.put(LEASE_KEY, json.dumps({"holder": "expired", "expires": past}).encode())
    with lease(any_lake, "next", wait=1):
        assert b'"holder": "next"' in (any_lake.get(LEASE_KEY) or b"")
    gone = {"holder": "killed", "host": socket.gethostname(), "pid": dead_pid(), "expires": future}
    any_lake.put(LEASE_KEY, json.dumps(gone).encode())
    with lease(any_lake, "after the killed one", wait=1):
        assert b"after the killed one" in (any_lake.get(LEASE_KEY) or b"")
    any_lake.put(LEASE_KEY, json.dumps({"holder": "busy run", "expires": future}).encode())
    waiting = lease(any_lake, "waiting", wait=0.3, poll=0.1)
    with pytest.raises(LakeError, match=r"lease\.json is held by busy run .* delete the file"):
        waiting.__enter__()


def test_two_writers_racing_one_version_never_lose_an_update(any_lake: Lake) -> None:
    """Two writers read the same version of a table and both replace one row: one commit
    wins, the other fails (delta-rs's CommitFailedError), and nothing is overwritten. On
    S3 this holds because commits are put only if absent (conditional_put: etag)."""
    from deltalake.exceptions import CommitFailedError

    day = "2026-11-23"
    replace_day(any_lake, "articles", day, pa.table({"id": ["a"], "n": [0]}, SCHEMA), "r0")
    start, outcomes = threading.Barrier(2), {}

    def writer(n: int) -> None:
        table = open_table(any_lake, "articles")
        assert table is not None
        start.wait()
        source = pa.table({"id": ["a"], "n": [n], "dt": [day]})
        try:
            (table.merge(source, "t.id = s.id AND t.dt = s.dt", source_alias="s",
                         target_alias="t").when_matched_update_all().execute())  # fmt: skip
            outcomes[n] = "committed"
        except CommitFailedError:
            outcomes[n] = "refused"

    threads = [threading.Thread(target=writer, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes.values()) == ["committed", "refused"]
    (winner,) = [n for n, outcome in outcomes.items() if outcome == "committed"]
    assert read_day(any_lake, "articles", day, SCHEMA).to_pylist() == [{"id": "a", "n": winner}]
    assert [c.version for c in history(any_lake, "articles")] == [1, 0]


def test_maintenance_compacts_and_vacuums_what_time_travel_no_longer_needs(
    any_lake: Lake,
) -> None:
    day = "2026-11-23"
    for n in range(3):  # three versions of one day, each leaving its own file
        rows = pa.table({"id": [f"a{n}", f"b{n}"], "n": [n, n]}, schema=SCHEMA)
        replace_day(any_lake, "articles", day, rows, f"run-{n}")
    replace_day(any_lake, "articles", "2026-11-24", pa.table({"id": ["c"], "n": [9]}, SCHEMA), "r")
    replace_day(any_lake, "articles", "2026-11-24", pa.table({"id": ["d"], "n": [9]}, SCHEMA), "r")
    current = {d: read_day(any_lake, "articles", d, SCHEMA) for d in ("2026-11-23", "2026-11-24")}
    kept = maintain(any_lake, "articles", timedelta(days=30), "keep")
    assert kept["vacuumed"] == 0  # every version is younger than 30 days
    assert read_day(any_lake, "articles", day, SCHEMA, version=0).num_rows == 2  # still there
    done = maintain(any_lake, "articles", timedelta(0), "maintenance")
    assert done["vacuumed"] >= 3  # the files of the replaced versions
    for d, rows in current.items():
        assert read_day(any_lake, "articles", d, SCHEMA).equals(rows)
    assert history(any_lake, "articles")[0].run_id == "maintenance"


def test_a_table_log_is_checkpointed_every_ten_commits(any_lake: Lake) -> None:
    """Opening a table reads its last checkpoint and the few commits after it, not its
    whole history; a table made without that property gets it from maintenance."""
    for n in range(12):  # versions 0 to 11: the tenth commit writes a checkpoint
        rows = pa.table({"id": [f"a{n}"], "n": [n]}, schema=SCHEMA)
        replace_day(any_lake, "articles", f"2026-11-{n + 1:02d}", rows, f"run-{n}")
    log_keys = any_lake.list_keys("articles/_delta_log/")
    assert any(k.endswith("00000000000000000009.checkpoint.parquet") for k in log_keys)

    from deltalake import write_deltalake

    write_deltalake(any_lake.table_uri("offtopic"), pa.table({"id": ["x"], "dt": ["2026-11-01"]}),
                    partition_by=["dt"], storage_options=any_lake.storage_options())  # fmt: skip
    maintain(any_lake, "offtopic", timedelta(days=30), "maintenance")
    table = open_table(any_lake, "offtopic")
    assert table is not None
    assert table.metadata().configuration.get("delta.checkpointInterval") == "10"


def test_a_held_lease_is_renewed_and_a_lost_one_fences_its_writer(any_lake: Lake) -> None:
    """The lease lasts half a second here: held for two, it is renewed, so a second
    writer waits for it; taken from its holder, the holder's check refuses to go on."""
    held_until, taken_at = [0.0], [0.0]

    def first() -> None:
        with lease(any_lake, "long commit", ttl=0.5) as held:
            time.sleep(2.0)
            assert held is not None
            held.check()  # still ours after four lease periods
            held_until[0] = time.monotonic()

    thread = threading.Thread(target=first)
    thread.start()
    time.sleep(0.2)
    with lease(any_lake, "second writer", ttl=0.5, poll=0.05):
        taken_at[0] = time.monotonic()
    thread.join()
    assert taken_at[0] >= held_until[0]  # never both

    with lease(any_lake, "stalled", ttl=60) as held:
        assert held is not None
        any_lake.put(LEASE_KEY, b'{"holder": "a writer that took it over", "token": "other"}')
        with pytest.raises(LakeError, match=r"lost the lease .* \(now held by a writer that took"):
            held.check()
    assert any_lake.get(LEASE_KEY) is not None  # and the holder did not delete the other's


def test_replace_if_changes_only_the_object_it_read(any_lake: Lake) -> None:
    any_lake.put("_state/k.json", b"1")
    found = any_lake.get_tagged("_state/k.json")
    assert found is not None and found[0] == b"1"
    assert any_lake.replace_if("_state/k.json", b"2", found[1])
    assert not any_lake.replace_if("_state/k.json", b"3", found[1])  # written since it was read
    assert not any_lake.replace_if("_state/k.json", None, found[1])
    assert any_lake.get("_state/k.json") == b"2"
    now = any_lake.get_tagged("_state/k.json")
    assert now is not None and now[1] != found[1]
    assert any_lake.replace_if("_state/k.json", None, now[1])
    assert any_lake.get("_state/k.json") is None
    assert not any_lake.replace_if("_state/k.json", b"4", now[1])  # gone
    assert any_lake.get_tagged("_state/k.json") is None


def test_a_stalled_renewal_never_writes_over_the_lease_taken_since(
    any_lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The holder reads its lease to renew it and stalls past the expiry; another writer
    takes the lease over. The renewal's write is conditional on what it read, so it
    fails instead of writing over the new holder's lease, and the stalled holder is
    fenced: it writes nothing more, and leaves the other's lease alone."""
    read = any_lake.get_tagged
    stalled = [True]

    def read_then_stall(key: str) -> tuple[bytes, str] | None:
        found = read(key)
        if stalled.pop() if stalled else False:
            assert found is not None and any_lake.replace_if(LEASE_KEY, None, found[1])
            taken = {"holder": "the next writer", "token": "next"}
            assert any_lake.put_if_absent(LEASE_KEY, json.dumps(taken).encode())
        return found

    with lease(any_lake, "stalled", ttl=60) as held:
        assert held is not None
        monkeypatch.setattr(any_lake, "get_tagged", read_then_stall)
        assert not held.renew()
        assert held.lost == "now held by the next writer"
        with pytest.raises(LakeError, match=r"lost the lease .* \(now held by the next writer\)"):
            held.check()
    assert json.loads(any_lake.get(LEASE_KEY) or b"")["token"] == "next"
