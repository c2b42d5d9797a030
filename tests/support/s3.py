"""A real S3 API on localhost for tests (pytest plugin module): moto's standalone server.

``s3_endpoint`` (session) runs ``moto.server`` in its own process on 127.0.0.1:<free port>; the
application talks to it over HTTP exactly as to any S3-compatible store (nothing is patched).
``s3_bucket`` (per test) creates an empty bucket with a unique name. Without moto installed the
tests fail (never skip).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.processes import stop_process

INSTALL_HINT = "moto's server is not installed; run: pip install -e '.[test]' (moto[server])"
ACCESS_KEY = "testing"
SECRET_KEY = "testing"
REGION = "us-east-1"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class S3Endpoint:
    url: str

    def settings(self, bucket: str, prefix: str = "uploads") -> dict[str, str]:
        """The application settings that put uploads into ``bucket`` on this endpoint."""
        return {"STORAGE_URL": f"s3://{bucket}/{prefix}", "S3_ENDPOINT_URL": self.url, "S3_REGION": REGION,
                "S3_ACCESS_KEY_ID": ACCESS_KEY, "S3_SECRET_ACCESS_KEY": SECRET_KEY}

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.url, region_name=REGION, aws_access_key_id=ACCESS_KEY,
                            aws_secret_access_key=SECRET_KEY)

    def create_bucket(self, name: str | None = None) -> str:
        name = name or f"test-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str) -> list[str]:
        listing = self.client().list_objects_v2(Bucket=bucket)
        return sorted(item["Key"] for item in listing.get("Contents", []))


class MotoServer:
    def __init__(self) -> None:
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> S3Endpoint:
        try:
            import moto.server  # noqa: F401
        except ImportError as error:
            raise FileNotFoundError(INSTALL_HINT) from error
        self.port = _free_port()
        self.log = tempfile.TemporaryFile()  # noqa: SIM115  # open for the server's whole life
        env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
        self.process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                        stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while not _listening(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.log.seek(0)
                output = self.log.read().decode(errors="replace")[-2000:]
                self.stop()
                raise RuntimeError(f"moto server did not start on port {self.port}:\n{output}")
            time.sleep(0.1)
        return S3Endpoint(f"http://127.0.0.1:{self.port}")

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None
        if getattr(self, "log", None) is not None:
            self.log.close()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[S3Endpoint]:
    server = MotoServer()
    try:
        endpoint = server.start()
    except FileNotFoundError as error:
        pytest.fail(str(error), pytrace=False)
    try:
        yield endpoint
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: S3Endpoint) -> str:
    return s3_endpoint.create_bucket()
