"""Alerts for the newsflow DAGs: an Airflow notifier that tells the operator when a task
fails for good (after its retries), and ``deliver`` for a day that went wrong without
failing a task (an extraction alert).

Where alerts go is read from the environment when they are sent (``pipeline.runs.alerts``):
``NEWSFLOW_ALERT_WEBHOOK`` (JSON, Slack-compatible), ``NEWSFLOW_ALERT_CALLBACK``
(``module:function``) and ``NEWSFLOW_ALERT_EMAIL`` (comma-separated addresses, sent with
Airflow's SMTP notifier through the ``smtp_default`` connection); the task log always.
"""

from __future__ import annotations

import html
import logging
import os
from typing import Any

from airflow.sdk import BaseNotifier

log = logging.getLogger(__name__)
EMAIL = "NEWSFLOW_ALERT_EMAIL"


def _day(context: Any) -> str | None:
    key = context.get("partition_key") or getattr(context.get("dag_run"), "partition_key", None)
    if key:  # a run of a partitioned asset's event: its day
        return str(key)
    for key in ("data_interval_start", "logical_date"):
        if context.get(key) is not None:
            return str(context[key].strftime("%Y-%m-%d"))
    return None


def _describe(error: BaseException | None) -> str:
    if error is None:
        return "the task failed"
    if type(error).__name__ == "AirflowFailException":  # a verdict: its message says it all
        return str(error)
    return f"{type(error).__name__}: {error}"


def deliver(alert: Any, context: Any) -> None:
    """Send ``alert`` (a ``pipeline.runs.alerts.Alert``) everywhere it is configured to go."""
    from pipeline.runs.alerts import send

    send(alert)
    addresses = [a.strip() for a in os.environ.get(EMAIL, "").split(",") if a.strip()]
    if addresses:
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        body = f"<pre>{html.escape(alert.text)}</pre>"
        try:
            SmtpNotifier(to=addresses, subject=alert.subject, html_content=body).notify(context)
        except Exception as exc:  # an alert never fails the task it reports on
            log.error("alert not delivered: email to %s: %s: %s", addresses, type(exc).__name__,
                      exc)  # fmt: skip


class DayNotifier(BaseNotifier):
    """``on_failure_callback`` of every newsflow task: which DAG, task and day failed,
    and the error, to every place alerts go."""

    def notify(self, context: Any) -> None:
        from pipeline.runs.alerts import Alert

        ti, day = context["ti"], _day(context)
        error = context.get("exception")
        alert = Alert(
            level="failure",
            subject=f"newsflow: {ti.dag_id}.{ti.task_id} failed" + (f" for {day}" if day else ""),
            lines=[_describe(error)],
            dag_id=ti.dag_id,
            run_id=ti.run_id,
            dt=day,
        )
        deliver(alert, context)
