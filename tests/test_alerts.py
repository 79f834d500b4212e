from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.runs.alerts import CALLBACK, WEBHOOK, Alert, day_problems, send
from tests.alert_sink import recorded
from tests.httpserver import Reply, ScriptedServer

DAY = {"dt": "2026-11-23", "articles": 0, "feeds_failed": 3, "missing_batches": [],
       "extraction_alerts": []}  # fmt: skip


def test_a_day_without_articles_while_feeds_failed_is_a_failure() -> None:
    failures, warnings = day_problems(DAY)
    assert failures == ["no article landed while 3 feeds could not be polled; their reasons "
                        "are in the day's rejects (stage feed)"] and warnings == []  # fmt: skip


def test_a_lost_batch_fails_the_day_and_an_extraction_alert_warns() -> None:
    result = {**DAY, "articles": 12, "missing_batches": ["ab12cd34ef56"],
              "extraction_alerts": ["variety.com: median words fell from 820 to 95"]}  # fmt: skip
    failures, warnings = day_problems(result)
    assert len(failures) == 1 and "batch ab12cd34ef56" in failures[0]
    assert warnings == ["extraction fell on variety.com: median words fell from 820 to 95"]
    assert day_problems({**DAY, "articles": 12}) == ([], [])  # some feeds fail every day


def test_an_alert_reaches_the_webhook_and_the_callback(
    server: ScriptedServer, tmp_path: Path
) -> None:
    server.route("/hook", Reply(200, b"ok"))
    sink = tmp_path / "alerts.jsonl"
    env = {WEBHOOK: server.url("/hook"), CALLBACK: "tests.alert_sink:record",
           "NEWSFLOW_TEST_ALERTS": str(sink)}  # fmt: skip
    alert = Alert("failure", "newsflow: 2026-11-23 failed", ["no article landed"], dt="2026-11-23")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NEWSFLOW_TEST_ALERTS", str(sink))
        assert send(alert, env) == []
    (hit,) = server.hits
    posted = json.loads(hit.body)
    assert posted["text"] == "newsflow: 2026-11-23 failed\n- no article landed"  # Slack's field
    assert recorded(sink) == [posted]


def test_an_alert_that_cannot_be_delivered_is_reported_and_never_raises(
    server: ScriptedServer,
) -> None:
    server.route("/hook", Reply(500))
    env = {WEBHOOK: server.url("/hook"), CALLBACK: "no.such.module:notify"}
    errors = send(Alert("warning", "newsflow: a warning"), env)
    assert len(errors) == 2
    assert errors[0].startswith("webhook NEWSFLOW_ALERT_WEBHOOK: http-500")
    assert "ModuleNotFoundError" in errors[1]
