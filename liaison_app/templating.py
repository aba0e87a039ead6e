"""Template helpers: htmx detection, DOM ids, and local formatting."""

from urllib.parse import quote

from flask import Flask, make_response, redirect, request
from flask_babel import format_date, format_datetime, get_locale, gettext, ngettext

from .validators import display_phone, mask_phone
from .models import RATING_LABELS
from .workdays import Deadline
from .workflow import ACTION_LABELS, ACTOR_LABELS, Action, Actor


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


def event_text(event, public: bool = False) -> str:
    """One line of the trail in plain words: 已交办至 太仓市住建局, 已上报至 太仓市人大常委会.
    The enterprise's page (`public`) names no staff member."""
    if event.action is Action.FILE and event.actor_kind is not Actor.ENTERPRISE:
        return _recorded_text(event, public)
    if event.action in _RATINGS and event.actor_kind is not Actor.ENTERPRISE:
        return _phone_rating_text(event, public)
    if event.action is Action.ASSIGN and event.department is not None:
        return gettext("Assigned to %(department)s", department=event.department.name)
    if event.action is Action.RETURN and event.department is not None:
        return gettext("Returned by %(department)s", department=event.department.name)
    if event.action is Action.DECIDE_EXTENSION:
        # An approval moves the response deadline; the event records it (trail.deadline_text).
        return gettext("Extension approved") if event.deadline is not None else gettext("Extension refused")
    if event.action in (Action.ESCALATE, Action.SEND_DOWN) and event.jurisdiction is not None:
        body = event.jurisdiction.congress_name
        if event.action is Action.ESCALATE:
            return gettext("Escalated to %(body)s", body=body)
        return gettext("Sent back to %(body)s", body=body)
    return str(ACTION_LABELS[event.action])


_RATINGS = (Action.RATE, Action.REOPEN_UNSATISFIED, Action.REOPEN_TO_CLAIMANT)


def _actor_name(event) -> str:
    actor = event.actor
    return (actor.display_name or actor.username) if actor is not None else str(ACTOR_LABELS[event.actor_kind])


def _recorded_text(event, public: bool) -> str:
    """代为登记: staff or a deputy filed it on the enterprise's behalf, through this channel."""
    channel = event.request.channel.label
    if public:
        return gettext("Recorded on your behalf (%(channel)s)", channel=channel)
    return gettext("Recorded by %(name)s on the enterprise's behalf (%(channel)s)", name=_actor_name(event),
                   channel=channel)


def _phone_rating_text(event, public: bool) -> str:
    """电话回访: the rating staff took by phone; on the desk also who called, when, and whom."""
    call = event.phone_rating
    if event.action is Action.RATE:
        text = gettext("Phone return visit: %(answer)s", answer=RATING_LABELS[call.rating] if call else "")
    else:
        text = gettext("Phone return visit: not satisfied, reopened")
    if public or call is None:
        return text
    called_at = format_datetime(call.called_at, "yyyy-MM-dd HH:mm")
    if call.person_reached:
        return text + gettext(" (called by %(name)s at %(time)s, spoke with %(person)s)", name=_actor_name(event),
                              time=called_at, person=call.person_reached)
    return text + gettext(" (called by %(name)s at %(time)s)", name=_actor_name(event), time=called_at)


def days_left(due, today) -> str:
    """还剩 3 天 / 今天到期 / 超期 2 天."""
    delta = (due - today).days
    if delta > 0:
        return ngettext("%(num)d day left", "%(num)d days left", delta)
    if delta == 0:
        return gettext("due today")
    return ngettext("%(num)d day overdue", "%(num)d days overdue", -delta)


def _chinese() -> bool:
    locale = get_locale()
    return bool(locale) and locale.language == "zh"


def colon(label) -> str:
    """A label before its value: "地址：" in Chinese, "Address: " in English (never an ASCII
    colon inside Chinese text)."""
    return f"{label}：" if _chinese() else f"{label}: "


def parens(text) -> str:
    """An aside in brackets: full-width around Chinese text, ASCII around English."""
    return f"（{text}）" if _chinese() else f"({text})"


def register(app: Flask) -> None:
    from . import trail

    app.jinja_env.globals.update(
        trail=trail.trail,
        deadlines=Deadline,
        where_now=trail.where_now,
        latest_answer=trail.latest_answer,
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
        colon=colon,
        parens=parens,
    )
