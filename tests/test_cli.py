from __future__ import annotations

import fcntl
import gzip
import json
import os
import pty
import re
import signal
import socket
import struct
import subprocess
import termios
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline.lake.store import S3Lake
from pipeline.lake.tables import read_day
from pipeline.records import STORIES_SCHEMA
from pipeline.stages.quality import QUALITY_SCHEMA
from sample.s3server import SeaweedS3
from sample.site import SampleWeb
from tests.conftest import BIN, DAY, SAMPLE_SETTINGS
from tests.httpserver import Reply, ScriptedServer

NEWSFLOW = str(BIN / "newsflow")


def newsflow(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "NEWSFLOW"))}
    return subprocess.run(
        [NEWSFLOW, *args], env={**clean, **(env or {})}, capture_output=True, text=True,
        timeout=300, input=stdin,
    )  # fmt: skip


def test_extract_writes_one_line_per_file_in_the_contract_format(
    web: SampleWeb, tmp_path: Path
) -> None:
    outlet = web.outlets["cinedigital"]
    article = outlet["articles"][0]
    page = web._page("cinedigital", article).encode()
    (tmp_path / "es-article.html").write_bytes(page)
    (tmp_path / "0042.html.gz").write_bytes(gzip.compress(page))
    (tmp_path / "empty.html").write_bytes(b"")
    out = tmp_path / "out.jsonl"
    result = newsflow(
        "extract",
        str(tmp_path / "es-article.html"),
        str(tmp_path / "0042.html.gz"),
        str(tmp_path / "empty.html"),
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["id"] for line in lines] == ["es-article", "0042", "empty"]
    for line in lines:
        assert set(line) == {"id", "title", "text", "authors", "published_at", "language"}
    assert lines[0] == lines[1] | {"id": "es-article"}
    assert lines[0]["title"] == article["title"]
    assert lines[0]["language"] == "es"
    assert lines[0]["authors"] == ["Lucía Fernández Soto"]
    assert lines[0]["published_at"].startswith("2026-11-22T11:20:00")
    assert lines[2]["text"] == "" and "empty.html" in result.stderr


def test_extract_to_standard_output(web: SampleWeb, tmp_path: Path) -> None:
    page = web._page("bookwire", web.outlets["bookwire"]["articles"][0])
    (tmp_path / "a.html").write_text(page)
    result = newsflow("extract", str(tmp_path / "a.html"))
    assert result.returncode == 0
    assert json.loads(result.stdout)["id"] == "a"


def test_run_against_s3_with_aws_variables(
    web: SampleWeb, feeds_file: Path, s3: SeaweedS3, bucket: str
) -> None:
    env = {**s3.env(), "NEWSFLOW_SETTINGS": str(SAMPLE_SETTINGS)}
    args = ["run", "--feeds", str(feeds_file), "--lake", f"s3://{bucket}/news", "--create"]
    result = newsflow(*args, "--date", DAY.isoformat(), "--allow-private-network", env=env)
    assert result.returncode == 0, result.stderr
    assert "feeds polled     12 (new content 11, not modified 0, failed 1)" in result.stdout
    assert f"s3://{bucket}/news/articles/dt={DAY}/" in result.stdout
    assert "off-topic        5 (below relevance 0.5, kept in offtopic/)" in result.stdout
    assert (
        "rejects          5 (http-404 1, http-500 1, malformed-feed 1, robots 1, too-short 1)"
        in result.stdout
    )

    # A downstream reader: pyarrow straight from S3.
    fs = s3.filesystem()
    table = pq.read_table(f"{bucket}/news/articles/dt={DAY}/", filesystem=fs)
    assert table.num_rows == 14
    assert len(set(table.column("article_id").to_pylist())) == 14
    # The same lake as the DAGs leave: the day's stories, quality report and digest too.
    lake = S3Lake(f"s3://{bucket}/news", s3.client(), s3.settings())
    assert "stories          10 gained articles" in result.stdout
    headlines = read_day(lake, "stories", str(DAY), STORIES_SCHEMA).column("headline")
    assert any(h.startswith("Netflix goes all in") for h in headlines.to_pylist())
    assert read_day(lake, "quality", str(DAY), QUALITY_SCHEMA).to_pylist()[0]["articles"] == 14
    page = f"digest/dt={DAY}/index.html"
    assert lake.url(page) in result.stdout and b"<h3>Netflix" in (lake.get(page) or b"")


def test_run_in_a_terminal_shows_a_progress_bar_with_a_total_and_an_eta(
    web: SampleWeb, feeds_file: Path, tmp_path: Path
) -> None:
    """What a person at a terminal sees: the pages to fetch once the feeds are polled, how
    many are done, and the time left (tqdm draws only on a terminal: a pseudo-terminal)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "NEWSFLOW"))}
    env = {**clean, "NEWSFLOW_SETTINGS": str(SAMPLE_SETTINGS)}
    args = ["run", "--feeds", str(feeds_file), "--lake", str(tmp_path / "lake"), "--create",
            "--date", DAY.isoformat(), "--allow-private-network"]  # fmt: skip
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    process = subprocess.Popen([NEWSFLOW, *args], env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=secondary)  # fmt: skip
    os.close(secondary)
    drawn = b""
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the run ended and closed its end
            break
        if not chunk:
            break
        drawn += chunk
    os.close(primary)
    assert process.wait(timeout=300) == 0
    text = drawn.decode(errors="replace")
    assert "newsflow run 2026-11-23, polling batch 1/3" in text  # the sample's 3 batches
    assert "newsflow run 2026-11-23, batch 3/3" in text
    fetched = re.findall(r"(\d+)/(\d+) \[[^<\]]*<([\d:?]+)", text)  # done/total [spent<left
    assert fetched and fetched[-1][0] == fetched[-1][1] != "0", text[-500:]


def test_run_without_private_network_refuses_the_local_sample(
    web: SampleWeb, feeds_file: Path, tmp_path: Path
) -> None:
    env = {"NEWSFLOW_SETTINGS": str(SAMPLE_SETTINGS)}
    args = ["run", "--feeds", str(feeds_file), "--lake", str(tmp_path / "lake"), "--no-progress"]
    result = newsflow(*args, "--date", DAY.isoformat(), "--create", env=env)
    assert result.returncode == 1  # no feed could be polled
    assert "failed 12" in result.stdout
    assert "rejects          12 (blocked-address 12)" in result.stdout
    assert web.requests == []


def test_environment_variables_configure_the_run(
    web: SampleWeb, feeds_file: Path, tmp_path: Path
) -> None:
    env = {
        "NEWSFLOW_SETTINGS": str(SAMPLE_SETTINGS),
        "NEWSFLOW_FEEDS": str(feeds_file),
        "NEWSFLOW_LAKE": str(tmp_path / "env-lake"),
        "NEWSFLOW_ALLOW_PRIVATE_NETWORK": "1",
    }
    result = newsflow("run", "--date", DAY.isoformat(), "--no-progress", "--create", env=env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "env-lake" / "articles" / "_delta_log").is_dir()


def test_bad_feeds_file_is_reported_without_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "feeds.yaml"
    bad.write_text("feeds:\n  - name: no url\n")
    result = newsflow("run", "--feeds", str(bad), "--lake", str(tmp_path / "lake"))
    assert result.returncode == 2
    assert "feed #1" in result.stderr and "Traceback" not in result.stderr


def test_cluster_writes_one_line_per_input_in_input_order(tmp_path: Path) -> None:
    from tests.test_stories import LIONSGATE_DEAL, NETFLIX_SCREENTRADE, NETFLIX_TECHBEAT

    lines = [
        {"id": "st", "title": NETFLIX_SCREENTRADE[0], "text": NETFLIX_SCREENTRADE[1],
         "published_at": "2026-11-22T21:10:00Z", "source": "Screen Trade Daily"},
        {"id": "repost", "title": NETFLIX_TECHBEAT[0], "text": NETFLIX_TECHBEAT[1],
         "published_at": "2026-11-22T19:30:00Z", "url": "https://reel.example/x"},
        {"id": "tb", "title": NETFLIX_TECHBEAT[0], "text": NETFLIX_TECHBEAT[1],
         "published_at": "2026-11-22T15:04:00+00:00", "source": "TechBeat"},
        {"id": "lionsgate", "title": LIONSGATE_DEAL[0], "text": LIONSGATE_DEAL[1]},
    ]  # fmt: skip
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = newsflow("cluster", "--in", str(source), "--out", str(tmp_path / "out.jsonl"))
    assert result.returncode == 0, result.stderr
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [o["id"] for o in out] == ["st", "repost", "tb", "lionsgate"]
    assert all(set(o) == {"id", "story_id", "duplicate_of"} for o in out)
    by_id = {o["id"]: o for o in out}
    # Stream order is publication order: "tb" came first, so the repost duplicates it.
    assert by_id["repost"]["duplicate_of"] == "tb" and by_id["tb"]["duplicate_of"] is None
    assert by_id["st"]["story_id"] == by_id["tb"]["story_id"] == by_id["repost"]["story_id"]
    assert by_id["lionsgate"]["story_id"] != by_id["tb"]["story_id"]


def test_cluster_reports_a_bad_line_by_number_and_keeps_going(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": "a", "title": "x"}\nnot json\n{"title": "no id"}\n{"id": "b"}\n')
    result = newsflow("cluster", "--in", str(source), "--out", str(tmp_path / "out.jsonl"))
    assert result.returncode == 1
    assert "in.jsonl:2: not JSON" in result.stderr and "in.jsonl:3: needs" in result.stderr
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [o["id"] for o in out] == ["a", "b"]


def test_reclassify_replays_a_new_threshold_from_the_lake_without_fetching(
    web: SampleWeb, feeds_file: Path, tmp_path: Path
) -> None:
    env = {"NEWSFLOW_SETTINGS": str(SAMPLE_SETTINGS)}
    lake = str(tmp_path / "lake")
    args = ["run", "--feeds", str(feeds_file), "--lake", lake, "--no-progress", "--create"]
    ran = newsflow(*args, "--date", DAY.isoformat(), "--allow-private-network", env=env)
    assert ran.returncode == 0, ran.stderr
    web.requests.clear()

    day = DAY.isoformat()
    replay = ["reclassify", "--from", day, "--to", day, "--lake", lake]
    result = newsflow(*replay, "--threshold", "0", env=env)
    assert result.returncode == 0, result.stderr
    assert f"{day}  articles 14 -> 19, off-topic 0" in result.stdout
    assert web.requests == []  # everything came from the lake
    record = json.loads((tmp_path / "lake" / "_state" / "days" / f"dt={day}.json").read_text())
    assert record["relevance_threshold"] == 0 and record["batches"]  # the run's reports stay

    result = newsflow(*replay, env=env)  # back to the settings' threshold
    assert f"{day}  articles 19 -> 14, off-topic 5" in result.stdout
    earlier = (DAY.replace(day=DAY.day - 1)).isoformat()
    result = newsflow("reclassify", "--from", earlier, "--to", earlier, "--lake", lake, env=env)
    assert f"{earlier}  nothing committed" in result.stdout


def test_a_broken_config_file_stops_the_run_with_its_line(
    web: SampleWeb, feeds_file: Path, tmp_path: Path
) -> None:
    settings = tmp_path / "settings.yaml"
    settings.write_text("outlets: outlets.yaml\n")
    (tmp_path / "outlets.yaml").write_text('outlets:\n  a.example:\n    drop: ["//div["]\n')
    args = ["run", "--feeds", str(feeds_file), "--lake", str(tmp_path / "lake"), "--no-progress"]
    result = newsflow(*args, "--allow-private-network", env={"NEWSFLOW_SETTINGS": str(settings)})
    assert result.returncode == 2
    assert f"{tmp_path / 'outlets.yaml'}:3: '//div[' is not an XPath" in result.stderr
    assert "Traceback" not in result.stderr and web.requests == []  # nothing was fetched


SAMPLE = {"NEWSFLOW_SETTINGS": str(SAMPLE_SETTINGS)}


def test_a_day_in_the_future_is_refused_before_anything_is_touched(
    web: SampleWeb, feeds_file: Path, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    assert newsflow("init", "--lake", str(lake)).returncode == 0
    ahead = (datetime.now(UTC).date() + timedelta(days=365)).isoformat()
    args = ["run", "--feeds", str(feeds_file), "--lake", str(lake), "--allow-private-network"]
    result = newsflow(*args, "--date", ahead, env=SAMPLE)
    assert result.returncode == 2
    assert f"--date {ahead} is in the future" in result.stderr
    assert web.requests == [] and not (lake / "_state").exists()


def test_a_lake_that_is_not_there_is_refused_unless_made_on_purpose(
    web: SampleWeb, feeds_file: Path, tmp_path: Path
) -> None:
    typo = tmp_path / "lkae"
    args = ["run", "--feeds", str(feeds_file), "--lake", str(typo), "--date", DAY.isoformat(),
            "--allow-private-network", "--no-progress"]  # fmt: skip
    refused = newsflow(*args, env=SAMPLE)
    assert refused.returncode == 2 and web.requests == [] and not typo.exists()
    assert f"there is no newsflow lake at {typo}" in refused.stderr
    assert f"newsflow init --lake {typo}" in refused.stderr
    made = newsflow("init", "--lake", str(typo))
    assert made.returncode == 0 and f"made a lake at {typo}" in made.stdout
    assert newsflow(*args, env=SAMPLE).returncode == 0
    assert "a lake is already at" in newsflow("init", "--lake", str(typo)).stdout


def test_a_lake_that_cannot_be_written_is_one_line_and_exit_2(
    web: SampleWeb, feeds_file: Path, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    newsflow("init", "--lake", str(lake))
    (lake / "_staging").write_text("a file where the lake needs a folder")
    args = ["run", "--feeds", str(feeds_file), "--lake", str(lake), "--date", DAY.isoformat(),
            "--allow-private-network", "--no-progress"]  # fmt: skip
    result = newsflow(*args, env=SAMPLE)
    assert result.returncode == 2, result.stderr
    assert f"newsflow run: could not write {lake / '_staging'}" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_run_in_which_no_feed_could_be_polled_fails_and_names_each_feed(
    tmp_path: Path,
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # nothing listens here: connections are refused
        urls = [f"http://127.0.0.1:{closed.getsockname()[1]}/{name}.xml" for name in "ab"]
        feeds = tmp_path / "feeds.yaml"
        feeds.write_text("feeds:\n" + "".join(f"  - url: {url}\n" for url in urls))
        result = newsflow("-v", "run", "--feeds", str(feeds), "--lake", str(tmp_path / "lake"),
                          "--date", DAY.isoformat(), "--allow-private-network", "--create",
                          "--no-progress", env=SAMPLE)  # fmt: skip
    assert result.returncode == 1
    for url in urls:
        assert f"    {url}  connect: " in result.stdout  # the summary names it, and why
        assert f"feed {url}: failed: connect" in result.stderr  # so does -v, as it goes
    assert "no feed could be polled" in result.stderr


def test_ctrl_c_during_a_run_says_how_to_resume(server: ScriptedServer, tmp_path: Path) -> None:
    when = "Mon, 23 Nov 2026 12:00:00 +0000"
    server.route("/feed.xml", Reply(200, (
        f'<rss version="2.0"><channel><title>t</title><item><title>A</title>'
        f"<link>{server.url('/slow')}</link><pubDate>{when}</pubDate></item></channel></rss>"
    ).encode(), {"Content-Type": "application/rss+xml"}))  # fmt: skip
    server.route("/slow", Reply(raw=((b"", 600.0),)))  # holds the page for ever
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(f"feeds:\n  - url: {server.url('/feed.xml')}\n")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "NEWSFLOW"))}
    process = subprocess.Popen(
        [NEWSFLOW, "run", "--feeds", str(feeds), "--lake", str(tmp_path / "lake"), "--date",
         DAY.isoformat(), "--allow-private-network", "--create", "--no-progress"],
        env={**clean, **SAMPLE}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # As from a terminal: this test may run as a background job, which ignores SIGINT.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while "/slow" not in server.paths() and time.monotonic() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    try:
        _, stderr = process.communicate(timeout=15)  # not the page's 20 s deadline
    finally:
        process.kill()
        process.communicate()
    assert process.returncode == 130
    assert (f"newsflow run: interrupted; nothing of {DAY} was committed; run the same command "
            "again to resume") in stderr  # fmt: skip
    assert "Traceback" not in stderr


def test_cluster_and_classify_read_standard_input_and_refuse_a_missing_file(
    tmp_path: Path,
) -> None:
    lines = '{"id": "a", "title": "Netflix tests AI dubbing"}\n{"id": "b", "title": "x"}\n'
    for command in ("cluster", "classify"):
        done = newsflow(command, "--in", "-", "--out", "-", stdin=lines)
        assert done.returncode == 0, done.stderr
        assert [json.loads(line)["id"] for line in done.stdout.splitlines()] == ["a", "b"]
        missing = newsflow(command, "--in", str(tmp_path / "nope.jsonl"), "--out", "-")
        assert missing.returncode == 2
        assert missing.stderr == (f"newsflow {command}: {tmp_path / 'nope.jsonl'}: cannot read: "
                                  "No such file or directory\n")  # fmt: skip


def test_an_internal_error_is_one_line_unless_asked_for_the_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline import cli

    def broken(args: object) -> int:
        raise RuntimeError("a bug")

    monkeypatch.setattr(cli, "cmd_cluster", broken)
    assert cli.main(["cluster", "--in", "x", "--out", "y"]) == 70
    assert capsys.readouterr().err == (
        "newsflow cluster: internal error: RuntimeError: a bug (run it again with -v to see "
        "where)\n"
    )
    with pytest.raises(RuntimeError):
        cli.main(["-v", "cluster", "--in", "x", "--out", "y"])
