"""The lake: one small interface over a local folder or an S3-compatible bucket.

Keys are the same in both (``articles/dt=2026-11-23/part-00000.parquet``). Every write
of one key is atomic: a reader sees the old object or the new one, never half of one
(S3 PUT semantics; a rename on local disks).
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import logging
import os
import re
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol, cast
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.settings import S3Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CopySourceTypeDef


log = logging.getLogger(__name__)
BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


class LakeError(RuntimeError):
    """The lake cannot be reached or used; the message names it and says what to check."""


class Lake(Protocol):
    uri: str

    def put(self, key: str, data: bytes) -> None: ...
    def get(self, key: str) -> bytes | None: ...
    def list_keys(self, prefix: str) -> list[str]: ...
    def sizes(self, prefix: str) -> dict[str, int]:
        """The size in bytes of each object whose key starts with ``prefix``."""
        ...

    def delete(self, key: str) -> None: ...
    def url(self, key: str) -> str: ...
    def open(self, key: str, start: int = 0) -> IO[bytes]:
        """A stream of the object from byte ``start`` on, read as it is consumed."""
        ...

    def move(self, key: str, to: str) -> None:
        """Give an object another key (without reading it into memory)."""
        ...

    def table_uri(self, name: str) -> str:
        """Where the Delta table ``name`` lies, as delta-rs is given it."""
        ...

    def storage_options(self) -> dict[str, str]:
        """What delta-rs needs to reach the lake (endpoint, keys, safe commits)."""
        ...

    def put_if_absent(self, key: str, data: bytes) -> bool:
        """Write ``key`` only if no object has it, atomically; False if one does."""
        ...

    def get_tagged(self, key: str) -> tuple[bytes, str] | None:
        """The object and its tag, which changes whenever it is written (its ETag)."""
        ...

    def replace_if(self, key: str, data: bytes | None, tag: str) -> bool:
        """Write ``data`` at ``key`` (delete it, if None) only if the object there still
        has ``tag``, atomically; False if it was written or deleted since."""
        ...

    def list_top(self, prefix: str) -> list[str]:
        """The keys directly in the folder ``prefix`` (ending in ``/``), not below it."""
        ...


@contextmanager
def _local(action: str, url: str) -> Iterator[None]:
    """A local file system's error as the lake's: one line naming what and where."""
    try:
        yield
    except LakeError:
        raise
    except OSError as exc:
        raise LakeError(f"could not {action} {url}: {exc.strerror or exc}") from None


class LocalLake:
    """A lake in a local folder (the embedded default)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self.uri = str(self.root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root):
            raise LakeError(f"key {key!r} escapes the lake {self.root}")
        return path

    def _staged(self, key: str, data: bytes) -> tuple[Path, Path]:
        """``data`` in a hidden file beside ``key``'s (renamed or linked into place)."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path, Path(tmp)

    def put(self, key: str, data: bytes) -> None:
        with _local("write", self.url(key)):
            path, tmp = self._staged(key, data)
            try:
                tmp.replace(path)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise

    def put_if_absent(self, key: str, data: bytes) -> bool:
        with _local("write", self.url(key)):
            path, tmp = self._staged(key, data)
            try:
                os.link(tmp, path)  # fails if the key exists: create-with-content in one step
                return True
            except FileExistsError:
                return False
            finally:
                tmp.unlink(missing_ok=True)

    def get_tagged(self, key: str) -> tuple[bytes, str] | None:
        data = self.get(key)
        return None if data is None else (data, hashlib.sha256(data).hexdigest())

    def replace_if(self, key: str, data: bytes | None, tag: str) -> bool:
        path = self._path(key)
        with _local("write" if data is not None else "delete", self.url(key)):
            path.parent.mkdir(parents=True, exist_ok=True)
            # Every conditional change of this key takes the lock beside it in turn.
            with (path.parent / f".{path.name}.lock").open("ab") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                current = self.get_tagged(key)
                if current is None or current[1] != tag:
                    return False
                if data is None:
                    path.unlink()
                else:
                    self.put(key, data)
                return True

    def get(self, key: str) -> bytes | None:
        with _local("read", self.url(key)):
            try:
                return self._path(key).read_bytes()
            except FileNotFoundError:
                return None

    def list_keys(self, prefix: str) -> list[str]:
        return sorted(self.sizes(prefix))

    def sizes(self, prefix: str) -> dict[str, int]:
        base = self._path(prefix) if prefix else self.root
        folder = base if base.is_dir() else base.parent
        if not folder.exists():
            return {}
        sizes = {}
        with _local("list", self.url(prefix)):
            for path in folder.rglob("*"):
                key = path.relative_to(self.root).as_posix()
                if path.is_file() and key.startswith(prefix) and not path.name.startswith("."):
                    sizes[key] = path.stat().st_size
        return sizes

    def list_top(self, prefix: str) -> list[str]:
        """The keys directly in the folder ``prefix`` (ending in ``/``), not below it."""
        folder = self._path(prefix) if prefix else self.root
        with _local("list", self.url(prefix)):
            if not folder.is_dir():
                return []
            return sorted(
                f"{prefix}{entry.name}"
                for entry in os.scandir(folder)
                if entry.is_file() and not entry.name.startswith(".")
            )

    def delete(self, key: str) -> None:
        """Delete a key, and the folders it leaves empty (a folder is no key of its own)."""
        path = self._path(key)
        with _local("delete", self.url(key)):
            path.unlink(missing_ok=True)
        for folder in path.parents:
            if folder == self.root or not folder.is_relative_to(self.root):
                break
            try:
                folder.rmdir()
            except OSError:  # not empty, or already gone
                break

    def url(self, key: str) -> str:
        return str(self.root / key)

    def table_uri(self, name: str) -> str:
        return str(self.root / name)

    def storage_options(self) -> dict[str, str]:
        return {}

    def move(self, key: str, to: str) -> None:
        target = self._path(to)
        with _local("move", self.url(key)):
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._path(key).replace(target)
            except FileNotFoundError:
                raise LakeError(f"{self.url(key)} does not exist") from None
        self.delete(key)  # the folders it leaves empty

    def open(self, key: str, start: int = 0) -> IO[bytes]:
        try:
            handle = self._path(key).open("rb")
        except FileNotFoundError:
            raise LakeError(f"{self.url(key)} does not exist") from None
        handle.seek(start)
        return handle


def make_s3_client(settings: S3Settings | None = None) -> S3Client:
    import boto3
    from botocore.config import Config

    settings = settings or S3Settings()
    endpoint = settings.endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
    config = Config(
        retries={"max_attempts": 5, "mode": "standard"},
        connect_timeout=10,
        read_timeout=60,
        # S3-compatible servers (SeaweedFS, MinIO) want path-style addressing.
        s3={"addressing_style": "path" if endpoint else "auto"},
    )
    session = boto3.session.Session(
        aws_access_key_id=settings.access_key_id,
        aws_secret_access_key=settings.secret_access_key,
        region_name=settings.region or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
    )
    return session.client("s3", endpoint_url=endpoint, config=config)


# What S3 answers a conditional write whose key exists, or is being written by another.
_TAKEN = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "412", "409"})


class S3Lake:
    """A lake under ``s3://bucket/prefix`` on any S3-compatible server."""

    def __init__(self, uri: str, client: S3Client, settings: S3Settings | None = None) -> None:
        parts = urlsplit(uri)
        if "@" in parts.netloc:  # say where, never what: the part before @ is a secret
            raise LakeError(
                f"the lake URI for bucket {parts.netloc.rsplit('@', 1)[1]!r} carries credentials;"
                " give them as AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or in Airflow's"
                " aws_default connection"
            )
        if parts.scheme != "s3" or not BUCKET_NAME.fullmatch(parts.netloc):
            raise LakeError(
                f"{uri!r} is not an s3://bucket/prefix URI (bucket names are 3 to 63 lowercase"
                " letters, digits, dots and hyphens)"
            )
        self.uri = uri.rstrip("/")
        self.bucket = parts.netloc
        self.prefix = parts.path.strip("/")
        self._client = client
        self._settings = settings or S3Settings()

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _fail(self, action: str, key: str, exc: Exception) -> LakeError:
        endpoint = self._client.meta.endpoint_url
        return LakeError(f"could not {action} {self.url(key)} (endpoint {endpoint}): {exc}")

    def put(self, key: str, data: bytes) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            # A page (the digest) opens in a browser straight from the bucket.
            kind = "text/html; charset=utf-8" if key.endswith(".html") else "binary/octet-stream"
            self._client.put_object(
                Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=kind
            )
        except (BotoCoreError, ClientError) as exc:
            raise self._fail("write", key, exc) from exc

    def put_if_absent(self, key: str, data: bytes) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.put_object(
                Bucket=self.bucket, Key=self._key(key), Body=data, IfNoneMatch="*"
            )
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _TAKEN:
                return False
            raise self._fail("write", key, exc) from exc
        except BotoCoreError as exc:
            raise self._fail("write", key, exc) from exc

    def get_tagged(self, key: str) -> tuple[bytes, str] | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self._client.get_object(Bucket=self.bucket, Key=self._key(key))
            return response["Body"].read(), str(response["ETag"])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise self._fail("read", key, exc) from exc
        except BotoCoreError as exc:
            raise self._fail("read", key, exc) from exc

    def replace_if(self, key: str, data: bytes | None, tag: str) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        action = "write" if data is not None else "delete"
        try:
            if data is None:
                self._client.delete_object(Bucket=self.bucket, Key=self._key(key), IfMatch=tag)
            else:
                self._client.put_object(
                    Bucket=self.bucket, Key=self._key(key), Body=data, IfMatch=tag
                )
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _TAKEN | {"NoSuchKey", "404"}:
                return False
            raise self._fail(action, key, exc) from exc
        except BotoCoreError as exc:
            raise self._fail(action, key, exc) from exc

    def get(self, key: str) -> bytes | None:
        found = self.get_tagged(key)
        return None if found is None else found[0]

    def list_keys(self, prefix: str) -> list[str]:
        return sorted(self.sizes(prefix))

    def sizes(self, prefix: str) -> dict[str, int]:
        from botocore.exceptions import BotoCoreError, ClientError

        sizes: dict[str, int] = {}
        strip = len(self.prefix) + 1 if self.prefix else 0
        try:
            paginator = self._client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
                sizes.update((obj["Key"][strip:], obj["Size"]) for obj in page.get("Contents", []))
        except (BotoCoreError, ClientError) as exc:
            raise self._fail("list", prefix, exc) from exc
        return sizes

    def list_top(self, prefix: str) -> list[str]:
        """The keys directly under ``prefix`` (ending in ``/``), not below it."""
        from botocore.exceptions import BotoCoreError, ClientError

        keys: list[str] = []
        strip = len(self.prefix) + 1 if self.prefix else 0
        try:
            paginator = self._client.get_paginator("list_objects_v2")
            pages = paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix), Delimiter="/")
            for page in pages:
                keys.extend(obj["Key"][strip:] for obj in page.get("Contents", []))
        except (BotoCoreError, ClientError) as exc:
            raise self._fail("list", prefix, exc) from exc
        return sorted(k for k in keys if not k.rsplit("/", 1)[-1].startswith("."))

    def create_bucket(self) -> bool:
        """Make the lake's bucket if there is none; whether it was made."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.head_bucket(Bucket=self.bucket)
            return False
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
                raise self._fail("reach the bucket of", "", exc) from exc
        except BotoCoreError as exc:
            raise self._fail("reach the bucket of", "", exc) from exc
        try:
            self._client.create_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as exc:
            raise self._fail("create the bucket of", "", exc) from exc
        return True

    def delete(self, key: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except (BotoCoreError, ClientError) as exc:
            raise self._fail("delete", key, exc) from exc

    def url(self, key: str) -> str:
        return f"{self.uri}/{key}"

    def table_uri(self, name: str) -> str:
        return f"s3://{self.bucket}/{self._key(name)}"

    def storage_options(self) -> dict[str, str]:
        settings = self._settings
        endpoint = settings.endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
        region = settings.region or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        options = {
            "AWS_REGION": region,
            # Commits are put only if their version is absent: two writers cannot both
            # take one version (AWS S3, MinIO and SeaweedFS honour it).
            "conditional_put": "etag",
            # An object store that is down fails a write within a minute, not ten.
            "connect_timeout": "10s",
            "timeout": "60s",
            "max_retries": "3",
            "retry_timeout": "60s",
        }
        if settings.access_key_id and settings.secret_access_key:
            options["AWS_ACCESS_KEY_ID"] = settings.access_key_id
            options["AWS_SECRET_ACCESS_KEY"] = settings.secret_access_key
        if endpoint:
            options["AWS_ENDPOINT_URL"] = endpoint
            options["AWS_VIRTUAL_HOSTED_STYLE_REQUEST"] = "false"  # path style, as for boto3
            if endpoint.startswith("http://"):
                options["AWS_ALLOW_HTTP"] = "true"
        return options

    def open(self, key: str, start: int = 0) -> IO[bytes]:
        return open_s3_object(self._client, self.bucket, self._key(key), start)

    def move(self, key: str, to: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            source: CopySourceTypeDef = {"Bucket": self.bucket, "Key": self._key(key)}
            self._client.copy(source, self.bucket, self._key(to))  # multipart for big objects
        except (BotoCoreError, ClientError) as exc:
            raise self._fail("move", key, exc) from exc
        self.delete(key)


def open_s3_object(client: S3Client, bucket: str, key: str, start: int = 0) -> IO[bytes]:
    """A streaming read of ``s3://bucket/key`` from byte ``start`` on (a ranged GET)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        if start:
            body = client.get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-")["Body"]
        else:
            body = client.get_object(Bucket=bucket, Key=key)["Body"]
    except (BotoCoreError, ClientError) as exc:
        endpoint = client.meta.endpoint_url
        raise LakeError(f"could not read s3://{bucket}/{key} (endpoint {endpoint}): {exc}") from exc
    return cast(IO[bytes], body)


def open_lake(uri: str, s3: S3Settings | None = None) -> Lake:
    """A lake from ``s3://bucket/prefix`` or a local folder path."""
    if uri.startswith("s3://"):
        return S3Lake(uri, make_s3_client(s3), s3)
    if "://" in uri and not uri.startswith("file://"):
        scheme = uri.split("://", 1)[0]
        raise LakeError(f"a {scheme}:// lake: it must be s3://bucket/prefix or a local folder")
    return LocalLake(uri.removeprefix("file://"))


MARKER = "_newsflow.json"  # what makes a folder or prefix a lake


def lake_exists(lake: Lake) -> bool:
    """Whether ``lake`` holds a newsflow lake: its marker, or the tables or state of a lake
    made before there were markers."""
    try:
        return lake.get(MARKER) is not None or any(
            lake.list_keys(prefix)[:1]
            for prefix in ("articles/_delta_log/", "_manifests/", "_state/")
        )
    except LakeError as exc:
        if "NoSuchBucket" in str(exc):
            return False
        raise


def create_lake(lake: Lake) -> bool:
    """Make ``lake`` a newsflow lake (the folder, or the bucket if the server lets us);
    whether it was not one before."""
    if isinstance(lake, S3Lake):
        lake.create_bucket()
    if lake_exists(lake):
        return False
    from pipeline import __version__

    marker = {"created_at": datetime.now(UTC).isoformat(), "created_by": f"newsflow {__version__}"}
    lake.put_if_absent(MARKER, json.dumps(marker).encode())
    return True


def require_lake(lake: Lake, create: bool = False) -> Lake:
    """``lake``, refused unless it exists or ``create`` says to make it: a mistyped path
    must not silently start a new lake."""
    if create:
        if create_lake(lake):
            log.warning("created the lake %s", lake.uri)
    elif not lake_exists(lake):
        raise LakeError(
            f"there is no newsflow lake at {lake.uri}: check --lake and NEWSFLOW_LAKE, or "
            f"create it with `newsflow init --lake {lake.uri}` (or --create)"
        )
    if lake.list_keys("_manifests/")[:1]:
        raise LakeError(
            f"the lake at {lake.uri} holds tables of the earlier layout (Parquet files and "
            f"_manifests/): turn them into Delta tables first, with `newsflow migrate --lake "
            f"{lake.uri}`"
        )
    return lake


def table_to_parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd", use_dictionary=True, write_statistics=True)
    return sink.getvalue()


def read_parquet(lake: Lake, key: str, schema: pa.Schema | None = None) -> pa.Table | None:
    """A Parquet object; with ``schema``, only its columns, cast to it. Columns that an
    older file lacks (schemas grow by nullable columns) come back as nulls."""
    data = lake.get(key)
    if data is None:
        return None
    if schema is None:
        return pq.read_table(io.BytesIO(data))
    parquet = pq.ParquetFile(io.BytesIO(data))
    present = set(parquet.schema_arrow.names)
    table = parquet.read(columns=[name for name in schema.names if name in present])
    for field in schema:
        if field.name not in present:
            if not field.nullable:
                raise ValueError(f"{key}: required column {field.name!r} is missing")
            table = table.append_column(field, pa.nulls(table.num_rows, field.type))
    return table.select(schema.names).cast(schema)


def put_json(lake: Lake, key: str, document: Any) -> None:
    lake.put(key, json.dumps(document, indent=2, sort_keys=True, default=str).encode("utf-8"))


def get_json(lake: Lake, key: str) -> Any:
    data = lake.get(key)
    return None if data is None else json.loads(data)


LEASE_KEY = "_state/lease.json"
_active: dict[str, int] = {}  # lake URI -> the thread of this process that holds its lease
_active_lock = threading.Lock()


def _abandoned(lake: Lake, current: dict[str, Any], now: str) -> bool:
    """True if a lease's holder is gone: it expired, or it was taken on this host by a
    process that has died, or by this process and no thread of it holds it any more (its
    release failed, say with the object store down)."""
    if str(current.get("expires", "")) < now:
        return True
    if current.get("host") != socket.gethostname() or not isinstance(current.get("pid"), int):
        return False
    if current["pid"] == os.getpid():
        with _active_lock:
            return lake.uri not in _active
    try:
        os.kill(current["pid"], 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


LEASE_TTL = 600.0  # seconds a lease lasts unless its holder renews it (every third of it)


def _read_lease(lake: Lake) -> tuple[dict[str, Any], str] | None:
    """The lease document and its tag; an unreadable one reads as expired."""
    found = lake.get_tagged(LEASE_KEY)
    if found is None:
        return None
    data, tag = found
    try:
        document = json.loads(data)
    except ValueError:
        document = None
    return (document if isinstance(document, dict) else {"expires": ""}), tag


class Lease:
    """A held lease: renewed in the background while its holder works; ``check`` before a
    final write says whether it is still ours (fencing)."""

    def __init__(self, lake: Lake, token: str, ttl: float) -> None:
        self.lake, self.token, self.ttl = lake, token, ttl
        self.lost: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, name="lease renewal", daemon=True)

    def _current(self) -> tuple[dict[str, Any], str] | None:
        return _read_lease(self.lake)

    def _renew(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                if not self.renew():
                    return
            except LakeError as exc:  # the next renewal may get through
                log.warning("could not renew the lease %s: %s", self.lake.url(LEASE_KEY), exc)

    def renew(self) -> bool:
        """Push the lease's expiry on, if it is still ours and unchanged since it was read
        (a conditional write: never over a lease another writer has taken since)."""
        current = self._current()
        if current is not None and current[0].get("token") == self.token:
            document, tag = current
            document["expires"] = (datetime.now(UTC) + timedelta(seconds=self.ttl)).isoformat()
            if self.lake.replace_if(LEASE_KEY, json.dumps(document, indent=2).encode(), tag):
                return True
            current = self._current()
        self.lost = f"now held by {current[0].get('holder', 'nobody') if current else 'nobody'}"
        return False

    def check(self) -> None:
        """Raise :class:`LakeError` unless the lease is still ours: a writer that lost it
        (it expired while the holder was stalled, and another took it) writes nothing more."""
        current = self._current()
        if self.lost or current is None or current[0].get("token") != self.token:
            holder = current[0].get("holder", "nobody") if current else "nobody"
            raise LakeError(
                f"lost the lease {self.lake.url(LEASE_KEY)} (now held by {holder}): "
                "nothing more is written; run it again"
            )

    def release(self) -> None:
        self._stop.set()
        current = self._current()
        if current is not None and current[0].get("token") == self.token:
            self.lake.replace_if(LEASE_KEY, None, current[1])


@contextmanager
def lease(
    lake: Lake,
    holder: str,
    *,
    wait: float = 2100.0,
    ttl: float | None = None,
    poll: float = 2.0,
) -> Iterator[Lease | None]:
    """Hold the lake's write lease: one writer of state at a time, across threads,
    processes, DAGs and machines (a conditional PUT of ``_state/lease.json``). The lease
    is renewed while it is held, so it does not expire under a long commit (each renewal,
    release and take-over is conditional on the lease it read: never over another's); a writer
    checks it (``Lease.check``) before its final writes. Re-entrant within a thread (the
    inner holder gets None). An abandoned lease is taken over: at once if its holder ran
    on this host and is gone, else when it expires (``ttl`` seconds after its last
    renewal). After ``wait`` seconds without it, :class:`LakeError` says who holds it."""
    ttl = LEASE_TTL if ttl is None else ttl
    me = threading.get_ident()
    with _active_lock:
        reentrant = _active.get(lake.uri) == me
    if reentrant:
        yield None
        return
    deadline = time.monotonic() + wait
    token = uuid.uuid4().hex
    while True:
        now = datetime.now(UTC)
        with _active_lock:
            free_here = lake.uri not in _active
        if free_here:
            expires = (now + timedelta(seconds=ttl)).isoformat()
            document = {"holder": holder, "host": socket.gethostname(), "pid": os.getpid(),
                        "since": now.isoformat(), "expires": expires, "token": token}  # fmt: skip
            with _active_lock:
                if lake.uri not in _active and lake.put_if_absent(
                    LEASE_KEY, json.dumps(document, indent=2).encode()
                ):
                    _active[lake.uri] = me
                    break
            found = _read_lease(lake)
            if found is None:
                continue  # released between our two requests
            current, tag = found
            if _abandoned(lake, current, now.isoformat()):
                log.warning("taking over the abandoned lease %s: %s", lake.url(LEASE_KEY), current)
                lake.replace_if(LEASE_KEY, None, tag)  # unless another took it over first
                continue
        else:
            current = {"holder": "another thread of this process", "host": socket.gethostname(),
                       "pid": os.getpid()}  # fmt: skip
        if time.monotonic() > deadline:
            raise LakeError(
                f"{lake.url(LEASE_KEY)} is held by {current.get('holder')} on "
                f"{current.get('host')} (pid {current.get('pid')}) since {current.get('since')},"
                f" until {current.get('expires')}; if that process is gone, delete the file"
            )
        time.sleep(poll)
    held = Lease(lake, token, ttl)
    held._thread.start()
    try:
        yield held
    finally:
        with _active_lock:
            _active.pop(lake.uri, None)
        try:
            held.release()
        except LakeError as exc:  # the run's own error, if any, is the one to report
            log.warning("could not release the lease: %s", exc)
