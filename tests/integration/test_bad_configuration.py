"""A setting that cannot work stops start-up with one clear line, not a traceback.

Real processes (``flask`` and gunicorn with deploy/gunicorn.conf.py), as an operator starts them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from incubator import create_app
from incubator.config import ConfigurationError
from tests.conftest import base_config
from tests.support.postgres import _free_port
from tests.support.redis import RedisServer
from tests.support.s3 import S3Endpoint

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def start(command: list[str], tmp_path: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "SECRET_KEY": "k" * 32,
           "PUBLIC_BASE_URL": "https://incubator.example.org",
           "PYTHONPATH": str(ROOT), "GUNICORN_BIND": f"127.0.0.1:{_free_port()}", "GUNICORN_WORKERS": "1",
           **settings}
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def flask_scheduler(tmp_path: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    return start([str(BIN / "flask"), "--app", "incubator", "scheduler", "run"], tmp_path, **settings)


def assert_one_line(result: subprocess.CompletedProcess[str], expected: str) -> None:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.strip().splitlines() == [expected], result.stderr


def test_unknown_storage_scheme(tmp_path: Path) -> None:
    result = flask_scheduler(tmp_path, STORAGE_URL="ftp://files.example/uploads")
    assert_one_line(result, "Error: STORAGE_URL has an unknown scheme 'ftp'; use s3://bucket/prefix, "
                            "file:///folder, or leave it empty for UPLOAD_FOLDER")


def test_production_without_public_base_url(tmp_path: Path) -> None:
    result = flask_scheduler(tmp_path, PUBLIC_BASE_URL="")  # SECRET_KEY from the environment: production
    assert_one_line(result, "Error: PUBLIC_BASE_URL is required in production (INCUBATOR_ENV=production or "
                            "SECRET_KEY set in the environment): set it to the address people use, "
                            "e.g. https://incubator.example.org")


def test_an_idle_limit_too_short_to_use_the_service(tmp_path: Path) -> None:
    result = flask_scheduler(tmp_path, SESSION_IDLE_MINUTES="0")
    assert_one_line(result, "Error: environment variable SESSION_IDLE_MINUTES must be at least 5, got 0")


def test_unreachable_redis(tmp_path: Path) -> None:
    port = _free_port()  # nothing listens there
    result = flask_scheduler(tmp_path, RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{port}/0")
    assert_one_line(result, f"Error: RATELIMIT_STORAGE_URI: cannot reach redis://127.0.0.1:{port}/0")


def test_unreachable_redis_message_hides_its_password(tmp_path: Path) -> None:
    port = _free_port()
    config = {**base_config(f"sqlite:///{tmp_path / 'db.sqlite3'}", tmp_path),
              "RATELIMIT_STORAGE_URI": f"redis://:s3cret@127.0.0.1:{port}/0"}
    with pytest.raises(ConfigurationError) as raised:
        create_app(config)
    assert raised.value.format_message() == f"RATELIMIT_STORAGE_URI: cannot reach redis://:***@127.0.0.1:{port}/0"


def test_reachable_redis_is_accepted(tmp_path: Path, redis_server: RedisServer) -> None:
    config = {**base_config(f"sqlite:///{tmp_path / 'db.sqlite3'}", tmp_path),
              "RATELIMIT_STORAGE_URI": redis_server.url}
    assert create_app(config).config["RATELIMIT_STORAGE_URI"] == redis_server.url


def test_missing_bucket(tmp_path: Path, s3_endpoint: S3Endpoint) -> None:
    result = flask_scheduler(tmp_path, **s3_endpoint.settings("no-such-bucket"))
    assert_one_line(result, "Error: STORAGE_URL: bucket 'no-such-bucket' does not exist")


def test_gunicorn_stops_with_the_same_line(tmp_path: Path) -> None:
    result = start([str(BIN / "gunicorn"), "-c", "deploy/gunicorn.conf.py", "wsgi:app"], tmp_path,
                   LOG_FORMAT="yaml")
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert errors == ["Error: LOG_FORMAT must be one of text, json, got 'yaml'"], result.stderr


def test_file_storage_url_names_the_local_folder(tmp_path: Path) -> None:
    from incubator.storage import LocalFolderStorage

    folder = tmp_path / "shared-uploads"
    app = create_app({**base_config(f"sqlite:///{tmp_path / 'db.sqlite3'}", tmp_path),
                      "STORAGE_URL": f"file://{folder}"})
    storage = app.extensions["file_storage"]
    assert isinstance(storage, LocalFolderStorage) and storage.root == folder
