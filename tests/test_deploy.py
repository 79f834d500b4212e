from __future__ import annotations

import subprocess

from pipeline.settings import load_settings
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
