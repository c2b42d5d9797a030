"""Emails rendered by the scheduler or a command, outside any request, still translate."""

from flask_babel import gettext

from incubator import create_app


def test_gettext_works_outside_a_request(tmp_path) -> None:
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "x", "INSTANCE_PATH": str(tmp_path)})
    with app.app_context():
        assert gettext("Decision") == "Decision"
