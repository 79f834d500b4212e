from __future__ import annotations

import gzip
import json
import os
import subprocess
from pathlib import Path

import pyarrow.parquet as pq

from sample.s3server import SeaweedS3
from sample.site import SampleWeb
from tests.conftest import BIN, DAY, SAMPLE_SETTINGS

NEWSFLOW = str(BIN / "newsflow")


def newsflow(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "NEWSFLOW"))}
    return subprocess.run(
        [NEWSFLOW, *args], env={**clean, **(env or {})}, capture_output=True, text=True, timeout=300
    )


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
    args = ["run", "--feeds", str(feeds_file), "--lake", f"s3://{bucket}/news"]
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


def test_run_without_private_network_refuses_the_local_sample(
    web: SampleWeb, feeds_file: Path, tmp_path: Path
) -> None:
    env = {"NEWSFLOW_SETTINGS": str(SAMPLE_SETTINGS)}
    args = ["run", "--feeds", str(feeds_file), "--lake", str(tmp_path / "lake"), "--no-progress"]
    result = newsflow(*args, "--date", DAY.isoformat(), env=env)
    assert result.returncode == 0
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
    result = newsflow("run", "--date", DAY.isoformat(), "--no-progress", env=env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "env-lake" / "_manifests" / f"dt={DAY}.json").exists()


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


def test_cluster_reports_a_bad_line_by_number(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": "a", "title": "x"}\nnot json\n')
    result = newsflow("cluster", "--in", str(source), "--out", str(tmp_path / "out.jsonl"))
    assert result.returncode == 2
    assert "in.jsonl:2" in result.stderr


def test_reclassify_replays_a_new_threshold_from_the_lake_without_fetching(
    web: SampleWeb, feeds_file: Path, tmp_path: Path
) -> None:
    env = {"NEWSFLOW_SETTINGS": str(SAMPLE_SETTINGS)}
    lake = str(tmp_path / "lake")
    args = ["run", "--feeds", str(feeds_file), "--lake", lake, "--no-progress"]
    ran = newsflow(*args, "--date", DAY.isoformat(), "--allow-private-network", env=env)
    assert ran.returncode == 0, ran.stderr
    web.requests.clear()

    day = DAY.isoformat()
    replay = ["reclassify", "--from", day, "--to", day, "--lake", lake]
    result = newsflow(*replay, "--threshold", "0", env=env)
    assert result.returncode == 0, result.stderr
    assert f"{day}  articles 14 -> 19, off-topic 0" in result.stdout
    assert web.requests == []  # everything came from the lake
    manifest = json.loads((tmp_path / "lake" / "_manifests" / f"dt={day}.json").read_text())
    assert manifest["relevance_threshold"] == 0 and manifest["batches"]  # the run's reports stay

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
