"""Forms of the admin area's places and people (choices are filled per user's scope)."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, SelectChoice, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, Regexp

from ..models import DeputyKind, Level, StationKind


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _required(label, max_length):
    return StringField(label, filters=[_strip], validators=[
        DataRequired(_l("Please fill this in.")), Length(max=max_length, message=_l("At most %(max)d characters."))])


def _optional_text(label, max_length=4000):
    return TextAreaField(label, filters=[_strip], validators=[
        Optional(), Length(max=max_length, message=_l("At most %(max)d characters."))])


class JurisdictionForm(FlaskForm):
    name = _required(_l("Name"), 60)
    division_code = StringField(_l("Division code"), filters=[_strip], validators=[
        DataRequired(_l("Please fill this in.")),
        Regexp(r"^[0-9A-Za-z]{2,12}$", message=_l("2 to 12 digits or letters, e.g. 320585."))])
    level = SelectField(_l("Level"), choices=[SelectChoice(level.value, level.label) for level in Level])
    parent = SelectField(_l("Parent"), coerce=int)
    is_street = BooleanField(_l("A street (街道) with a People's Congress working committee"))
    active = BooleanField(_l("Active"), default=True)


class StationForm(FlaskForm):
    name = _required(_l("Name"), 80)
    kind = SelectField(_l("Kind"), choices=[SelectChoice(kind.value, kind.label) for kind in StationKind])
    jurisdiction = SelectField(_l("Jurisdiction"), coerce=int)
    address = StringField(_l("Address"), filters=[_strip], validators=[Length(max=200)])
    reception_days = StringField(_l("Reception days"), filters=[_strip], validators=[Length(max=200)])
    intro = _optional_text(_l("Introduction (public page)"))
    rules = _optional_text(_l("Rules (the station's wall)"))
    procedure = _optional_text(_l("How requests are handled (the station's wall)"))  # "process" is a Form method
    active = BooleanField(_l("Active"), default=True)


class DepartmentForm(FlaskForm):
    name = _required(_l("Name"), 80)
    jurisdiction = SelectField(_l("Jurisdiction"), coerce=int)
    active = BooleanField(_l("Active"), default=True)


class DeputyForm(FlaskForm):
    name = _required(_l("Name"), 40)
    kind = SelectField(_l("Kind"), choices=[SelectChoice(DeputyKind.DEPUTY.value, _l("People's Congress deputy")),
                                            SelectChoice(DeputyKind.STREET_REPRESENTATIVE.value,
                                                         _l("Street deliberative representative"))])
    congress_jurisdiction = SelectField(_l("Elected by the congress of"), coerce=int)
    stations = SelectMultipleField(_l("Stations"), coerce=int)
    specialties = StringField(_l("Specialties"), filters=[_strip], validators=[Length(max=200)])
    bio = _optional_text(_l("Short biography"), 2000)
    photo = FileField(_l("Photo (cropped to a square)"))
    active = BooleanField(_l("Active"), default=True)
