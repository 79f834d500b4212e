"""The inbox: files dropped in ``{lake}/inbox/`` ingested at once, by a real Airflow
(``airflow standalone``: scheduler, triggerer, DAG processor and API server) whose
watcher finds them; and the same processing step by step, without Airflow."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
import pytest

from pipeline.lake.store import LakeError, LocalLake, create_lake
from pipeline.lake.tables import days, read_day
from pipeline.records import ARTICLES_SCHEMA, REJECTS_SCHEMA
from pipeline.runs.inbox import MAX_ATTEMPTS, STALE_AFTER, claim_next, process
from pipeline.runs.ingest import POOL_MIN_PAGES
from pipeline.settings import Settings
from sample.site import SampleWeb
from tests.conftest import BIN, SAMPLE_SETTINGS, airflow_env, prepare_airflow
from tests.crawls import cc_news_warc


def _urls(web: SampleWeb, times: int = 1) -> bytes:
    """Two articles and a missing page; ``times`` over (lists pasted together repeat)."""
    urls = [web.article_url("techbeat", "2026/11/22/netflix-goes-all-in-on-generative-ai"),
            web.article_url("soundbiz", "labels/universal-udio-licensing-settlement"),
            web.article_url("reelpost", "no-such")]  # fmt: skip
    return ("# for the morning meeting\n" + "\n".join(urls * times) + "\n").encode()


def test_inbox_files_are_ingested_once_and_moved_to_done_or_failed(
    web: SampleWeb, settings: Settings, lake: LocalLake
) -> None:
    lake.put("inbox/urls.txt", _urls(web))
    lake.put("inbox/scan.pdf", b"%PDF-1.7\x00\x00binary")
    found = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    first, second = claim_next(lake, found), claim_next(lake, found)
    assert first and second and claim_next(lake, found) is None  # each file is taken once
    stamp = "20261124T093000-"
    assert {first["name"], second["name"]} == {f"{stamp}urls.txt", f"{stamp}scan.pdf"}
    assert lake.list_keys("inbox/processing/") == [
        f"inbox/processing/{stamp}scan.pdf", f"inbox/processing/{stamp}urls.txt"
    ]  # fmt: skip

    results = {c["name"].removeprefix(stamp): process(lake, settings, c) for c in (first, second)}
    assert results["urls.txt"].status == "done" and results["urls.txt"].report
    assert results["urls.txt"].report.days == ["2026-11-24"]  # the day the file was found
    titles = read_day(lake, "articles", "2026-11-24", ARTICLES_SCHEMA).column("title")
    assert len(titles) == 2
    rejects = read_day(lake, "rejects", "2026-11-24", REJECTS_SCHEMA).to_pylist()
    assert [(r["reason"], r["url"].endswith("/no-such/")) for r in rejects] == [("http-404", True)]

    assert results["scan.pdf"].status == "failed"
    reason = (lake.get(f"inbox/failed/{stamp}scan.pdf.reason.txt") or b"").decode()
    assert "neither a WARC file" in reason and lake.get(f"inbox/failed/{stamp}scan.pdf")
    assert sorted(lake.list_keys("inbox/")) == [
        f"inbox/done/{stamp}urls.txt", f"inbox/failed/{stamp}scan.pdf",
        f"inbox/failed/{stamp}scan.pdf.reason.txt",
    ]  # fmt: skip
    # A retried task finds its file already handled and does nothing twice.
    again = process(lake, settings, first)
    assert again.status == results[first["name"].removeprefix(stamp)].status


def test_a_warc_file_dropped_in_the_inbox_lands_in_the_days_of_its_records(
    web: SampleWeb, settings: Settings, lake: LocalLake
) -> None:
    days = [date(2026, 11, 21), date(2026, 11, 22)]
    lake.put("inbox/crawl.warc.gz", cc_news_warc(web, days))
    web.stop()  # a WARC file is read, never fetched again
    claim = claim_next(lake)
    assert claim is not None
    result = process(lake, settings, claim)
    assert result.status == "done" and result.report is not None
    assert result.report.days == [d.isoformat() for d in days]
    assert [k.split("-", 1)[1] for k in lake.list_keys("inbox/")] == ["crawl.warc.gz"]
    assert lake.list_keys("inbox/")[0].startswith("inbox/done/")


class Watched:
    """A lake that records which folders were listed, and how."""

    def __init__(self, lake: LocalLake) -> None:
        self.lake, self.listed = lake, list[tuple[str, str]]()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.lake, name)
        if name.startswith("list_"):

            def listing(prefix: str) -> Any:
                self.listed.append((name, prefix))
                return attribute(prefix)

            return listing
        return attribute


def test_the_watcher_lists_only_the_top_of_the_inbox(lake: LocalLake) -> None:
    for n in range(3):
        lake.put(f"inbox/done/2026112{n}T000000-old-{n}.txt", b"https://x.example/a\n")
    lake.put("inbox/failed/20261120T000000-bad.pdf", b"%PDF")
    watched = Watched(lake)
    assert claim_next(watched) is None
    assert watched.listed == [("list_top", "inbox/"), ("list_top", "inbox/processing/")]


def test_a_file_stranded_by_a_dead_worker_is_taken_again_then_failed(lake: LocalLake) -> None:
    lake.put("inbox/urls.txt", b"https://x.example/a\n")
    found = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    first = claim_next(lake, found)
    assert first is not None and first["attempt"] == 1
    # Its worker dies: nothing touches the claim any more.
    assert claim_next(lake, found + STALE_AFTER / 2) is None  # still in its grace
    later = found + STALE_AFTER + timedelta(minutes=1)
    again = claim_next(lake, later)
    assert again is not None and again["attempt"] == 2
    assert (again["key"], again["found_at"]) == (first["key"], first["found_at"])  # same day
    for attempt in range(3, MAX_ATTEMPTS + 1):
        later += STALE_AFTER + timedelta(minutes=1)
        assert (claim_next(lake, later) or {}).get("attempt") == attempt
    assert claim_next(lake, later + STALE_AFTER + timedelta(minutes=1)) is None
    name = first["name"]
    reason = (lake.get(f"inbox/failed/{name}.reason.txt") or b"").decode()
    assert f"taken {MAX_ATTEMPTS} times" in reason and lake.list_keys("inbox/processing/") == []
    assert lake.list_keys("inbox/claims/") == []


def _claimed(web: SampleWeb, lake: LocalLake) -> dict[str, Any]:
    lake.put("inbox/urls.txt", _urls(web))
    claim = claim_next(lake)
    assert claim is not None
    return claim


def _alive_at(lake: LocalLake, claim: dict[str, Any]) -> datetime:
    document = json.loads(lake.get(f"inbox/claims/{claim['name']}.json") or b"{}")
    return datetime.fromisoformat(document["alive_at"])


def test_a_claim_being_worked_on_is_touched_and_never_taken_twice(
    web: SampleWeb, settings: Settings, lake: LocalLake, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.runs import inbox

    claim = _claimed(web, lake)
    taken_at = _alive_at(lake, claim)
    touched: list[datetime] = []
    real_ingest = inbox._ingest

    def slow_ingest(*args: Any) -> Any:
        time.sleep(0.5)  # long enough for the heartbeat below to beat several times
        touched.append(_alive_at(lake, claim))
        # The watcher, looking a while after the last touch, leaves the file alone.
        assert claim_next(lake, touched[-1] + STALE_AFTER / 2) is None
        return real_ingest(*args)

    monkeypatch.setattr(inbox, "HEARTBEAT", 0.1)
    monkeypatch.setattr(inbox, "_ingest", slow_ingest)
    result = process(lake, settings, claim)
    assert result.status == "done" and touched[0] > taken_at
    assert lake.list_keys("inbox/claims/") == []  # done: the claim goes


def test_an_error_that_may_pass_is_left_to_the_tasks_next_try(
    web: SampleWeb, settings: Settings, lake: LocalLake, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.runs import inbox

    claim = _claimed(web, lake)
    real_ingest = inbox._ingest

    def s3_blip(*args: Any) -> Any:
        raise LakeError("could not write s3://news/lake/raw/x (endpoint http://s3): timed out")

    monkeypatch.setattr(inbox, "_ingest", s3_blip)
    with pytest.raises(LakeError):
        process(lake, settings, claim, final_attempt=False)
    assert lake.list_keys("inbox/processing/") == [claim["key"]]  # not failed: left for a retry
    monkeypatch.setattr(inbox, "_ingest", real_ingest)
    assert process(lake, settings, claim, final_attempt=False).status == "done"
    # A mistake in the file itself fails it at once, whatever try this is.
    lake.put("inbox/scan.pdf", b"%PDF-1.7\x00\x00binary")
    pdf = claim_next(lake)
    assert pdf is not None
    assert process(lake, settings, pdf, final_attempt=False).status == "failed"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def standalone(tmp_path: Path, feeds_file: Path) -> Iterator[tuple[dict[str, str], LocalLake]]:
    """``airflow standalone`` with the DAGs of this repository, on a local lake."""
    home, lake = tmp_path / "airflow", LocalLake(tmp_path / "lake")
    home.mkdir()
    create_lake(lake)
    api = _free_port()
    env = airflow_env(
        home,
        AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="True",
        AIRFLOW__API__PORT=str(api),
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{api}/execution/",
        AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(_free_port()),
        AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=str(_free_port()),
        NEWSFLOW_FEEDS=str(feeds_file),
        NEWSFLOW_LAKE=str(lake.root),
        NEWSFLOW_ALLOW_PRIVATE_NETWORK="1",
        NEWSFLOW_SETTINGS=str(SAMPLE_SETTINGS),
    )
    prepare_airflow(home)
    log = (tmp_path / "standalone.log").open("wb")
    server = subprocess.Popen(
        [str(BIN / "airflow"), "standalone"], env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        yield env, lake
    finally:  # every process it started, also those that left its process group
        family = [server.pid, *(p.pid for p in psutil.Process(server.pid).children(recursive=True))]
        os.killpg(server.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=60)
        for pid in family:
            with contextlib.suppress(psutil.Error):
                psutil.Process(pid).kill()
        log.close()


def _wait(what: str, ready: object, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(ready) and ready():
            return
        time.sleep(2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.airflow
def test_a_url_list_dropped_in_the_inbox_lands_and_the_chain_follows(
    web: SampleWeb, standalone: tuple[dict[str, str], LocalLake], tmp_path: Path
) -> None:
    env, lake = standalone

    wanted = {"news_inbox", "news_stories", "news_quality"}

    def unpaused() -> bool:
        airflow = [str(BIN / "airflow"), "dags"]
        subprocess.run([*airflow, "unpause", "--treat-dag-id-as-regex", "-y",
                        "^news_(inbox|stories|quality)$"], env=env, capture_output=True,
                       timeout=120)  # fmt: skip
        listed = subprocess.run([*airflow, "list", "-o", "json"], env=env, capture_output=True,
                                text=True, timeout=120)  # fmt: skip
        try:
            dags = json.loads(listed.stdout[listed.stdout.index("[{") :])
        except ValueError:
            return False
        return {d["dag_id"] for d in dags if str(d["is_paused"]).lower() == "false"} >= wanted

    # The DAG processor has parsed the DAGs once they can be unpaused.
    _wait("the DAGs to be parsed", unpaused)
    # Enough lines for the task to extract with a pool of processes (forked, in Airflow).
    lake.put("inbox/urls.txt", _urls(web, times=POOL_MIN_PAGES // 3 + 1))
    _wait("the list in inbox/done/", lambda: lake.list_keys("inbox/done/"))
    (day,) = days(lake, "articles")
    assert read_day(lake, "articles", day, ARTICLES_SCHEMA).num_rows == 2
    # news_stories then news_quality run on the assets' events, for the day they name.
    _wait("the day's quality report", lambda: days(lake, "quality") == [day])
    assert days(lake, "stories") == [day]
    (done,) = lake.list_keys("inbox/")
    assert done.startswith("inbox/done/") and done.endswith("-urls.txt")
    logs = [(tmp_path / "standalone.log").read_text(errors="replace")]
    logs += [p.read_text(errors="replace") for p in (tmp_path / "airflow").rglob("*.log")]
    assert any("run_type=asset_triggered" in log for log in logs)
    assert not any("extraction process" in log for log in logs)  # the pool did not die
