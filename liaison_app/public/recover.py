"""找回我的诉求 (/find): the number the requests were filed with, a code texted to it, then
the list of their tracking links (services/find.py says why no answer tells whether a number
filed anything).

The number never goes into a URL: the code asked for is remembered in the signed session by
its id, and the list is shown once, as the answer to the right code, never at an address.
"""

from flask import make_response, redirect, render_template, request, session, url_for

from .. import limits
from ..extensions import db
from ..models import SmsCode
from ..services import find as finding
from ..templating import is_htmx, redirect_after_post
from ..validators import display_phone
from . import bp
from .forms import FindCodeForm, FindForm
from .views import remember_requests

SESSION_KEY = "find_code_id"


@bp.route("/find", methods=["GET", "POST"])
@limits.find_codes_per_address
@limits.find_codes_per_phone
def find():
    form = FindForm()
    if request.method == "GET" or not form.validate():
        return _render("public/_find_phone_form.html", form=form, status=200 if request.method == "GET" else 422)
    try:
        code = finding.send_code(form.phone.normalised)
    except finding.CodeNotSent as error:
        response = make_response(*_render("public/_find_phone_form.html", form=form, problem=error.message,
                                          status=error.http_status))
        if error.http_status == 503:
            response.headers["Retry-After"] = "60"
            _swap_in_place(response)
        return response
    limits.note_find_code_made()
    session[SESSION_KEY] = code.id
    return redirect_after_post(url_for(".find_code"))


@bp.route("/find/code", methods=["GET", "POST"])
def find_code():
    code = _asked_code()
    if code is None:  # no code asked for in this browser (or the session expired)
        return redirect(url_for(".find")) if request.method == "GET" else redirect_after_post(url_for(".find"))
    form = FindCodeForm()
    if request.method == "GET" or not form.validate():
        return _render_code_form(form, code, status=200 if request.method == "GET" else 422)
    try:
        found = finding.check_code(code, form.code.data)
    except finding.WrongCode as error:
        form.code.errors = [str(error.message)]
        return _render_code_form(form, code, dead=error.dead, status=422)
    session.pop(SESSION_KEY, None)
    response = make_response(*_render("public/_find_result.html", requests=found, phone=code.phone))
    remember_requests(response, [r.tracking_token for r in found])
    response.cache_control.no_store = True  # the list is for this answer only, not a cache or the Back button
    return response


def render_find_after_rate_limit(message):
    """Too many codes asked for: the form comes back with the number as typed."""
    form = FindForm(meta={"csrf": False})
    return _render("public/_find_phone_form.html", form=form, problem=message, status=429)


def _asked_code():
    code_id = session.get(SESSION_KEY)
    return db.session.get(SmsCode, code_id) if isinstance(code_id, int) else None


def _render_code_form(form, code, *, dead=False, status=200):
    # "Send a new code" posts the number back to step 1 in the form's body, never in a URL.
    again = FindForm(formdata=None, data={"phone": display_phone(code.phone)})
    return _render("public/_find_code_form.html", form=form, again=again, phone=code.phone, dead=dead,
                   status=status)


def _render(partial, *, status=200, **context):
    template = partial if is_htmx() else "public/find.html"
    return render_template(template, partial=partial, **context), status


def _swap_in_place(response):
    """htmx puts a 5xx answer in the page's error box (base.html); this one is the form itself."""
    if is_htmx():
        response.headers["HX-Retarget"] = "#find-form"
        response.headers["HX-Reswap"] = "outerHTML"
