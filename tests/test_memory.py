"""pipeline.memory: glibc's malloc arenas capped when the package is imported."""

from __future__ import annotations

import pytest

from pipeline.memory import limit_arenas


def test_arenas_are_capped_unless_the_environment_says_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert limit_arenas() is True  # glibc on Linux, as here and in the image
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_arenas() is False  # the operator's setting stands
