"""提醒方式: each person's choice of what reaches them by SMS and by a group robot's @mention,
and the defaults staff set for their jurisdiction's people (services/preferences.py)."""

from flask import abort, flash, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from .. import access
from ..admin import scope
from ..models import NotificationChannel, Role
from ..services import preferences, routing
from ..templating import redirect_after_post
from . import bp

CHANNEL_LABELS = {
    NotificationChannel.SMS: _l("Text message (SMS)"),
    NotificationChannel.ROBOT: _l("@me in group robots"),
}
# The defaults page's three states of a cell: no default here, on, off.
DEFAULT_VALUES = {"": None, "on": True, "off": False}


def _field(kind, channel) -> str:
    return f"{kind.value}.{channel.value}"


@bp.get("/settings/notifications")
def notification_settings():
    return render_template("desk/settings/notifications.html", grid=preferences.person_choices(current_user),
                           reachable=preferences.can_be_reached(current_user), channel_labels=CHANNEL_LABELS,
                           field=_field, may_set_defaults=access.may_set_notification_defaults(current_user))


@bp.post("/settings/notifications")
def notification_settings_save():
    """Save the grid; a 恢复默认 button saves it too, with its row (or every row) reset."""
    reset = request.form.get("reset", "")
    if reset == "all":
        preferences.reset_choices(current_user)
        flash(_("Your notification choices are back to the defaults."), "success")
        return redirect_after_post(url_for(".notification_settings"))
    kinds = {kind.value: kind for kind in routing.CHOOSABLE_KINDS}
    # Without a mobile number the inputs are disabled and send nothing: nothing to read then.
    channels = routing.CHOOSABLE_CHANNELS if preferences.can_be_reached(current_user) else ()
    wanted = {(kind, channel): _field(kind, channel) in request.form
              for kind in routing.CHOOSABLE_KINDS for channel in channels}
    preferences.save_choices(current_user, wanted, reset=[kinds[reset]] if reset in kinds else [])
    flash(_("Saved."), "success")
    return redirect_after_post(url_for(".notification_settings") + (f"#choice-{reset}" if reset in kinds else ""))


# --- the defaults staff set for their jurisdiction --------------------------------------------


@bp.get("/settings/notifications/defaults")
def notification_defaults():
    _may_set_defaults()
    chosen = request.args.get("jurisdiction", type=int) or current_user.jurisdiction_id
    if chosen is None:  # an administrator who has not picked one yet
        return _render_defaults(None)
    return _render_defaults(access.get_defaults_jurisdiction_or_404(current_user, chosen))


@bp.post("/settings/notifications/defaults")
def notification_defaults_save():
    _may_set_defaults()
    jurisdiction = access.get_defaults_jurisdiction_or_404(current_user, request.form.get("jurisdiction", type=int))
    reset = request.form.get("reset", "")
    sent = {(kind, channel): request.form.get(_field(kind, channel), "")
            for kind in routing.CHOOSABLE_KINDS for channel in routing.CHOOSABLE_CHANNELS}
    if any(value not in DEFAULT_VALUES for value in sent.values()):
        return _render_defaults(jurisdiction, sent=sent, problem=_("Please choose from the list.")), 422
    wanted = {key: None if reset in ("all", key[0].value) else DEFAULT_VALUES[value] for key, value in sent.items()}
    preferences.save_defaults(jurisdiction, wanted, actor=current_user)
    flash(_("Saved."), "success")
    return redirect_after_post(url_for(".notification_defaults", jurisdiction=jurisdiction.id))


def _may_set_defaults() -> None:
    if not access.may_set_notification_defaults(current_user):
        abort(403)


def _render_defaults(jurisdiction, *, sent=None, problem=None):
    grid = preferences.jurisdiction_defaults(jurisdiction) if jurisdiction is not None else []
    if sent is None:  # what the selects show: the row set here, else "not set here"
        sent = {(c.kind, c.channel): "" if c.chosen is None else "on" if c.chosen else "off"
                for row in grid for c in row.choices}
    menu = scope.jurisdiction_menu(current_user, jurisdiction) if current_user.role is Role.ADMIN else []
    return render_template("desk/settings/notification_defaults.html", jurisdiction=jurisdiction, grid=grid,
                           sent=sent, problem=problem, menu=menu, channel_labels=CHANNEL_LABELS, field=_field)
