"""Where uploaded files live: a small interface with a local-folder implementation.

Files are stored outside the web root under random keys, so neither a name chosen by an
uploader nor a guessed URL can reach them; only the application's access checks can. An
S3-compatible store can implement the same four methods.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import BinaryIO, Protocol

from flask import Flask, current_app


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
        # Keys are ours (hex), but refuse anything else so a bad key can never walk the disk.
        if not key or not all(ch in "0123456789abcdef" for ch in key):
            raise ValueError("invalid storage key")
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


def init_storage(app: Flask) -> None:
    root = Path(app.config.get("UPLOAD_FOLDER") or Path(app.instance_path) / "uploads")
    app.extensions["file_storage"] = LocalFolderStorage(root)


def file_storage() -> FileStorage:
    return current_app.extensions["file_storage"]
