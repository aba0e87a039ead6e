"""Command-line tools: flask seed-demo, seed-scale, create-user, notify-retry, notify-worker,
notify-deadlines, calendar-day, close-unrated, sweep-uploads, refresh-dashboards, backup, restore."""

import dataclasses
import json
import os
import sys
import time
from typing import Optional

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import with_appcontext
from flask_babel import force_locale
from sqlalchemy.exc import IntegrityError

from . import backup, demo, logs, scale, workdays
from .extensions import begin_write, db
from .models import Deputy, Department, Jurisdiction, Role, User
from .services import calendar as calendar_service
from .services import notify
from .services import users as user_service


def register(app: Flask) -> None:
    app.cli.add_command(seed_demo_command)
    app.cli.add_command(seed_scale_command)
    app.cli.add_command(create_user_command)
    app.cli.add_command(notify_retry_command)
    app.cli.add_command(notify_deadlines_command)
    app.cli.add_command(notify_worker_command)
    app.cli.add_command(calendar_day_group)
    app.cli.add_command(close_unrated_command)
    app.cli.add_command(anonymise_closed_command)
    app.cli.add_command(sweep_uploads_command)
    app.cli.add_command(refresh_dashboards_command)
    app.cli.add_command(backup_command)
    app.cli.add_command(restore_command)


# --- flask seed-demo ---------------------------------------------------------------------


@click.command("seed-demo")
@click.option("--json", "as_json", is_flag=True, help="Print only a JSON object (logins, QR URLs, counts).")
@click.option("--if-empty", is_flag=True, help="Load the demo only into an empty database; never into a real install.")
@with_appcontext
def seed_demo_command(as_json: bool, if_empty: bool) -> None:
    """Load the demo data set (Taicang and Wan'an). Running it again writes nothing."""
    begin_write()  # the check and the writes in one write transaction
    if if_empty and demo.holds_other_data():
        db.session.rollback()
        message = "The database already holds data that is not the demo's; the demo data set was not loaded."
        if as_json:
            click.echo(json.dumps({"created": False, "skipped": message, "users": [], "qr_urls": []}))
        else:
            click.echo(message)
        return
    try:
        # The demo's made-up trails are not state changes anyone made: no line for each event.
        with logs.quiet("liaison.workflow"):
            summary = demo.seed_demo()
    except demo.DemoConflict as error:
        db.session.rollback()
        raise click.ClickException(str(error)) from None
    except BaseException:
        db.session.rollback()
        raise
    base = current_app.config["PUBLIC_BASE_URL"]
    if as_json:
        click.echo(json.dumps(_summary_json(summary, base), ensure_ascii=False, indent=2))
    else:
        click.echo(_summary_text(summary, base))


@click.command("seed-scale")
@click.option("--fraction", type=click.FloatRange(0.0001, 1.0),
              help="Scale every count of the province (default: 1 on PostgreSQL, 0.1 on SQLite).")
@click.option("--requests", "request_count", type=click.IntRange(0), help="Override the number of requests.")
@click.option("--seed", type=int, default=2026, show_default=True, help="Seed of the random generator.")
@with_appcontext
def seed_scale_command(fraction: Optional[float], request_count: Optional[int], seed: int) -> None:
    """Fill an empty database with a province-sized data set for benchmarks (bulk inserts)."""
    shape = scale.Shape().scaled(fraction or scale.default_fraction(db.engine.dialect.name))
    if request_count is not None:
        shape = dataclasses.replace(shape, requests=request_count)
    click.echo(f"Generating {scale.describe(shape)} ({db.engine.dialect.name}).")
    started = time.perf_counter()
    try:
        summary = scale.seed_scale(shape, seed=seed,
                                   progress=lambda line: click.echo(f"  {time.perf_counter() - started:6.1f} s  {line}"))
    except scale.ScaleError as error:
        raise click.ClickException(str(error)) from None
    rows = sum(summary.counts.values())
    click.echo(f"Done: {rows:,} rows in {summary.seconds:.1f} s. The largest county is jurisdiction "
               f"{summary.county_id}; log in as {summary.county_staff} (its staff) or {summary.province_staff} "
               f"(the province's), password {scale.SCALE_PASSWORD!r}. This data set is for measurement only.")


def _qr_url(base: str, token: str) -> str:
    return f"{base}/q/{token}"


def _summary_json(summary: demo.DemoSummary, base: str) -> dict:
    return {
        "created": summary.created,
        "users": [
            {"username": login.username, "password": login.password, "role": login.role.value,
             "display_name": login.display_name}
            for login in summary.logins
        ],
        "qr_urls": [_qr_url(base, code.token) for code in summary.codes],
        "qr_codes": [
            {"url": _qr_url(base, code.token), "target": code.target, "name": code.name, "place": code.place}
            for code in summary.codes
        ],
        "retired_qr_url": _qr_url(base, summary.retired_code.token) if summary.retired_code else None,
        "counts": summary.counts,
    }


def _summary_text(summary: demo.DemoSummary, base: str) -> str:
    counts = summary.counts
    lines = [
        "Demo data loaded." if summary.created
        else "The demo data set is already in this database; nothing was written.",
        f"  {counts['stations']} stations, {counts['deputies']} deputies, {counts['departments']} departments, "
        f"{counts['enterprises']} enterprises, {counts['requests']} requests, {counts['qr_codes']} QR codes",
        "",
        "Demo logins (published passwords: for a demo only, never on a real install):",
    ]
    width = max((len(login.username) for login in summary.logins), default=8) + 2
    for login in summary.logins:
        lines.append(f"  {login.username:<{width}}{login.password:<20}{login.role.value:<8}{login.display_name}")
    lines += ["", "QR codes to open on a phone:"]
    for code in summary.codes:
        lines.append(f"  {code.target:<8}{code.name} ({code.place})")
        lines.append(f"          {_qr_url(base, code.token)}")
    if summary.retired_code:
        lines.append(f"  retired {summary.retired_code.name} ({summary.retired_code.place}): shows where to go instead")
        lines.append(f"          {_qr_url(base, summary.retired_code.token)}")
    return "\n".join(lines)


# --- flask create-user -------------------------------------------------------------------

@click.command("create-user")
@click.option("--username", required=True, help="Login name: 3-40 letters, digits, '.', '_' or '-'.")
@click.option("--role", required=True, type=click.Choice([role.value for role in Role]), help="What the user does.")
@click.option("--phone", help="Mainland China mobile or landline (stored in E.164).")
@click.option("--display-name", default="", help="The name shown in the app, e.g. 陈晓燕.")
@click.option("--jurisdiction", "division_code", help="Division code the staff member works for (role staff).")
@click.option("--department", "department_id", type=int, help="Id of the handling unit (role unit).")
@click.option("--deputy", "deputy_id", type=int, help="Id of the deputy this account belongs to (role deputy).")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
@with_appcontext
def create_user_command(username: str, role: str, phone: Optional[str], display_name: str,
                        division_code: Optional[str], department_id: Optional[int], deputy_id: Optional[int],
                        password_stdin: bool) -> None:
    """Create a user account; the password is asked for twice, hidden."""
    chosen = Role(role)
    scopes = {"jurisdiction": division_code, "department": department_id, "deputy": deputy_id}
    _check_role_scope(chosen, scopes)
    begin_write()
    try:
        # The validators' messages are translatable; a terminal gets them in English.
        with force_locale("en"):
            user = _build_user(username, chosen, phone, display_name, division_code, department_id, deputy_id)
        user.set_password(_read_password(password_stdin, user_service.account_names(user)))
        db.session.add(user)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise click.ClickException("Another user with this username, phone or deputy was created meanwhile.") from None
    except BaseException:
        db.session.rollback()
        raise
    click.echo(f"Created {chosen.value} user '{user.username}' (id {user.id}).")


def _check_role_scope(role: Role, scopes: dict) -> None:
    """Each role needs exactly its own scope: staff a jurisdiction, unit a department, deputy a deputy."""
    needed = user_service.SCOPE_FIELDS.get(role)
    if needed and scopes[needed] is None:
        raise click.UsageError(f"Role '{role.value}' needs --{needed}.")
    extra = [name for name, value in scopes.items() if value is not None and name != needed]
    if extra:
        raise click.UsageError(f"--{extra[0]} does not apply to role '{role.value}'.")


def _build_user(username: str, role: Role, phone: Optional[str], display_name: str,
                division_code: Optional[str], department_id: Optional[int], deputy_id: Optional[int]) -> User:
    """Validate everything against the database (the web form's rules) and return the unsaved user."""
    jurisdiction = department = deputy = None
    if division_code is not None:
        jurisdiction = _found(
            db.session.scalar(sa.select(Jurisdiction).where(Jurisdiction.division_code == division_code.strip())),
            f"No jurisdiction has the division code '{division_code}'.")
    if department_id is not None:
        department = _found(db.session.get(Department, department_id), f"No handling unit has the id {department_id}.")
    if deputy_id is not None:
        deputy = _found(db.session.get(Deputy, deputy_id), f"No deputy has the id {deputy_id}.")
    draft = user_service.AccountDraft(username=username, role=role, display_name=display_name, phone=phone,
                                      jurisdiction=jurisdiction, department=department, deputy=deputy)
    try:
        draft = user_service.clean_account(draft)
    except user_service.AccountRejected as rejected:
        field, message = next(iter(rejected.errors.items()))
        raise click.BadParameter(str(message), param_hint="--" + field.replace("_", "-")) from None
    try:
        user_service.check_account_is_new(draft)
    except user_service.AccountRejected as rejected:
        raise click.ClickException(str(next(iter(rejected.errors.values())))) from None
    return User(username=draft.username, role=draft.role, display_name=draft.display_name, phone=draft.phone,
                jurisdiction=draft.jurisdiction, department=draft.department, deputy=draft.deputy)


def _found(row, missing: str):
    if row is None:
        raise click.ClickException(missing)
    return row


def _read_password(from_stdin: bool, names: tuple) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    problem = user_service.password_problem(password, names=names)
    if problem:
        with force_locale("en"):
            raise click.ClickException(str(problem))
    return password


# --- flask notify-retry ------------------------------------------------------------------


@click.command("notify-retry")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=1), help="At most this many messages.")
@with_appcontext
def notify_retry_command(limit: int) -> None:
    """Send the notifications that are due (new ones and retries). Run it from cron every minute."""
    sent, failed = notify.deliver_pending(limit=limit)
    click.echo(f"Sent {sent}, failed {failed}.")


# --- flask notify-worker ------------------------------------------------------------------


@click.command("notify-worker")
@click.option("--idle-seconds", default=0.5, show_default=True, type=click.FloatRange(min=0.05),
              help="How long to wait when nothing is due.")
@click.option("--max-seconds", type=click.FloatRange(min=0), help="Stop after this long (default: run until stopped).")
@with_appcontext
def notify_worker_command(idle_seconds: float, max_seconds: Optional[float]) -> None:
    """Send what the outbox holds as it comes, in a process of its own: with
    NOTIFY_DELIVER_IMMEDIATELY off, the app's workers only write messages, and talking to robots
    and SMS providers costs them nothing (run it niced under systemd; SIGTERM stops it)."""
    import signal

    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    started, sent_total, failed_total = time.monotonic(), 0, 0
    while not stopping and (max_seconds is None or time.monotonic() - started < max_seconds):
        sent, failed = notify.deliver_pending(limit=notify.BATCH_SIZE * 4)
        sent_total, failed_total = sent_total + sent, failed_total + failed
        if not sent and not failed:
            time.sleep(idle_seconds)
    click.echo(f"Sent {sent_total}, failed {failed_total}.")


# --- flask notify-deadlines ---------------------------------------------------------------


@click.command("notify-deadlines")
@with_appcontext
def notify_deadlines_command() -> None:
    """Announce what is due tomorrow and what is overdue, once a day per item. Run it from cron
    daily; a second run the same day, or one on another server at the same time, sends nothing again."""
    from .services.deadline_notices import notify_deadlines

    started = time.monotonic()
    counts = notify_deadlines()
    click.echo(f"Due tomorrow {counts.due_tomorrow}, overdue {counts.overdue}: {counts.messages} messages "
               f"in {time.monotonic() - started:.1f} s.")


# --- flask calendar-day ------------------------------------------------------------------

DATE = click.DateTime(formats=["%Y-%m-%d"])


@click.group("calendar-day")
def calendar_day_group() -> None:
    """The holiday table: holidays and make-up working days that override chinese-calendar."""


@calendar_day_group.command("set")
@click.argument("day", type=DATE, metavar="DATE")
@click.option("--holiday/--workday", "holiday", default=None, help="Whether offices are closed or open that day.")
@click.option("--name", default="", help="What the day is, e.g. 国庆节 or 调休上班.")
@with_appcontext
def calendar_day_set_command(day, holiday: Optional[bool], name: str) -> None:
    """Make DATE (YYYY-MM-DD) a holiday or a working day."""
    if holiday is None:
        raise click.UsageError("Say --holiday or --workday.")
    try:
        entry = calendar_service.set_calendar_day(day.date(), not holiday, name)
    except calendar_service.InvalidCalendarDay as error:
        raise click.BadParameter(str(error), param_hint="--name") from None
    click.echo(_calendar_line(entry.day, entry.is_working_day, entry.name))


@calendar_day_group.command("clear")
@click.argument("day", type=DATE, metavar="DATE")
@with_appcontext
def calendar_day_clear_command(day) -> None:
    """Remove the entry for DATE, so that chinese-calendar decides again."""
    if calendar_service.clear_calendar_day(day.date()):
        click.echo(f"Cleared {day.date()}; it is now a {_day_kind(workdays.is_working_day(day.date()))}.")
    else:
        click.echo(f"{day.date()} had no entry.")


@calendar_day_group.command("list")
@click.option("--year", type=int, default=lambda: workdays.today_local().year, help="Default: this year.")
@with_appcontext
def calendar_day_list_command(year: int) -> None:
    """List a year's entries."""
    first, last = workdays.package_years()
    known = "knows" if first <= year <= last else "does not know"
    click.echo(f"chinese-calendar {known} {year}; these entries override it:")
    entries = calendar_service.calendar_days_in(year)
    for entry in entries:
        click.echo("  " + _calendar_line(entry.day, entry.is_working_day, entry.name))
    if not entries:
        click.echo("  (none)")


def _day_kind(is_working_day: bool) -> str:
    return "working day" if is_working_day else "holiday"


def _calendar_line(day, is_working_day: bool, name: str) -> str:
    return f"{day.isoformat()} {day:%a} {_day_kind(is_working_day):<11} {name}".rstrip()


# --- flask close-unrated -------------------------------------------------------------------


@click.command("close-unrated")
@with_appcontext
def close_unrated_command() -> None:
    """Close, as 未评价, requests whose enterprise did not rate within RATING_DAYS (cron, daily).
    Opening such a request closes it too, so this only keeps lists tidy."""
    from .services.workflow import close_unrated

    begin_write()
    closed = close_unrated()
    click.echo(f"{closed} request(s) closed without a rating.")


# --- flask sweep-uploads -------------------------------------------------------------------


@click.command("sweep-uploads")
@click.option("--min-age-minutes", type=click.FloatRange(min=0), default=60, show_default=True,
              help="Keep files younger than this: their transaction may still be under way.")
@click.option("--dry-run", is_flag=True, help="Only list what would be deleted.")
@with_appcontext
def sweep_uploads_command(min_age_minutes: float, dry_run: bool) -> None:
    """Delete photo files that no row names, left by a worker killed between writing a photo
    and committing its row (cron, daily). Names rows whose file is missing."""
    from .services.photos import sweep_uploads

    sweep = sweep_uploads(min_age_seconds=min_age_minutes * 60, dry_run=dry_run)
    verb = "would be deleted" if dry_run else "deleted"
    click.echo(f"{len(sweep.removed)} photo file(s) without a row {verb}.")
    for name in sweep.removed:
        click.echo(f"  {name}")
    if sweep.missing:
        click.echo(f"{len(sweep.missing)} photo row(s) without their file (restore them from a backup):", err=True)
        for name in sweep.missing:
            click.echo(f"  {name}", err=True)


# --- flask refresh-dashboards --------------------------------------------------------------


@click.command("refresh-dashboards")
@click.option("--min-requests", type=click.IntRange(min=1),
              help="Override DASHBOARD_SNAPSHOT_MIN_REQUESTS: jurisdictions that received fewer are left live.")
@with_appcontext
def refresh_dashboards_command(min_requests: Optional[int]) -> None:
    """Compute the dashboard of each named period (DASHBOARD_SNAPSHOT_PERIODS: the last 12 months,
    this month, ...) for every large jurisdiction and store it (cron, every 10 minutes): the page
    then shows it at once instead of counting for seconds."""
    from .services import dashboard_snapshots

    began = time.perf_counter()
    done = dashboard_snapshots.refresh(minimum=min_requests)
    shown = None
    for item in done:
        if item.jurisdiction_id != shown:
            shown = item.jurisdiction_id
            click.echo(f"{item.name} ({item.jurisdiction_id}): {item.collected} request(s) in the last 12 months")
        click.echo(f"  {item.key} ({item.period.start} to {item.period.end}): {item.seconds:.2f} s")
    click.echo(f"{len(done)} dashboard(s) stored in {time.perf_counter() - began:.1f} s.")


# --- flask anonymise-closed ----------------------------------------------------------------


@click.command("anonymise-closed")
@click.option("--months", type=click.IntRange(min=0),
              help="Override CONTACT_RETENTION_MONTHS (0: keep everything).")
@click.option("--dry-run", is_flag=True, help="Only count the requests that would be anonymised.")
@with_appcontext
def anonymise_closed_command(months: Optional[int], dry_run: bool) -> None:
    """Anonymise the contact details of requests closed or withdrawn more than
    CONTACT_RETENTION_MONTHS months ago (cron, daily). Running it again changes nothing."""
    from .services import retention

    try:
        result = retention.anonymise_closed(months=months, dry_run=dry_run)
    except retention.RetentionError as error:
        raise click.ClickException(str(error)) from None
    if result.cutoff is None:
        click.echo("Contact details are kept: CONTACT_RETENTION_MONTHS is not set (or 0). Nothing was changed.")
    elif dry_run:
        click.echo(f"Dry run: {result.requests} request(s) closed before {result.cutoff:%Y-%m-%d %H:%M} UTC "
                   "would be anonymised. Nothing was changed.")
    else:
        click.echo(f"{result.requests} request(s) closed before {result.cutoff:%Y-%m-%d %H:%M} UTC anonymised; "
                   f"contact details removed from {result.notes} note(s) of their trails.")


# --- flask backup / flask restore ------------------------------------------------------------


@click.command("backup")
@click.option("--to", "folder", type=click.Path(file_okay=False),
              help="Folder for the archive (default: instance/backups).")
@with_appcontext
def backup_command(folder: Optional[str]) -> None:
    """Write the database and the uploads into liaison-backup-YYYYMMDD-HHMMSS.tar.gz (the time in UTC).
    Safe while the app is serving (cron, daily)."""
    try:
        result = backup.make_backup(folder or os.path.join(current_app.instance_path, "backups"))
    except backup.BackupError as error:
        raise click.ClickException(str(error)) from None
    manifest = result.manifest
    counts = manifest["counts"]
    click.echo(f"Wrote {result.path} ({_megabytes(result.size)}): {counts['requests']} requests, "
               f"{counts['attachments']} attachments, {counts['upload_files']} uploaded file(s); "
               f"{manifest['database']['kind']} database at migration {manifest['database']['alembic_revision']}.")


@click.command("restore")
@click.argument("archive", type=click.Path(dir_okay=False))
@click.option("--yes", is_flag=True, help="Replace the data this instance already holds.")
@with_appcontext
def restore_command(archive: str, yes: bool) -> None:
    """Put back the database and the uploads from an ARCHIVE written by flask backup. Stop the app first."""
    click.echo("Restoring. The app must not be serving meanwhile: stop it first, start it again afterwards.")
    try:
        result = backup.restore_backup(archive, replace=yes)
    except backup.BackupError as error:
        raise click.ClickException(str(error)) from None
    manifest = result.manifest
    click.echo(f"Restored the backup made {manifest['created_at']} into {result.database} and {result.upload_folder}: "
               f"{result.counts['requests']} requests, {result.counts['request_events']} events, "
               f"{result.counts['attachments']} attachments, {result.upload_files} uploaded file(s).")
    if result.needs_upgrade:
        click.echo(f"The database is at migration {manifest['database']['alembic_revision']}: "
                   "run `flask db upgrade` before starting the app.")


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"
