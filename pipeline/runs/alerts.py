"""Telling an operator that a day went wrong.

``day_problems`` judges a committed day: no article landed while feeds failed, or a
batch of feeds never ran, is a failed day; an extraction alert (an outlet whose pages
suddenly yield much less) is a warning. ``send`` delivers an :class:`Alert` to every
place the environment names, read when it is sent:

- ``NEWSFLOW_ALERT_WEBHOOK``: a URL that gets the alert as JSON (``text`` holds the whole
  message, which is what Slack's and Mattermost's incoming webhooks show);
- ``NEWSFLOW_ALERT_CALLBACK``: ``package.module:function``, called with the alert's dict
  (to page someone, open a ticket, or record it in a test);

and always to the log. Email goes through Airflow's SMTP connection
(``NEWSFLOW_ALERT_EMAIL``, see ``plugins/newsflow_alerts.py``). A place that cannot be
reached is logged and the others are still tried: an alert never fails the run it
reports on.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from pipeline.settings import FetchPolicy
from pipeline.sources.http import Fetcher, FetchError, NetworkPolicy

log = logging.getLogger(__name__)

WEBHOOK, CALLBACK = "NEWSFLOW_ALERT_WEBHOOK", "NEWSFLOW_ALERT_CALLBACK"


@dataclass
class Alert:
    level: str  # "failure" or "warning"
    subject: str
    lines: list[str] = field(default_factory=list)
    dag_id: str | None = None
    run_id: str | None = None
    dt: str | None = None

    @property
    def text(self) -> str:
        return "\n".join([self.subject, *(f"- {line}" for line in self.lines)])

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "text": self.text}


def day_problems(result: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """What went wrong with a committed day (``news_ingest``'s commit result): the
    failures, then the warnings."""
    failures, warnings = [], []
    failed = int(result.get("feeds_failed", 0))
    if not result.get("articles") and failed:
        failures.append(f"no article landed while {failed} feeds could not be polled; "
                        "their reasons are in the day's rejects (stage feed)")  # fmt: skip
    for batch in result.get("missing_batches", []):
        failures.append(f"batch {batch} never ran to the end (its ingest task failed): its "
                        "feeds were not polled; clear that task and commit again")  # fmt: skip
    warnings += [f"extraction fell on {alert}" for alert in result.get("extraction_alerts", [])]
    return failures, warnings


def send(alert: Alert, env: Mapping[str, str] | None = None) -> list[str]:
    """Deliver ``alert`` to the log and to every place ``env`` names; what could not be
    reached, in words (also logged)."""
    env = os.environ if env is None else env
    (log.error if alert.level == "failure" else log.warning)("%s", alert.text)
    errors = []
    if env.get(WEBHOOK):
        url = env[WEBHOOK]
        network = NetworkPolicy.for_urls([url], allow_private=True)  # the operator's own host
        try:
            with Fetcher(FetchPolicy(total_timeout=20.0), network) as fetcher:
                fetcher.post_json(url, alert.to_dict())
        except FetchError as exc:
            errors.append(f"webhook {WEBHOOK}: {exc.reason}: {exc.detail}")
    if env.get(CALLBACK):
        spec = env[CALLBACK]
        try:
            module, _, name = spec.partition(":")
            getattr(importlib.import_module(module), name)(alert.to_dict())
        except Exception as exc:  # the operator's code: whatever it raises is reported
            errors.append(f"callback {CALLBACK}={spec}: {type(exc).__name__}: {exc}")
    for error in errors:
        log.error("alert not delivered: %s", error)
    return errors
