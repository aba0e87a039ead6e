"""Setting a password with a one-time link or code that an admin handed over (重置密码)."""

from flask import flash, request, url_for
from flask_babel import gettext as _

from .. import limits
from ..services import users
from ..templating import redirect_after_post
from . import bp
from .forms import NewPasswordForm, ResetCodeForm
from .views import _render


@bp.route("/reset", methods=["GET", "POST"])
@limits.reset_code_per_address
def reset_code():
    """For a code read out over the phone: username, code and the new password in one form."""
    form = ResetCodeForm()
    if request.method == "GET" or not form.validate():
        return _render_code_form(form, status=200 if request.method == "GET" else 422)
    try:
        users.set_password_with_code(form.login.data, form.code.data, form.new_password.data)
    except users.ResetRejected as rejected:
        _show_errors(form, rejected.errors)
        if "code" in rejected.errors:
            form.code.data = ""  # a wrong code is not offered back for another try
        return _render_code_form(form, status=422)
    return _password_set()


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset_link(token):
    reset = users.open_reset(token)
    if reset is None:
        return _render_invalid_link()
    form = NewPasswordForm()
    if request.method == "GET" or not form.validate():
        return _render_link_form(form, token, reset.user.username, status=200 if request.method == "GET" else 422)
    try:
        users.set_password_with_link(token, form.new_password.data)
    except users.ResetRejected as rejected:
        _show_errors(form, rejected.errors)
        return _render_link_form(form, token, reset.user.username, status=422)
    except users.ResetLinkInvalid:  # used from another phone a moment ago
        return _render_invalid_link()
    return _password_set()


def _show_errors(form, errors: dict) -> None:
    for name, message in errors.items():
        form[name].errors = [*form[name].errors, str(message)]


def _password_set():
    flash(_("Your password is set, and any other session of yours has ended. Please log in with it."), "success")
    return redirect_after_post(url_for(".login"))


def _render_code_form(form, *, status):
    return _render("auth/reset_code.html", "auth/_reset_code_form.html", form=form, status=status,
                   password_min=users.PASSWORD_MIN, password_max=users.PASSWORD_MAX)


def _render_link_form(form, token, username, *, status):
    return _render("auth/reset_link.html", "auth/_reset_link_form.html", form=form, token=token, username=username,
                   status=status, password_min=users.PASSWORD_MIN, password_max=users.PASSWORD_MAX)


def _render_invalid_link():
    # Unknown, used, replaced or expired: one answer, which tells an outsider nothing.
    return _render("auth/reset_invalid.html", "auth/_reset_invalid.html", status=404)
