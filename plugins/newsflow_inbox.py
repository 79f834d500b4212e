"""The inbox watcher: an event trigger that watches ``{lake}/inbox/`` for files an
operator drops there (a list of URLs, or a WARC file) and fires the ``newsflow_inbox``
asset for each, so that ``news_inbox`` ingests it at once.

It runs in Airflow's triggerer. Every ``poke_interval`` seconds it lists the inbox; a
file found is moved to ``inbox/processing/`` before the event is sent (so it is taken
once, also by several triggerers) and the event's payload names it. The lake comes from
the same settings as the tasks' (``NEWSFLOW_LAKE``, the ``aws_default`` connection),
read when the trigger runs, never stored in the trigger's serialized arguments.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent


class InboxTrigger(BaseEventTrigger):
    def __init__(self, poke_interval: float = 15.0) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.poke_interval = poke_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return "newsflow_inbox.InboxTrigger", {"poke_interval": self.poke_interval}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from newsflow_airflow import lake_from_airflow

        from pipeline.runs.inbox import claim_next

        lake = await asyncio.to_thread(lake_from_airflow, False)  # no lake: an empty inbox
        while True:
            try:
                claim = await asyncio.to_thread(claim_next, lake)
            except Exception as exc:  # a lake that cannot be read now may be read later
                self.log.warning("inbox watcher: could not list %s: %s", lake.url("inbox/"), exc)
                claim = None
            if claim is not None:
                self.log.info("inbox watcher: %s", claim)
                yield TriggerEvent(claim)  # type: ignore[no-untyped-call]
                continue
            await asyncio.sleep(self.poke_interval)
