"""Login, logout and password views: validate, call one service, redirect."""

from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from .. import limits
from ..extensions import writes_late
from ..services import users
from ..templating import is_htmx, redirect_after_post
from . import bp, home_url
from .forms import LoginForm, PasswordForm


@bp.route("/login", methods=["GET", "POST"])
@limits.login_per_address
@limits.login_failures_per_account
@writes_late  # the password check runs outside the write lock (users.log_in takes it)
def login():
    if request.method == "GET" and current_user.is_authenticated:
        return redirect(home_url(current_user))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next"))
        return _render("auth/login.html", "auth/_login_form.html", form=form)
    if not form.validate():
        return _render("auth/login.html", "auth/_login_form.html", form=form, status=422)
    user = users.authenticate(form.login.data, form.password.data)
    if user is None:
        limits.note_failed_login()
        return _render("auth/login.html", "auth/_login_form.html", form=form,
                       problem=_("Wrong username or password."), status=422)
    users.log_in(user, remember=form.remember.data)
    response = redirect_after_post(safe_next(form.next.data) or home_url(user))
    limits.remember_device(response, user)
    return response


@bp.post("/logout")
def logout():
    if current_user.is_authenticated:
        users.logout_everywhere(current_user._get_current_object())
        flash(_("You have been logged out on all your devices."), "success")
    return redirect_after_post(url_for(".login"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def password():
    form = PasswordForm()
    if request.method == "GET" or not form.validate():
        return _render_password(form, status=200 if request.method == "GET" else 422)
    user = current_user._get_current_object()
    try:
        users.change_password(user, form.current_password.data, form.new_password.data)
    except users.PasswordRejected as rejected:
        for name, message in rejected.errors.items():
            form[name].errors = [str(message)]
        return _render_password(form, status=422)
    # The other sessions have ended; this phone carries on with a new session.
    remembered = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token") in request.cookies
    users.start_session(user, remember=remembered)
    flash(_("Your password was changed. You were logged out everywhere else."), "success")
    response = redirect_after_post(home_url(user))
    limits.remember_device(response, user)  # the cookies of the old password no longer count
    return response


def safe_next(target):
    """A same-site path such as /desk/?page=2, or None: never another site."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    # Browsers read a backslash as a slash and drop tabs and newlines: /\evil, /\t/evil.
    if "\\" in target or any(ch.isspace() or ord(ch) < 32 for ch in target):
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None


def _render_password(form, *, status):
    return _render("auth/password.html", "auth/_password_form.html", form=form, status=status,
                   password_min=users.PASSWORD_MIN, password_max=users.PASSWORD_MAX)


def _render(page, partial, *, status=200, **context):
    return render_template(partial if is_htmx() else page, **context), status


