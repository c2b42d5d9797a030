"""Where uploaded files live: a small interface, a local folder and an S3-compatible store.

Files are stored outside the web root under random keys, so neither a name chosen by an
uploader nor a guessed URL can reach them; only the application's access checks can.
``STORAGE_URL`` picks the store: empty (the local folder, one host) or ``s3://bucket/prefix``
(several web hosts share one bucket). Deleting stays the callers' business: they delete only
after the transaction that removed the row has committed (services.attachments).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, Protocol, cast
from urllib.parse import urlsplit

from flask import Flask, current_app

from incubator.config import ConfigurationError

KEY_ALPHABET = frozenset("0123456789abcdef")


class StorageUnavailable(RuntimeError):
    """The file store cannot be reached or refused the operation; the request answers 503."""


def _checked_key(key: str) -> str:
    # Keys are ours (hex), but refuse anything else so a bad key can never walk the disk or
    # reach another prefix of the bucket.
    if not key or not set(key) <= KEY_ALPHABET:
        raise ValueError("invalid storage key")
    return key


class FileStorage(Protocol):
    def save(self, stream: BinaryIO) -> str:
        """Store the stream's bytes; return the new key."""

    def open(self, key: str) -> BinaryIO: ...

    def delete(self, key: str) -> None:
        """Remove the file; removing a missing file is not an error."""

    def exists(self, key: str) -> bool: ...


class LocalFolderStorage:
    CHUNK = 1024 * 1024

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        _checked_key(key)
        return self.root / key[:2] / key

    def save(self, stream: BinaryIO) -> str:
        key = secrets.token_hex(24)
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".part")
        with open(partial, "wb") as handle:
            while chunk := stream.read(self.CHUNK):
                handle.write(chunk)
        os.replace(partial, path)  # a crash mid-write never leaves a truncated file under the key
        return key

    def open(self, key: str) -> BinaryIO:
        return open(self._path(key), "rb")

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self._path(key).exists()


class S3Storage:
    """Objects ``<prefix><key>`` in one bucket of any S3-compatible service.

    Uploads go through boto3's managed transfer (multipart above its threshold), downloads
    return the response body itself, so a large file is streamed to the client chunk by chunk
    and never held in memory.
    """

    def __init__(self, make_client: Callable[[], Any], bucket: str, prefix: str) -> None:
        self._make_client = make_client
        self._client: Any = None
        self._client_pid = 0
        self.bucket = bucket
        self.prefix = prefix

    @property
    def client(self) -> Any:
        # One client per process: gunicorn forks its workers from a master that already
        # checked the bucket, and a pooled HTTP connection must never be shared across a fork.
        if self._client is None or self._client_pid != os.getpid():
            self._client, self._client_pid = self._make_client(), os.getpid()
        return self._client

    def _object(self, key: str) -> str:
        return self.prefix + _checked_key(key)

    def save(self, stream: BinaryIO) -> str:
        key = secrets.token_hex(24)
        # upload_fileobj writes the object only when the whole stream has arrived, so a crash
        # mid-upload never leaves a truncated object under the key.
        with _unavailable_on_error():
            self.client.upload_fileobj(stream, self.bucket, self._object(key))
        return key

    def open(self, key: str) -> BinaryIO:
        with _unavailable_on_error():
            body = self.client.get_object(Bucket=self.bucket, Key=self._object(key))["Body"]
        return cast(BinaryIO, body)

    def delete(self, key: str) -> None:
        with _unavailable_on_error():
            self.client.delete_object(Bucket=self.bucket, Key=self._object(key))  # absent: no error

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        with _unavailable_on_error():
            try:
                self.client.head_object(Bucket=self.bucket, Key=self._object(key))
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                    return False
                raise
        return True


@contextlib.contextmanager
def _unavailable_on_error() -> Iterator[None]:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (BotoCoreError, ClientError) as error:
        raise StorageUnavailable(f"object store: {error}") from error


def s3_storage_from_config(config: dict[str, Any]) -> S3Storage:
    """Connect to the bucket named by STORAGE_URL; refuse to start if it cannot be reached."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    url = urlsplit(config["STORAGE_URL"])
    bucket = url.netloc
    if not bucket:
        raise ConfigurationError(f"STORAGE_URL {config['STORAGE_URL']!r} names no bucket (s3://bucket/prefix)")
    prefix = url.path.strip("/")

    def make_client() -> Any:
        return boto3.client(
            "s3",
            endpoint_url=config.get("S3_ENDPOINT_URL") or None,
            region_name=config.get("S3_REGION") or None,
            aws_access_key_id=config.get("S3_ACCESS_KEY_ID") or None,
            aws_secret_access_key=config.get("S3_SECRET_ACCESS_KEY") or None,
            # Fail fast at start-up and in a request rather than hang a worker on a dead endpoint.
            config=Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 3}),
        )

    storage = S3Storage(make_client, bucket, f"{prefix}/" if prefix else "")
    try:
        storage.client.head_bucket(Bucket=bucket)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        reason = "does not exist" if code in {"404", "NoSuchBucket", "NotFound"} else f"is not usable ({code})"
        raise ConfigurationError(f"STORAGE_URL: bucket {bucket!r} {reason}") from error
    except BotoCoreError as error:
        raise ConfigurationError(f"STORAGE_URL: cannot reach the object store for bucket {bucket!r}: {error}") from error
    return storage


def init_storage(app: Flask) -> None:
    storage_url = app.config.get("STORAGE_URL") or ""
    scheme = urlsplit(storage_url).scheme
    if scheme == "s3":
        app.extensions["file_storage"] = s3_storage_from_config(app.config)
        return
    if storage_url and scheme != "file":
        raise ConfigurationError(
            f"STORAGE_URL has an unknown scheme {scheme or storage_url!r}; use s3://bucket/prefix, "
            "file:///folder, or leave it empty for UPLOAD_FOLDER"
        )
    folder = urlsplit(storage_url).path if storage_url else app.config.get("UPLOAD_FOLDER")
    root = Path(folder or Path(app.instance_path) / "uploads")
    app.extensions["file_storage"] = LocalFolderStorage(root)


def file_storage() -> FileStorage:
    return current_app.extensions["file_storage"]
