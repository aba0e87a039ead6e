"""Admin pages for the group robots of places (WeCom, DingTalk): list, add, edit, test, delete.

Admins manage every robot; staff those of the jurisdictions, stations and departments of their
jurisdiction's subtree (scope.py); anything else is 404. Pages never show a robot's address
or secret: only the host and the key's last four characters.
"""

from typing import Optional

import sqlalchemy as sa
from flask import flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy.orm import selectinload
from wtforms import BooleanField, PasswordField, SelectChoice, SelectField, StringField, ValidationError
from wtforms.validators import DataRequired, Length

from ..extensions import db
from ..models import Department, Jurisdiction, Robot, RobotProvider, Station
from ..services import robots as robot_service
from ..services import secrets
from ..services.notify import DeliveryError
from ..templating import dom_id, is_htmx
from . import add_menu_entry, bp, scope
from .users import strip_text

add_menu_entry("admin.robots", _l("Group robots"))

PLACE_MODELS = {"jurisdiction": Jurisdiction, "station": Station, "department": Department}


class RobotForm(FlaskForm):
    """A robot of one place. The address and the secret are never shown again: left empty
    they keep the stored ones."""

    name = StringField(_l("Name"), filters=[strip_text], validators=[
        DataRequired(_l("Please fill this in.")), Length(max=60, message=_l("At most %(max)d characters."))])
    provider = SelectField(_l("Kind"), choices=[SelectChoice(p.value, p.label) for p in RobotProvider])
    place = SelectField(_l("Belongs to"), validators=[DataRequired(_l("Please choose a place."))])
    webhook_url = StringField(_l("Webhook address"), filters=[strip_text], validators=[
        Length(max=500, message=_l("At most %(max)d characters."))])
    secret = PasswordField(_l("Secret (DingTalk 加签, optional)"), filters=[strip_text], validators=[
        Length(max=200, message=_l("At most %(max)d characters."))])
    remove_secret = BooleanField(_l("Remove the stored secret (the robot no longer signs)"))
    active = BooleanField(_l("Active"), default=True)

    def __init__(self, *args, robot: Robot, **kwargs):
        super().__init__(*args, **kwargs)
        self.robot = robot

    def chosen_provider(self) -> Optional[RobotProvider]:
        try:
            return RobotProvider(self.provider.data)
        except ValueError:
            return None

    def validate_webhook_url(self, field):
        url = field.data
        if not url:
            if self.robot.id is None:
                raise ValidationError(_l("Please paste the robot's webhook address."))
            if not secrets.is_readable(self.robot.webhook_url_encrypted):
                raise ValidationError(_l("The stored address can no longer be read: please paste it again."))
            url = secrets.decrypt(self.robot.webhook_url_encrypted)  # a new kind must fit it too
        provider = self.chosen_provider()
        problem = provider and robot_service.address_problem(provider, url)
        if problem:
            raise ValidationError(problem)

    def validate_secret(self, field):
        if self.chosen_provider() is RobotProvider.WECOM:
            if field.data:
                raise ValidationError(_l("WeCom robots do not sign: leave this empty."))
            return
        if field.data:
            if not (field.data.startswith("SEC") and len(field.data) >= 20 and field.data.isalnum()):
                raise ValidationError(_l("The secret starts with SEC, as the robot's security settings show it."))
        elif (self.robot.secret_encrypted and not self.remove_secret.data
              and not secrets.is_readable(self.robot.secret_encrypted)):
            raise ValidationError(_l("The stored secret can no longer be read: please paste it again, or remove it."))


# --- the list -----------------------------------------------------------------------------


@bp.get("/robots")
def robots():
    query = (scope.robots_in_scope(current_user)
             .options(selectinload(Robot.jurisdiction), selectinload(Robot.station).selectinload(Station.jurisdiction),
                      selectinload(Robot.department).selectinload(Department.jurisdiction))
             .order_by(Robot.name, Robot.id))
    return render_template("admin/robots/index.html", robots=db.session.scalars(query).all())


@bp.context_processor
def _robot_helpers():
    return {"robot_place": place_label, "robot_address": robot_service.masked_address,
            "robot_readable": robot_service.readable}


def place_label(robot: Robot) -> str:
    place = robot_service.place_of(robot)
    return _place_name(place) if place is not None else ""


def _place_name(place) -> str:
    """沙溪镇 · 沙溪镇代表联络站, 太仓市 · 太仓市住建局, or the jurisdiction's own name."""
    return place.name if isinstance(place, Jurisdiction) else f"{place.jurisdiction.name} · {place.name}"


# --- adding and changing ------------------------------------------------------------------


def _robot_or_404(robot_id: int) -> Robot:
    return scope.get_in_scope_or_404(current_user, Robot, robot_id)


@bp.route("/robots/new", methods=["GET", "POST"])
@bp.route("/robots/<int:robot_id>/edit", methods=["GET", "POST"])
def robot_edit(robot_id=None):
    robot = _robot_or_404(robot_id) if robot_id else Robot(active=True)
    form = RobotForm(obj=None if request.method == "POST" else robot, robot=robot)
    form.place.choices = _place_choices(keeping=robot_service.place_of(robot))
    if request.method == "GET":
        if robot.id:
            form.provider.data, form.place.data = robot.provider.value, _place_value(robot_service.place_of(robot))
        return _render_form(form, robot)
    if not form.validate():
        return _render_form(form, robot, 422)
    robot_service.save_robot(
        robot, actor=current_user, name=form.name.data, provider=RobotProvider(form.provider.data),
        place=_chosen_place(form.place.data), active=form.active.data, webhook_url=form.webhook_url.data or None,
        secret=form.secret.data or None, remove_secret=form.remove_secret.data)
    flash(_("Saved. Use “Send a test message” to check that the robot posts to its group."), "success")
    return redirect(url_for(".robots"), 303)


def _render_form(form: RobotForm, robot: Robot, status: int = 200):
    # The address holds the robot's key: never sent back to the browser, even as typed.
    retyped = bool(form.webhook_url.data or form.secret.data) and status != 200
    form.webhook_url.data = form.secret.data = ""
    title = _("Edit group robot") if robot.id else _("New group robot")
    return render_template("admin/robots/form.html", form=form, robot=robot, title=title, retyped=retyped,
                           stored_address=robot.id and robot_service.masked_address(robot)), status


def _place_value(place) -> str:
    return f"{type(place).__name__.lower()}:{place.id}" if place is not None else ""


def _chosen_place(value: str):
    """The place the form chose: its value was one of the choices, all in the user's scope."""
    kind, _sep, place_id = value.partition(":")
    return scope.get_in_scope_or_404(current_user, PLACE_MODELS[kind], int(place_id))


def _place_choices(keeping=None) -> list[SelectChoice]:
    """The places the user manages, grouped: jurisdictions (their congress office's group),
    stations, departments; the robot's own place stays offered though since deactivated."""
    jurisdictions = scope.jurisdiction_choices(current_user)
    stations = db.session.scalars(scope.limit_to_scope(
        current_user, sa.select(Station).join(Jurisdiction).where(Station.active)
        .options(selectinload(Station.jurisdiction)).order_by(Jurisdiction.division_code, Station.name),
        Station.jurisdiction_id)).all()
    departments = db.session.scalars(scope.limit_to_scope(
        current_user, sa.select(Department).join(Jurisdiction).where(Department.active)
        .options(selectinload(Department.jurisdiction)).order_by(Jurisdiction.division_code, Department.name),
        Department.jurisdiction_id)).all()
    groups = {Jurisdiction: (_("Jurisdictions (the congress office's group)"), jurisdictions),
              Station: (_("Liaison stations"), stations), Department: (_("Handling units"), departments)}
    if keeping is not None and keeping not in groups[type(keeping)][1]:
        groups[type(keeping)][1].insert(0, keeping)
    choices = [SelectChoice("", _("Choose…"))]
    for group, places in groups.values():
        choices += [SelectChoice(_place_value(place), _place_name(place), optgroup=group) for place in places]
    return choices


# --- testing and deleting ------------------------------------------------------------------


@bp.post("/robots/<int:robot_id>/test")
def robot_test(robot_id):
    """Posts a test message now, through the same path as every notice, and says how it went."""
    robot = _robot_or_404(robot_id)
    notice = problem = None
    try:
        robot_service.send_test(robot, actor=current_user)
        notice = _("The test message was posted. Please check that it arrived in the group.")
    except robot_service.RobotTryLater as later:
        problem = _("This robot has posted as many messages as it may in one minute. Please try again in "
                    "%(seconds)d seconds.", seconds=round(later.retry_after))
    except robot_service.RobotDeliveryError as error:
        problem = _("The test message was not posted: %(reason)s", reason=error.describe())
    except DeliveryError as error:
        problem = _("The test message was not posted: %(reason)s", reason=str(error))
    if is_htmx():
        return _render_card(robot, notice=notice, problem=problem)
    flash(notice or problem, "success" if notice else "error")
    return redirect(url_for(".robots", _anchor=dom_id(robot, "card")), 303)


def _render_card(robot: Robot, *, notice=None, problem=None):
    return make_response(render_template("admin/robots/_card.html", robot=robot, notice=notice, problem=problem))


# Registered last: the route matrices send an admin's empty POST to every admin route in
# registration order, and this one takes the robot away.
@bp.post("/robots/<int:robot_id>/delete")
def robot_delete(robot_id):
    robot = _robot_or_404(robot_id)
    card_id, name = dom_id(robot, "card"), robot.name
    robot_service.delete_robot(robot, actor=current_user)
    message = _("The robot “%(name)s” was deleted.", name=name)
    if is_htmx():
        return render_template("admin/robots/_deleted.html", card_id=card_id, message=message)
    flash(message, "success")
    return redirect(url_for(".robots"), 303)
