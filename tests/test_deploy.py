from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any, cast

import pytest

from pipeline.lake.store import lake_exists, open_lake
from pipeline.settings import SettingsError, load_settings
from sample.s3server import SeaweedS3
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


def _compose() -> dict[str, Any]:
    done = subprocess.run(
        [str(BIN / "docker-compose"), "-f", str(ROOT / "docker-compose.yaml"), "config",
         "--format", "json"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return cast(dict[str, Any], json.loads(done.stdout))


def test_compose_pins_its_images_and_checks_the_health_of_every_service() -> None:
    services = _compose()["services"]
    for name, service in services.items():
        image = service["image"]
        assert ":" in image and not image.endswith(":latest"), (name, image)
        if name != "airflow-init":  # a one-shot job: the others wait for it to succeed
            assert service.get("healthcheck", {}).get("test"), name
    environment = services["airflow-scheduler"]["environment"]
    assert environment["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "false"
    for name in ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
                 "airflow-triggerer", "airflow-worker"):  # fmt: skip
        assert services[name]["depends_on"]["airflow-init"]["condition"] == (
            "service_completed_successfully"
        )


def _init_script(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """airflow-init's own script, run here with this machine's airflow and newsflow."""
    init = _compose()["services"]["airflow-init"]
    script = init["command"][-1].replace("$$", "$")
    assert "|| true" not in script
    base = {
        k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AWS_", "NEWSFLOW"))
    }
    return subprocess.run(
        ["bash", *init["command"][:-1], script],
        env={**base, **init["environment"], "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
             "AIRFLOW_HOME": str(tmp_path / "airflow"), "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
             "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(tmp_path / "passwords.json"),
             "NEWSFLOW_SETTINGS": str(ROOT / "config" / "settings.yaml"), **env},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.mark.s3
def test_compose_init_migrates_writes_the_login_and_makes_the_lake(
    s3: SeaweedS3, tmp_path: Path
) -> None:
    bucket = f"made-by-init-{uuid.uuid4().hex[:8]}"
    done = _init_script(
        {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path / 'airflow.db'}",
         "AIRFLOW_ADMIN_PASSWORD": "a known one", "NEWSFLOW_LAKE": f"s3://{bucket}/lake",
         "AWS_ENDPOINT_URL": s3.env()["AWS_ENDPOINT_URL"]},
        tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert json.loads((tmp_path / "passwords.json").read_text()) == {"airflow": "a known one"}
    assert lake_exists(open_lake(f"s3://{bucket}/lake", s3.settings()))  # the bucket too


def test_compose_init_fails_loudly_when_the_database_cannot_be_migrated(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "folder" / "airflow.db"
    done = _init_script({"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{missing}"}, tmp_path)
    assert done.returncode != 0
    assert not (tmp_path / "passwords.json").exists()  # it stopped at the first failure
