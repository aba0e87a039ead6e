"""Template helpers: htmx detection, DOM ids, and local formatting."""

from flask import Flask, request
from flask_babel import format_date, format_datetime, get_locale

from .validators import display_phone, mask_phone
from .workflow import ACTION_LABELS, ACTOR_LABELS


def is_htmx() -> bool:
    """A request made by htmx (not a boosted full-page navigation) gets a fragment."""
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-Boosted") != "true"


def dom_id(obj, part: str = "") -> str:
    """One id per rendered object and part, e.g. request-12-card."""
    name = type(obj).__name__.lower()
    return f"{name}-{obj.id}" + (f"-{part}" if part else "")


def register(app: Flask) -> None:
    app.jinja_env.globals.update(
        dom_id=dom_id,
        action_labels=ACTION_LABELS,
        actor_labels=ACTOR_LABELS,
        current_locale=get_locale,
    )
    app.jinja_env.filters.update(
        local_datetime=lambda value: format_datetime(value, "yyyy-MM-dd HH:mm") if value else "",
        local_date=lambda value: format_date(value, "yyyy-MM-dd") if value else "",
        display_phone=display_phone,
        mask_phone=mask_phone,
    )
