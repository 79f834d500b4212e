"""An alert callback for tests (``NEWSFLOW_ALERT_CALLBACK=tests.alert_sink:record``): each
alert becomes a JSON line in the file ``NEWSFLOW_TEST_ALERTS`` names."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def record(alert: dict[str, Any]) -> None:
    with Path(os.environ["NEWSFLOW_TEST_ALERTS"]).open("a", encoding="utf-8") as sink:
        sink.write(json.dumps(alert) + "\n")


def recorded(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
