"""The offline demo: the real ``news_ingest`` DAG over the bundled sample web.

1. serves the sample outlets from 127.0.0.1 (``sample/site.py``);
2. runs ``airflow dags test news_ingest <date>`` in a temporary AIRFLOW_HOME on SQLite;
3. runs news_stories, news_quality and news_digest for the day, as the assets would;
4. prints what landed, read back from the Delta tables, and where the digest page is.

With ``--s3`` the lake is a bucket on a SeaweedFS server started for the demo, reached
through the ``aws_default`` connection, as in production.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

from pipeline.digest import page_key
from pipeline.lake.store import Lake, create_lake, open_lake
from pipeline.lake.tables import history, read_day
from pipeline.records import ARTICLES_SCHEMA, OFFTOPIC_SCHEMA, REJECTS_SCHEMA, STORIES_SCHEMA
from sample.s3server import SeaweedS3
from sample.site import SampleWeb

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DEMO_PORT = 18700


SHOWN_TABLES = ("articles", "offtopic", "stories", "story_days", "rejects")


def _airflow(args: list[str], env: dict[str, str], log: Path) -> None:
    with log.open("a") as out:
        result = subprocess.run(
            [str(BIN / "airflow"), *args], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    if result.returncode != 0:
        print(log.read_text()[-4000:], file=sys.stderr)
        raise SystemExit(f"airflow {' '.join(args)} failed; full log: {log}")


def _summary(lake: Lake, day: str) -> str:
    commits = [c for c in history(lake, "articles") if c.counts.get("dt") == day]
    if not commits:
        return f"nothing committed for {day} in {lake.uri}"
    articles = read_day(lake, "articles", day, ARTICLES_SCHEMA).to_pylist()
    rejects = read_day(lake, "rejects", day, REJECTS_SCHEMA).to_pylist()
    lines = [
        f"Read back from the Delta table {lake.url('articles')} (version {commits[0].version},"
        f" written by run {commits[0].run_id}):",
        f"  {len(articles)} articles from {len({a['source_name'] for a in articles})} outlets, "
        f"languages {dict(Counter(a['language'] for a in articles))}",
        "",
    ]
    for article in articles:
        when = article["published_at"].strftime("%m-%d %H:%M") if article["published_at"] else "?"
        lines.append(
            f"  {when}  {article['source_name'][:22]:<22} {article['word_count']:>4}w "
            f"{article['relevance']:.2f}  {(article['title'] or '')[:64]}"
        )
    offtopic = read_day(lake, "offtopic", day, OFFTOPIC_SCHEMA).to_pylist()
    lines += ["", f"  {len(offtopic)} off-topic articles, kept in offtopic/ for a later replay:"]
    lines += [f"    {a['relevance']:.2f}  {(a['title'] or '')[:80]}" for a in offtopic]
    example = next((a for a in articles if a["entities"]), None)
    if example:
        lines += [
            "",
            f'  Enrichment of "{(example["title"] or "")[:60]}":',
            f"    topics    {', '.join(example['topics'] or [])}",
            f"    entities  {', '.join(e['name'] for e in example['entities'][:8])}",
        ]
    rights: dict[str, str] = {}
    for article in articles + offtopic:
        r = article["rights"] or {}
        said = [f"robots.txt turns away {', '.join(r['ai_crawlers_disallowed'])}"]
        said = said if r.get("ai_crawlers_disallowed") else []
        if r.get("tdm_reserved"):
            said.append(f"TDM reserved ({r['tdm_source']})")
        if r.get("noai"):
            said.append("noai")
        if said:
            rights[article["source_name"]] = "; ".join(said)
    lines += ["", "  Rights signals declared by the outlets:"]
    lines += [f"    {outlet:<24}{said}" for outlet, said in sorted(rights.items())]
    stories = read_day(lake, "stories", day, STORIES_SCHEMA).to_pylist()
    stories.sort(key=lambda s: (-len(s["outlets"]), -s["article_count"], s["story_id"]))
    lines += ["", f"  {len(stories)} stories; the most widely covered:"]
    for story in stories[:3]:
        first = story["first_reported_by"] or {}
        lines.append(f"    {story['story_id']}  {story['headline']}")
        lines.append(
            f"      {story['article_count']} article{'s' * (story['article_count'] != 1)} from "
            f"{', '.join(story['outlets'])}; "
            f"first reported by {first.get('source_name')}"
        )
        lines.append(f"      topics: {', '.join(story['topics'])}")
        lines.append(f"      stakeholders: {', '.join(story['stakeholders'])}")
    lines += ["", f"  {len(rejects)} rejects, recorded with their reason:"]
    for reject in rejects:
        lines.append(f"    {reject['stage']:<8}{reject['reason']:<16}{reject['url']}")
    names = {a["article_id"]: a["source_name"] for a in articles}
    for copy in (a for a in articles if a["duplicate_of"]):
        original = names.get(copy["duplicate_of"], copy["duplicate_of"])
        lines += ["", f"  {copy['source_name']} republished {original}'s article (duplicate_of)"]
    raw = sorted({a["raw_ref"].partition("#")[0] for a in articles + offtopic if a["raw_ref"]})
    lines += [
        "",
        "  Tables (Delta Lake, partitioned by dt):",
        *(f"    {lake.url(name)}" for name in SHOWN_TABLES),
        "  Raw pages (WARC):",
        *(f"    {lake.url(key)}" for key in raw),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--date", default="2026-11-23", help="the day to ingest")
    parser.add_argument("--lake", default=str(ROOT / "demo-lake"), help="local lake folder")
    parser.add_argument("--s3", action="store_true", help="write to a local SeaweedFS S3 instead")
    args = parser.parse_args()

    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="newsflow-demo-")))
        try:
            web = stack.enter_context(SampleWeb(base_port=DEMO_PORT))
        except OSError:
            web = stack.enter_context(SampleWeb())  # the fixed ports are taken
        feeds = web.write_feeds_file(work / "feeds.yaml")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "NEWSFLOW"))}
        env.update(
            AIRFLOW_HOME=str(work / "airflow"),
            AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "dags"),
            AIRFLOW__CORE__PLUGINS_FOLDER=str(ROOT / "plugins"),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            PYTHONPATH=str(ROOT),
            NEWSFLOW_FEEDS=str(feeds),
            NEWSFLOW_ALLOW_PRIVATE_NETWORK="1",
            NEWSFLOW_SETTINGS=str(ROOT / "sample" / "settings.yaml"),
        )
        if args.s3:
            s3 = stack.enter_context(SeaweedS3(str(BIN / "weed")))
            s3.create_bucket("newsflow")
            env["NEWSFLOW_LAKE"] = "s3://newsflow/demo"
            env["AIRFLOW_CONN_AWS_DEFAULT"] = s3.airflow_connection()
            lake = open_lake(env["NEWSFLOW_LAKE"], s3.settings())
        else:
            env["NEWSFLOW_LAKE"] = args.lake
            lake = open_lake(args.lake)
        create_lake(lake)  # as `newsflow init` does: the DAGs refuse a lake that is not there

        log = work / "airflow.log"
        print(f"Serving {len(web.outlets)} sample outlets on 127.0.0.1; lake: {lake.uri}")
        started = time.monotonic()
        print("Preparing a temporary Airflow home (SQLite) ...", flush=True)
        _airflow(["db", "migrate"], env, log)
        print(f"Running: airflow dags test news_ingest {args.date} ...", flush=True)
        _airflow(["dags", "test", "news_ingest", args.date], env, log)
        # In production the articles asset schedules news_stories; here we run it by hand.
        print(f"Running: airflow dags test news_stories {args.date} ...", flush=True)
        _airflow(["dags", "test", "news_stories", args.date], env, log)
        for dag_id in ("news_quality", "news_digest"):  # scheduled on the stories asset
            print(f"Running: airflow dags test {dag_id} {args.date} ...", flush=True)
            _airflow(["dags", "test", dag_id, args.date], env, log)
        print(f"DAG runs succeeded in {time.monotonic() - started:.0f}s.\n")
        print(_summary(lake, args.date))
        print(
            f"\nThe day's digest, a page to open in a browser:\n  {lake.url(page_key(args.date))}"
        )


if __name__ == "__main__":
    main()
