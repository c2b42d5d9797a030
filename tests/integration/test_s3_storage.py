"""Uploads in an S3-compatible object store, against a real S3 API (moto's server on localhost).

The same storage interface as the local folder: files go in under the configured prefix, come
back as a stream, and leave only after the transaction that removed their row has committed.
"""

from __future__ import annotations

import hashlib
import io
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from incubator import create_app
from incubator.config import ConfigurationError
from incubator.database import utcnow
from incubator.extensions import db
from incubator.models import Application, Attachment, Call, User
from incubator.services import attachments as service
from incubator.storage import S3Storage, file_storage
from tests.conftest import base_config, csrf_token
from tests.factories import TINY_PDF, make_application, make_attachment, make_call
from tests.support.s3 import S3Endpoint

OTHER_PDF = b"%PDF-1.7\n% a second document\n1 0 obj<</Type/Catalog>>endobj\n%%EOF\n"


@pytest.fixture
def app_config(s3_endpoint: S3Endpoint, s3_bucket: str) -> dict[str, Any]:
    return s3_endpoint.settings(s3_bucket, prefix="incubator/uploads")


@pytest.fixture
def draft(applicant_client: FlaskClient) -> Application:
    call: Call = make_call()
    return make_application(applicant_client.user, call)


def upload(client: FlaskClient, application_id: int, content: bytes, filename: str = "deck.pdf") -> Any:
    data = {"csrf_token": csrf_token(client, "/password/change"), "kind": "pitch_deck",
            "file": (io.BytesIO(content), filename, "application/pdf")}
    return client.post(f"/applications/{application_id}/attachments", data=data, content_type="multipart/form-data")


def test_s3_storage_is_chosen_by_storage_url(app: Flask) -> None:
    storage = file_storage()
    assert isinstance(storage, S3Storage)
    assert storage.prefix == "incubator/uploads/"


def test_saved_file_is_an_object_under_the_prefix_and_reads_back(app: Flask, s3_endpoint: S3Endpoint,
                                                                  s3_bucket: str) -> None:
    storage = file_storage()
    key = storage.save(io.BytesIO(TINY_PDF))
    assert s3_endpoint.keys(s3_bucket) == [f"incubator/uploads/{key}"]
    assert storage.exists(key)
    with storage.open(key) as stream:
        assert stream.read() == TINY_PDF
    storage.delete(key)
    assert not storage.exists(key)
    assert s3_endpoint.keys(s3_bucket) == []
    storage.delete(key)  # deleting a missing file is not an error


def test_a_key_that_is_not_ours_is_refused(app: Flask) -> None:
    with pytest.raises(ValueError, match="invalid storage key"):
        file_storage().open("../other-prefix/secret")


def test_large_upload_goes_in_parts_and_downloads_as_a_stream(app: Flask, applicant_client: FlaskClient,
                                                             draft: Application) -> None:
    # Above boto3's 8 MB multipart threshold, below the 20 MB upload limit.
    content = TINY_PDF[:-6] + b"%" + b"x" * (9 * 1024 * 1024) + b"\n%%EOF\n"
    assert upload(applicant_client, draft.id, content).status_code == 302
    attachment = db.session.scalar(select(Attachment).where(Attachment.application_id == draft.id))
    # Unbuffered, as a server sees it: the test client would otherwise read the body up front.
    response = applicant_client.get(f"/applications/{draft.id}/attachments/{attachment.id}", buffered=False)
    assert response.status_code == 200
    assert response.is_streamed  # handed to the server chunk by chunk, never read whole into memory
    assert hashlib.sha256(response.get_data()).hexdigest() == attachment.sha256


def test_replacing_the_pitch_deck_deletes_the_old_object_after_commit(
        app: Flask, applicant_client: FlaskClient, draft: Application, s3_endpoint: S3Endpoint,
        s3_bucket: str) -> None:
    assert upload(applicant_client, draft.id, TINY_PDF, filename="old.pdf").status_code == 302
    [old_key] = s3_endpoint.keys(s3_bucket)
    assert upload(applicant_client, draft.id, OTHER_PDF, filename="new.pdf").status_code == 302
    new = db.session.scalar(select(Attachment).where(Attachment.application_id == draft.id))
    assert s3_endpoint.keys(s3_bucket) == [f"incubator/uploads/{new.storage_key}"] != [old_key]
    download = applicant_client.get(f"/applications/{draft.id}/attachments/{new.id}")
    assert download.get_data() == OTHER_PDF


def test_removed_object_stays_until_commit_and_after_a_rollback(app: Flask, applicant_client: FlaskClient,
                                                                 draft: Application) -> None:
    attachment = make_attachment(draft)
    key = attachment.storage_key
    user = db.session.get(User, applicant_client.user.id)
    with app.test_request_context():
        service.remove_attachment(draft, user, attachment, utcnow())
        assert file_storage().exists(key)  # flushed, not committed: the object must stay
        db.session.rollback()
    assert file_storage().exists(key)  # the row is back, so is its file

    attachment = db.session.get(Attachment, attachment.id)
    draft = db.session.get(Application, draft.id)
    with app.test_request_context():
        service.remove_attachment(draft, user, attachment, utcnow())
        assert file_storage().exists(key)
        db.session.commit()
    assert not file_storage().exists(key)


def test_a_missing_bucket_stops_start_up(database_url: str, tmp_path: Any, s3_endpoint: S3Endpoint) -> None:
    config = {**base_config(database_url, tmp_path), **s3_endpoint.settings("no-such-bucket")}
    with pytest.raises(ConfigurationError, match="bucket 'no-such-bucket' does not exist"):
        create_app(config)


@pytest.mark.parametrize("storage_url", ["ftp://files.example/uploads", "s3x://bucket", "gs://bucket/x"])
def test_an_unknown_storage_scheme_stops_start_up(database_url: str, tmp_path: Any, storage_url: str) -> None:
    with pytest.raises(ConfigurationError, match="STORAGE_URL has an unknown scheme"):
        create_app({**base_config(database_url, tmp_path), "STORAGE_URL": storage_url})


def test_upload_while_the_object_store_refuses_answers_503_and_saves_nothing(
        app: Flask, applicant_client: FlaskClient, draft: Application, s3_endpoint: S3Endpoint,
        s3_bucket: str) -> None:
    s3_endpoint.client().delete_bucket(Bucket=s3_bucket)  # the store goes away after start-up
    response = upload(applicant_client, draft.id, TINY_PDF)
    assert response.status_code == 503
    assert "Nothing you saved is lost" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalars(select(Attachment).where(Attachment.application_id == draft.id)).all() == []
