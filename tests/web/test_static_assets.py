"""Static files are named by their content's digest and cached a year under that name only."""

from __future__ import annotations

import re
from pathlib import Path

from flask import Flask, url_for
from flask.testing import FlaskClient

LONG_CACHE = "public, max-age=31536000, immutable"
ASSET = re.compile(r'(?:href|src)="(/(?:bootstrap/)?static/[^"?]+)\?v=([0-9a-f]{12})"')


def test_every_stylesheet_and_script_of_a_page_is_named_by_its_digest(client: FlaskClient) -> None:
    page = client.get("/login").get_data(as_text=True)
    assets = dict(ASSET.findall(page))
    assert "/static/css/app.css" in assets and "/bootstrap/static/css/bootstrap.min.css" in assets
    assert any(path.endswith(".js") for path in assets)
    # Nothing of ours is named without its version (and so revalidated on every page).
    assert not re.search(r'(?:href|src)="/(?:bootstrap/)?static/[^"?]+"', page)
    for path, digest in assets.items():
        response = client.get(f"{path}?v={digest}")
        assert response.status_code == 200, path
        assert response.headers["Cache-Control"] == LONG_CACHE, path


def test_a_file_asked_for_without_or_with_another_digest_is_revalidated(client: FlaskClient) -> None:
    for url in ("/static/css/app.css", "/static/css/app.css?v=000000000000"):
        response = client.get(url)
        assert response.status_code == 200
        assert "immutable" not in response.headers.get("Cache-Control", ""), url


def test_changing_a_file_changes_its_url(app: Flask, client: FlaskClient, tmp_path: Path) -> None:
    folder = tmp_path / "static"
    folder.mkdir()
    script = folder / "late.js"
    script.write_text("// first\n")
    app.static_folder = str(folder)
    with app.test_request_context():
        first = url_for("static", filename="late.js")
        script.write_text("// the second version\n")
        second = url_for("static", filename="late.js")
        assert url_for("static", filename="missing.js") == "/static/missing.js"
    assert first != second and first.startswith("/static/late.js?v=")
    # The old name is no longer the file's: a browser revalidates it instead of keeping it a year.
    assert "immutable" not in client.get(first).headers.get("Cache-Control", "")
    assert client.get(second).headers["Cache-Control"] == LONG_CACHE
