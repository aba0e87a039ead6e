"""Template helpers: htmx detection, DOM ids, and local formatting."""

from urllib.parse import quote

from flask import Flask, make_response, redirect, request
from flask_babel import format_date, format_datetime, get_locale, gettext, ngettext

from .validators import display_phone, mask_phone
from .models import RATING_LABELS
from .workflow import ACTION_LABELS, ACTOR_LABELS, Action


def is_htmx() -> bool:
    """A request made by htmx gets a fragment; not a boosted full-page navigation, nor the Back
    button's reload of a page that htmx pushed to the history (it puts the answer in place of the
    whole body)."""
    headers = request.headers
    return (headers.get("HX-Request") == "true" and headers.get("HX-Boosted") != "true"
            and headers.get("HX-History-Restore-Request") != "true")


def redirect_after_post(location: str):
    """303 for a plain form post; HX-Redirect for htmx, which would otherwise swap the page in."""
    if is_htmx():
        response = make_response("", 200)
        response.headers["HX-Redirect"] = location
        return response
    return redirect(location, 303)


def attachment(data: bytes, mimetype: str, filename: str, ascii_filename: str):
    """A download named in Chinese (RFC 6266/5987); old clients take the ASCII name."""
    response = make_response(data)
    response.mimetype = mimetype
    response.headers["Content-Disposition"] = (
        f"attachment; filename=\"{ascii_filename}\"; filename*=UTF-8''{quote(filename)}"
    )
    return response


def dom_id(obj, part: str = "") -> str:
    """One id per rendered object and part, e.g. request-12-card."""
    name = type(obj).__name__.lower()
    return f"{name}-{obj.id}" + (f"-{part}" if part else "")


def event_text(event) -> str:
    """One line of the trail in plain words: 已交办至 太仓市住建局, 已上报至 太仓市人大常委会."""
    if event.action is Action.ASSIGN and event.department is not None:
        return gettext("Assigned to %(department)s", department=event.department.name)
    if event.action in (Action.ESCALATE, Action.SEND_DOWN) and event.jurisdiction is not None:
        body = event.jurisdiction.congress_name
        if event.action is Action.ESCALATE:
            return gettext("Escalated to %(body)s", body=body)
        return gettext("Sent back to %(body)s", body=body)
    return str(ACTION_LABELS[event.action])


def days_left(due, today) -> str:
    """还剩 3 天 / 今天到期 / 超期 2 天."""
    delta = (due - today).days
    if delta > 0:
        return ngettext("%(num)d day left", "%(num)d days left", delta)
    if delta == 0:
        return gettext("due today")
    return ngettext("%(num)d day overdue", "%(num)d days overdue", -delta)


def register(app: Flask) -> None:
    app.jinja_env.globals.update(
        dom_id=dom_id,
        action_labels=ACTION_LABELS,
        actor_labels=ACTOR_LABELS,
        current_locale=get_locale,
        event_text=event_text,
        days_left=days_left,
        rating_labels=RATING_LABELS,
    )
    app.jinja_env.filters.update(
        local_datetime=lambda value: format_datetime(value, "yyyy-MM-dd HH:mm") if value else "",
        local_date=lambda value: format_date(value, "yyyy-MM-dd") if value else "",
        display_phone=display_phone,
        mask_phone=mask_phone,
    )
