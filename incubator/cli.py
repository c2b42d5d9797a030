"""Command-line entry points: ``flask --app incubator <group> <command>``. Thin, like routes."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from incubator.domain.roles import Role

# Imports of the database layer (SQLAlchemy) and services stay inside the commands: listing the
# commands (`flask --help`) must not pay for them (see incubator/deferred_setup.py).


def _complete_app() -> None:
    complete_setup = getattr(current_app, "complete_setup", None) if current_app else None
    if complete_setup is not None:
        complete_setup()


class AppCommandGroup(AppGroup):
    """A command group whose commands complete the app before they run.

    ``flask`` looks commands up with an app context that does not build the app (so ``--help``
    stays quick; see incubator/deferred_setup.py); a command that runs needs all of it, except
    one declared ``needs_app=False``: the solvers read a file and print JSON, and building the
    web half (blueprints, models, extensions) was half of ``match solve``'s time."""

    def command(self, *args: Any, needs_app: bool = True, **kwargs: Any) -> Callable[[Callable[..., Any]], click.Command]:
        register = super().command(*args, **kwargs)
        if not needs_app:
            return register

        def decorator(callback: Callable[..., Any]) -> click.Command:
            @functools.wraps(callback)
            def with_complete_app(*call_args: Any, **call_kwargs: Any) -> Any:
                _complete_app()
                return callback(*call_args, **call_kwargs)

            return register(with_complete_app)

        return decorator


demo_cli = AppCommandGroup("demo", help="Demo data for a first start.")
users_cli = AppCommandGroup("users", help="Accounts.")
outbox_cli = AppCommandGroup("outbox", help="The outgoing email queue.")
assign_cli = AppCommandGroup("assign", help="Reviewer assignment.")
match_cli = AppCommandGroup("match", help="Matching of accepted startups to residency slots.")
scheduler_cli = AppCommandGroup("scheduler", help="The scheduler process: reminders, outbox delivery, offer expiry.")
reminders_cli = AppCommandGroup("reminders", help="Reminders before deadlines.")
retention_cli = AppCommandGroup("retention", help="Anonymisation of rejected and withdrawn applications after RETENTION_YEARS.")


def _solve_file(path: str, solver: Callable[[str], dict[str, Any]]) -> None:
    """Read an instance, print the result as JSON; bad input exits 1 with one line, no traceback."""
    from incubator.domain.errors import InstanceError

    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as error:
        raise click.ClickException(f"cannot read {path}: {error}") from error
    try:
        result = solver(text)
    except InstanceError as error:
        raise click.ClickException(str(error)) from error
    click.echo(json.dumps(result))


@assign_cli.command("solve", needs_app=False)
@click.argument("path", type=click.Path(dir_okay=False))
def assign_solve(path: str) -> None:
    """Optimal reviewer assignment for the instance in PATH (JSON; see DESIGN.md)."""
    from incubator.domain.assignment import solve_assignment_json

    _solve_file(path, solve_assignment_json)


@match_cli.command("solve", needs_app=False)
@click.argument("path", type=click.Path(dir_okay=False))
def match_solve(path: str) -> None:
    """Applicant-optimal stable matching for the instance in PATH (JSON; see DESIGN.md)."""
    from incubator.domain.matching import solve_matching_json

    _solve_file(path, solve_matching_json)


@demo_cli.command("seed")
def demo_seed() -> None:
    """Create programmes, an open call with reviewers and applications, a decided previous call
    with its residents, slots and one account per role (once)."""
    from incubator.database import utcnow
    from incubator.extensions import db
    from incubator.services.demo import BIOVENTUREHUB_ACCOUNTS, demo_logins, seed_demo_data

    created = seed_demo_data(utcnow(), showcase=True)
    db.session.commit()
    click.echo("Demo data created." if created else "Demo data already present; nothing changed.")
    click.echo("Demo logins (change these passwords on any shared machine):")
    for login in demo_logins():
        limited = "  (sees only the BioVentureHub exchange)" if login.email in BIOVENTUREHUB_ACCOUNTS else ""
        click.echo(f"  {login.role.value:<10} {login.email:<26} {login.password}{limited}")
    required = ", ".join(sorted(role.value for role in current_app.config["TWO_FACTOR_REQUIRED_ROLES"]))
    click.echo(f"Roles that sign in with two factors ({required}) set up an authenticator app "
               "right after the password on their first login.")


@users_cli.command("create")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", type=click.Choice([role.value for role in Role]), default=Role.ADMIN.value)
@click.password_option()
def users_create(email: str, name: str, role: str, password: str) -> None:
    """Create an account with a password (e.g. the first administrator)."""
    from incubator.extensions import db
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


@outbox_cli.command("reset-stuck")
@click.option("--older-than", default=600, show_default=True, help="Seconds in 'sending' before a row counts as abandoned.")
def outbox_reset_stuck(older_than: int) -> None:
    """Queue again the emails whose sending process died mid-send."""
    from incubator.scheduler import reset_stuck

    click.echo(f"reset {reset_stuck(stuck_after=older_than)}")


@reminders_cli.command("sweep")
def reminders_sweep() -> None:
    """One reminder sweep now (the scheduler runs one every 5 minutes)."""
    from incubator.scheduler import sweep_reminders

    report = sweep_reminders()
    click.echo(f"{report.claimed} reminders in {report.emails} emails")


@retention_cli.command("run")
@click.option("--dry-run", is_flag=True, help="Only list what would be anonymised; change nothing.")
def retention_run(dry_run: bool) -> None:
    """Anonymise rejected and withdrawn applications past their retention period (one batch)."""
    from incubator.database import utcnow
    from incubator.scheduler import anonymise_expired_applications
    from incubator.services.retention import due_for_anonymisation

    candidates = due_for_anonymisation(utcnow()) if dry_run else anonymise_expired_applications()
    for candidate in candidates:
        click.echo(f"{candidate.application_id}\t{candidate.state}\tsince {candidate.since:%Y-%m-%d}\t"
                   f"{candidate.call_title}")
    verb = "would be anonymised" if dry_run else "anonymised"
    click.echo(f"{len(candidates)} applications {verb}")


@scheduler_cli.command("run")
@click.option("--sweep-every", default=300.0, show_default=True, help="Seconds between reminder sweeps.")
@click.option("--deliver-every", default=60.0, show_default=True, help="Seconds between outbox deliveries.")
@click.option("--reset-every", default=300.0, show_default=True, help="Seconds between resets of stuck deliveries.")
@click.option("--expire-every", default=300.0, show_default=True, help="Seconds between offer expiry runs.")
@click.option("--retention-every", default=21600.0, show_default=True,
              help="Seconds between retention runs (anonymising old rejected and withdrawn applications).")
@click.option("--stuck-after", default=600.0, show_default=True,
              help="Seconds a delivery may stay in 'sending' before it counts as interrupted.")
@click.option("--lease-seconds", default=30.0, show_default=True,
              help="Seconds the leader's lease lasts unrenewed; a standby takes over within this plus --renew-every.")
@click.option("--renew-every", default=10.0, show_default=True,
              help="Seconds between lease renewals by the leader and tries by a standby.")
def scheduler_run(sweep_every: float, deliver_every: float, reset_every: float, expire_every: float,
                  retention_every: float, stuck_after: float, lease_seconds: float, renew_every: float) -> None:
    """Run the scheduler in this process until stopped (SIGTERM or Ctrl-C).

    Start it on as many hosts as you like: one leads and runs the jobs, the others stand by.
    """
    from flask import current_app

    from incubator import scheduler

    if min(sweep_every, deliver_every, reset_every, expire_every, retention_every, stuck_after,
           lease_seconds, renew_every) <= 0:
        raise click.ClickException("every interval must be a positive number of seconds")
    if renew_every >= lease_seconds:
        raise click.ClickException("--renew-every must be shorter than --lease-seconds")
    intervals = scheduler.Intervals(sweep=sweep_every, delivery=deliver_every, reset_stuck=reset_every,
                                    offer_expiry=expire_every, retention=retention_every, stuck_after=stuck_after,
                                    lease=lease_seconds, renew=renew_every)
    scheduler.run(current_app._get_current_object(), intervals)  # type: ignore[attr-defined]


def register_commands(app: Flask) -> None:
    for group in (demo_cli, users_cli, outbox_cli, assign_cli, match_cli, scheduler_cli, reminders_cli,
                  retention_cli):
        app.cli.add_command(group)
