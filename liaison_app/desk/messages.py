"""消息: the signed-in person's messages, the unread count in the header, and marking them read.

A message leads to the request's card only while the person may still open it (access.py
decides, as for the card itself); a visit reminder leads to the page its payload names.
"""

from typing import Optional
from urllib.parse import urlsplit

from flask import abort, g, render_template, request, url_for
from flask_login import current_user

from .. import access
from ..extensions import db
from ..models import Notification, Request
from ..services import messages
from ..templating import is_htmx, redirect_after_post
from . import bp


@bp.app_template_global()
def unread_messages() -> int:
    """The header's badge: one indexed COUNT per page, only when a signed-in page asks."""
    if not current_user.is_authenticated:
        return 0
    if "_unread_messages" not in g:
        g._unread_messages = messages.unread_count(current_user.id)
    return g._unread_messages


@bp.get("/messages")
def messages_list():
    found = messages.page(current_user, request.args.get("before", type=int))
    context = dict(page=found, targets=_targets(found.messages))
    if is_htmx():  # 更多: the next messages, put in place of the link that asked for them
        return render_template("desk/_message_items.html", **context)
    return render_template("desk/messages.html", **context)


@bp.post("/messages/<int:message_id>/read")
def message_read(message_id):
    """Tapping a message: read, then on to what it is about (back to the list if nothing)."""
    message = messages.own_message(current_user, message_id)
    if message is None:
        abort(404)
    target = _targets([message]).get(message.id)
    messages.mark_read(message)
    return redirect_after_post(target or url_for(".messages_list"))


@bp.post("/messages/read-all")
def messages_read_all():
    messages.mark_all_read(current_user)
    return redirect_after_post(url_for(".messages_list"))


def _targets(shown: list[Notification]) -> dict[int, Optional[str]]:
    """Where each message leads: its request's card if the user may open it now (one query for
    the page), else nowhere; a message about no request to the desk page its payload names."""
    request_ids = {message.request_id for message in shown if message.request_id is not None}
    visible = set(db.session.scalars(
        access.visible_requests(current_user).with_only_columns(Request.id).where(Request.id.in_(request_ids))
    )) if request_ids else set()
    found = {}
    for message in shown:
        if message.request_id is not None:
            found[message.id] = (url_for(".request_card", request_id=message.request_id)
                                 if message.request_id in visible else None)
        else:
            found[message.id] = _desk_path(message.payload.get("link"))
    return found


def _desk_path(link: Optional[str]) -> Optional[str]:
    """The payload's link as a path on this site (its host is PUBLIC_BASE_URL's); only desk
    pages, so that a message can never send anyone elsewhere."""
    if not link:
        return None
    parts = urlsplit(link)
    if not parts.path.startswith("/desk/"):
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")
