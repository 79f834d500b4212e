from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pipeline.settings import SettingsError, load_settings
from tests.conftest import BIN, ROOT


def test_compose_file_is_valid_for_docker_compose_v2() -> None:
    result = subprocess.run(
        [str(BIN / "docker-compose"), "-f", str(ROOT / "docker-compose.yaml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_production_settings_file_loads() -> None:
    settings = load_settings(env={"NEWSFLOW_SETTINGS": str(ROOT / "config" / "settings.yaml")})
    assert settings.feeds_path == ROOT / "config" / "feeds.yaml"
    assert settings.fetch.per_host_delay >= 1.0 and settings.fetch.respect_robots
    assert settings.allow_private_network is False
    assert settings.relevance_threshold == 0.5
    assert settings.taxonomy_path == ROOT / "config" / "topics.yaml"
    assert settings.entities_path == ROOT / "config" / "entities.yaml"


def test_relevance_settings_are_checked(tmp_path: Path) -> None:
    settings_file = tmp_path / "settings.yaml"
    env = {"NEWSFLOW_SETTINGS": str(settings_file)}
    settings_file.write_text("relevance:\n  threshold: 0.3\n  taxonomy: mine.yaml\n")
    settings = load_settings(env=env)
    assert settings.relevance_threshold == 0.3 and settings.taxonomy_path == tmp_path / "mine.yaml"
    settings_file.write_text("relevance:\n  threshold: 1.5\n")
    with pytest.raises(SettingsError, match=r"relevance\.threshold must be a number in 0\.\.1"):
        load_settings(env=env)
    settings_file.write_text("relevance:\n  treshold: 0.3\n")
    with pytest.raises(SettingsError, match="unknown keys in 'relevance'"):
        load_settings(env=env)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("relevance:\n  threshold: high\n", "relevance.threshold must be a number, not 'high'"),
        ("fetch:\n  total_timeout: 0\n", "fetch.total_timeout must be a number above zero, not 0"),
        ("fetch:\n  retries: -1\n", "fetch.retries must be a whole number not below zero, not -1"),
        ("fetch:\n  max_bytes: 10 MiB\n", "fetch.max_bytes must be a whole number, not '10 MiB'"),
        (
            "fetch:\n  respect_robots: no thanks\n",
            "fetch.respect_robots must be true or false, not 'no thanks'",
        ),
        ("fetch:\n  user_agent: ''\n", "fetch.user_agent must be a non-empty string, not ''"),
        ("ingest:\n  batch_size: 2.5\n", "ingest.batch_size must be a whole number, not 2.5"),
        ("ingest:\n  workers: true\n", "ingest.workers must be a whole number, not True"),
    ],
)
def test_every_setting_is_checked_for_its_type_and_range(
    text: str, message: str, tmp_path: Path
) -> None:
    settings_file = tmp_path / "settings.yaml"
    settings_file.write_text(text)
    with pytest.raises(SettingsError) as refused:
        load_settings(env={"NEWSFLOW_SETTINGS": str(settings_file)})
    assert str(refused.value) == f"{settings_file}: {message}"


def test_flags_win_over_environment_over_settings_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings_file = tmp_path / "settings.yaml"
    settings_file.write_text("lake: /from/file\n")
    env = {"NEWSFLOW_SETTINGS": str(settings_file)}
    assert load_settings(env=env).lake == "/from/file"
    assert load_settings(env={**env, "NEWSFLOW_LAKE": "/from/env"}).lake == "/from/env"
    assert (
        load_settings(lake="/from/flag", env={**env, "NEWSFLOW_LAKE": "/from/env"}).lake
        == "/from/flag"
    )
    assert load_settings(env={**env, "NEWSFLOW_ALLOW_PRIVATE_NETWORK": "1"}).allow_private_network
