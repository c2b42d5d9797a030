"""Command-line entry points: ``flask --app incubator <group> <command>``. Thin, like routes."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from incubator.database import utcnow
from incubator.domain.roles import Role
from incubator.extensions import db

demo_cli = AppGroup("demo", help="Demo data for a first start.")
users_cli = AppGroup("users", help="Accounts.")
outbox_cli = AppGroup("outbox", help="The outgoing email queue.")


@demo_cli.command("seed")
def demo_seed() -> None:
    """Create programmes, an open call, slots and one account per role (once)."""
    from incubator.services.demo import demo_logins, seed_demo_data

    created = seed_demo_data(utcnow())
    db.session.commit()
    click.echo("Demo data created." if created else "Demo data already present; nothing changed.")
    click.echo("Demo logins (change these passwords on any shared machine):")
    for login in demo_logins():
        click.echo(f"  {login.role.value:<10} {login.email:<26} {login.password}")


@users_cli.command("create")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", type=click.Choice([role.value for role in Role]), default=Role.ADMIN.value)
@click.password_option()
def users_create(email: str, name: str, role: str, password: str) -> None:
    """Create an account with a password (e.g. the first administrator)."""
    from incubator.services import ServiceError
    from incubator.services.accounts import create_account

    try:
        user = create_account(email, name, Role(role), password)
    except ServiceError as error:
        raise click.ClickException(error.message) from error
    db.session.commit()
    click.echo(f"Created {user.role} {user.email}.")


@outbox_cli.command("deliver")
def outbox_deliver() -> None:
    """Send every email that is due now."""
    from incubator.mail import deliver_due

    report = deliver_due()
    click.echo(f"sent {len(report.sent)}, retrying {len(report.retrying)}, failed {len(report.failed)}")


def register_commands(app: Flask) -> None:
    for group in (demo_cli, users_cli, outbox_cli):
        app.cli.add_command(group)
