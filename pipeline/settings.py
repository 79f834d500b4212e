"""Configuration shared by the CLI and the DAGs.

Flags win over environment variables, which win over the settings file
(``config/settings.yaml``, or the file ``NEWSFLOW_SETTINGS`` names), which wins over the
defaults here. Nothing is read at import time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

from pipeline import __version__

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONFIG = PROJECT_ROOT / "config"
TAXONOMY = CONFIG / "topics.yaml"  # the AI-in-entertainment taxonomy
ENTITIES = CONFIG / "entities.yaml"  # the gazetteer of names
MIN_WORDS = 80  # pages with less main text are rejected as too short
THRESHOLD = 0.5  # the relevance an article needs to land in articles/
USER_AGENT = (
    f"newsflow/{__version__} (news-ingestion research pipeline; "
    "+https://github.com/newsflow/newsflow)"
)
_EXTRACTION_ALLOWANCE = 900.0  # seconds for a batch's pages to be extracted and staged


@dataclass(frozen=True)
class FetchPolicy:
    """How the HTTP client behaves (the settings file's ``fetch`` section)."""

    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    total_timeout: float = 30.0  # the deadline of one whole exchange, DNS to last byte
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    retries: int = 3
    timeout_retries: int = 1  # and none on a host that has timed out before
    backoff: float = 2.0
    max_retry_after: float = 120.0
    per_host_delay: float = 1.0
    per_host_concurrency: int = 1
    # An exchange under way this long no longer holds its host's turn (up to this many).
    stall_after: float = 5.0
    max_stalled_per_host: int = 3
    max_crawl_delay: float = 30.0
    user_agent: str = USER_AGENT
    respect_robots: bool = True


@dataclass(frozen=True)
class S3Settings:
    """Where and how to reach an S3-compatible server. Empty fields fall back to boto3's
    own resolution (``AWS_*`` variables, profiles, instance roles)."""

    endpoint_url: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    region: str | None = None

    def __repr__(self) -> str:  # never print secrets
        return f"S3Settings(endpoint_url={self.endpoint_url!r}, region={self.region!r})"


class SettingsError(ValueError):
    """A setting is missing or wrong; the message names it and where it came from."""


@dataclass(frozen=True)
class Settings:
    feeds_path: Path = Path("config/feeds.yaml")
    lake: str = "./lake"
    allow_private_network: bool = False
    s3: S3Settings = field(default_factory=S3Settings)
    # Where WARC files named by s3:// URIs are read, when not with the lake's settings (in
    # Airflow, the newsflow_crawl connection: Common Crawl's bucket beside a lake elsewhere).
    crawl_s3: S3Settings | None = None
    fetch: FetchPolicy = field(default_factory=FetchPolicy)
    batch_size: int = 10  # feeds per mapped task
    batch_deadline: int = 1800  # seconds a batch may spend polling and fetching
    commit_timeout: int = 3600  # seconds a day's commit (or its stories, or quality) may take
    shard_timeout: int = 14400  # seconds a backfill's shard (a WARC file) may take to land
    lookback_days: int = 3  # items older than this before the interval are left out
    dedup_window_days: int = 30  # near copies are looked for among this many days' articles
    retire_after_gone: int = 3  # a feed answering 410 Gone this many polls in a row is retired
    min_words: int = MIN_WORDS
    workers: int = 8  # concurrent hosts within one batch
    extract_workers: int = 0  # processes extracting pages within one batch; 0: one per core
    # A file of extraction hints by domain, besides those of the outlets registry (the
    # feeds file): the settings file's ``outlets`` key, relative to it.
    outlets_path: Path | None = None
    relevance_threshold: float = THRESHOLD
    taxonomy_path: Path = TAXONOMY
    entities_path: Path = ENTITIES
    retention_days: int = 30  # table versions stay readable (time travel) this long

    def hint_files(self) -> list[Path]:
        """Where the outlets' extraction hints are: the registry, then any hints file."""
        return [self.feeds_path, *([self.outlets_path] if self.outlets_path else [])]

    def task_timeouts(self) -> dict[str, timedelta]:
        """How long each kind of Airflow task may run (its ``execution_timeout``), so that
        nothing holds a worker slot for ever: a batch gets its deadline, then time for the
        exchanges still under way to end (each has its own deadline) and for extraction;
        a commit, a day's stories, its quality report or its digest get ``commit_timeout``;
        an inbox file, fetched or read like a backfill, four batch deadlines and a commit; a
        backfill's shard ``shard_timeout``, and its commit of the days that time again."""
        fetch = self.fetch
        exchange = fetch.total_timeout * (1 + fetch.timeout_retries) + fetch.backoff
        batch = self.batch_deadline + 2 * exchange + _EXTRACTION_ALLOWANCE
        seconds = {
            "plan": 300.0,
            "ingest": batch,
            "commit": float(self.commit_timeout),
            "stories": float(self.commit_timeout),
            "quality": float(self.commit_timeout),
            "digest": float(self.commit_timeout),
            "inbox": 4.0 * self.batch_deadline + self.commit_timeout,
            "shard": float(self.shard_timeout),
            "backfill_commit": float(self.shard_timeout),
            "report": 300.0,
        }
        return {task: timedelta(seconds=round(value)) for task, value in seconds.items()}


def _default_path(relative: str) -> Path:
    """``relative`` to the working directory if it is there, else to the project."""
    local = Path(relative)
    return local if local.exists() else PROJECT_ROOT / relative


def _truthy(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


_INGEST_KEYS = frozenset(
    {"batch_size", "batch_deadline", "commit_timeout", "shard_timeout", "lookback_days",
     "dedup_window_days", "retire_after_gone", "min_words", "workers", "extract_workers"}
)  # fmt: skip
_RELEVANCE = SimpleNamespace(threshold=THRESHOLD, taxonomy="topics.yaml", entities="entities.yaml")
_TOP_KEYS = frozenset({"feeds", "lake", "fetch", "ingest", "relevance", "outlets", "tables"})
_TABLE_KEYS = frozenset({"retention_days"})


# Settings that must be above zero; every other number may also be zero.
_POSITIVE = frozenset(
    {"connect_timeout", "read_timeout", "total_timeout", "max_bytes", "max_crawl_delay",
     "per_host_concurrency", "stall_after", "batch_size", "batch_deadline", "commit_timeout",
     "shard_timeout", "retire_after_gone", "min_words", "workers"}
)  # fmt: skip


def _section(
    document: Mapping[str, Any], name: str, defaults: object, known: frozenset[str], where: Path
) -> dict[str, Any]:
    """The ``name`` mapping of the settings file, each value of the type of its default."""
    section = document.get(name) or {}
    if not isinstance(section, dict):
        raise SettingsError(f"{where}: '{name}' must be a mapping")
    unknown = set(section) - known
    if unknown:
        raise SettingsError(f"{where}: unknown keys in '{name}': {sorted(unknown)}")
    for key, value in section.items():
        default = getattr(defaults, key)
        if isinstance(default, bool):
            ok, kind = isinstance(value, bool), "true or false"
        elif isinstance(default, int | float):
            whole = isinstance(default, int)
            kind = "a whole number" if whole else "a number"
            ok = isinstance(value, int if whole else int | float) and not isinstance(value, bool)
            if ok and (value < 0 or (key in _POSITIVE and value == 0)):
                ok, kind = False, f"{kind} {'above zero' if key in _POSITIVE else 'not below zero'}"
        else:
            ok, kind = isinstance(value, str) and bool(value.strip()), "a non-empty string"
        if not ok:
            raise SettingsError(f"{where}: {name}.{key} must be {kind}, not {value!r}")
    return section


def load_settings(
    *,
    feeds: str | None = None,
    lake: str | None = None,
    allow_private_network: bool | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Settings from flags (the arguments), then the environment, then the settings file."""
    env = os.environ if env is None else env
    settings = Settings(feeds_path=_default_path("config/feeds.yaml"))
    path = (
        Path(env["NEWSFLOW_SETTINGS"])
        if env.get("NEWSFLOW_SETTINGS")
        else _default_path("config/settings.yaml")
    )
    if path.exists():
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise SettingsError(f"{path}: not valid YAML: {exc}") from None
        if not isinstance(document, dict) or set(document) - _TOP_KEYS:
            raise SettingsError(f"{path}: expected a mapping with keys {sorted(_TOP_KEYS)}")
        fetch_keys = frozenset(f.name for f in fields(FetchPolicy))
        fetch = _section(document, "fetch", settings.fetch, fetch_keys, path)
        ingest = _section(document, "ingest", settings, _INGEST_KEYS, path)
        settings = replace(settings, fetch=replace(settings.fetch, **fetch), **ingest)
        settings = replace(settings, **_section(document, "tables", settings, _TABLE_KEYS, path))
        relevance = _section(document, "relevance", _RELEVANCE, frozenset(vars(_RELEVANCE)), path)
        if "threshold" in relevance:
            if not 0 <= relevance["threshold"] <= 1:
                raise SettingsError(f"{path}: relevance.threshold must be a number in 0..1")
            settings = replace(settings, relevance_threshold=float(relevance["threshold"]))
        if relevance.get("taxonomy"):
            settings = replace(settings, taxonomy_path=path.parent / str(relevance["taxonomy"]))
        if relevance.get("entities"):
            settings = replace(settings, entities_path=path.parent / str(relevance["entities"]))
        if document.get("feeds"):
            settings = replace(settings, feeds_path=path.parent / str(document["feeds"]))
        if document.get("outlets"):
            settings = replace(settings, outlets_path=path.parent / str(document["outlets"]))
        if document.get("lake"):
            settings = replace(settings, lake=str(document["lake"]))
    elif env.get("NEWSFLOW_SETTINGS"):
        raise SettingsError(f"{path}: settings file not found (NEWSFLOW_SETTINGS)")

    feeds_path = feeds or env.get("NEWSFLOW_FEEDS")
    lake_uri = lake or env.get("NEWSFLOW_LAKE")
    if allow_private_network is None and env.get("NEWSFLOW_ALLOW_PRIVATE_NETWORK"):
        allow_private_network = _truthy(env["NEWSFLOW_ALLOW_PRIVATE_NETWORK"])
    return replace(
        settings,
        feeds_path=Path(feeds_path) if feeds_path else settings.feeds_path,
        lake=lake_uri or settings.lake,
        allow_private_network=bool(allow_private_network),
        s3=S3Settings(
            endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
            access_key_id=env.get("AWS_ACCESS_KEY_ID") or None,
            secret_access_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
            region=env.get("AWS_DEFAULT_REGION") or None,
        ),
    )
