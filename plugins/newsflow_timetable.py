"""The ingestion timetable: one run per UTC day, whose data interval is that whole day.

Scheduled runs cover [D 00:00, D+1 00:00) UTC and start once the day is over, like
Airflow's cron data-interval timetable. A manual run (``airflow dags test news_ingest
2026-11-23``, or a trigger from the UI) covers the day of its date too, so the date an
operator types is the partition that gets written; the stock timetable would give the
day before.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.plugins_manager import AirflowPlugin
from airflow.timetables.base import DataInterval
from airflow.timetables.interval import CronDataIntervalTimetable
from pendulum import UTC, DateTime


class UtcDayTimetable(CronDataIntervalTimetable):
    def __init__(self) -> None:
        super().__init__("0 0 * * *", timezone=UTC)

    @classmethod
    def deserialize(cls, data: dict[str, object]) -> UtcDayTimetable:
        return cls()

    def serialize(self) -> dict[str, object]:
        return {}

    @property
    def summary(self) -> str:
        return "daily, one UTC day per run"

    def infer_manual_data_interval(self, *, run_after: DateTime) -> DataInterval:
        start = run_after.in_timezone(UTC).start_of("day")
        return DataInterval(start=start, end=start + timedelta(days=1))


class NewsflowTimetablePlugin(AirflowPlugin):
    name = "newsflow_timetable"
    timetables = [UtcDayTimetable]  # noqa: RUF012 - the AirflowPlugin interface
