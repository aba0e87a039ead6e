"""Forms of the desk's actions. Each carries the version of the request it was shown with."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, IntegerField, RadioField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from ..models import Outcome


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _text(label, required=True, max_length=2000):
    validators = [Length(max=max_length, message=_l("At most %(max)d characters."))]
    validators.insert(0, DataRequired(_l("Please fill this in.")) if required else Optional())
    return TextAreaField(label, filters=[_strip], validators=validators)


class VersionForm(FlaskForm):
    """Several of these share one card, so each is built with its action as prefix.
    CSRFProtect checks every POST app-wide; the forms need no token field of their own."""

    class Meta:
        csrf = False

    version = IntegerField(validators=[InputRequired()])


class NoteForm(VersionForm):
    note = _text(_l("Note (optional)"), required=False, max_length=1000)


class ReasonForm(VersionForm):
    reason = _text(_l("Reason"), max_length=1000)


OUTCOME_CHOICES = [
    SelectChoice(Outcome.SOLVED.value, _l("Solved")),
    SelectChoice(Outcome.EXPLAINED.value, _l("Explained: cannot be solved under current policy")),
]


class AnswerForm(VersionForm):
    outcome = RadioField(_l("Outcome"), choices=OUTCOME_CHOICES, validators=[InputRequired(_l("Please choose one."))])
    text = _text(_l("What was done, or the policy and why"))


class AssignForm(VersionForm):
    department = SelectField(_l("Handling unit"), coerce=int, validate_choice=True,
                             validators=[InputRequired(_l("Please choose a department."))])
    due_on = DateField(_l("Due date"), validators=[Optional()])
    note = _text(_l("Note to the department (optional)"), required=False, max_length=1000)


class ExtensionForm(VersionForm):
    until = DateField(_l("New due date"), validators=[InputRequired(_l("Please give a date."))])
    reason = _text(_l("Reason"), max_length=1000)


class DecideExtensionForm(VersionForm):
    decision = RadioField(_l("Decision"), choices=[SelectChoice("approve", _l("Approve")),
                                                   SelectChoice("refuse", _l("Refuse"))],
                          validators=[InputRequired(_l("Please choose one."))])
    note = _text(_l("Note (optional)"), required=False, max_length=1000)


class SuperviseForm(VersionForm):
    key = BooleanField(_l("Key supervision (led by a standing-committee leader)"))
    leader = StringField(_l("Leader in charge (key supervision, optional)"), filters=[_strip],
                         validators=[Optional(), Length(max=40, message=_l("At most %(max)d characters."))])
    note = _text(_l("Note (optional)"), required=False, max_length=1000)
