"""Forms of the desk: the request card's actions (each carries the version of the request it was
shown with) and the visit log."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    MultipleFileField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from ..admin.users import optional_id
from ..models import INTAKE_CHANNELS, RATING_LABELS, Category, Channel, Outcome, Rating, VisitForm
from ..public.forms import FilingForm
from ..services import publication
from ..services import visits as visit_service
from ..validators import InvalidValue, normalise_phone
from ..workdays import now_local


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
    due_on = DateField(_l("Response deadline"), validators=[Optional()])
    note = _text(_l("Note to the department (optional)"), required=False, max_length=1000)


class ExtensionForm(VersionForm):
    until = DateField(_l("New due date"), validators=[InputRequired(_l("Please give a date."))])
    reason = _text(_l("Reason"), max_length=1000)


class DecideExtensionForm(VersionForm):
    decision = RadioField(_l("Decision"), choices=[SelectChoice("approve", _l("Approve")),
                                                   SelectChoice("refuse", _l("Refuse"))],
                          validators=[InputRequired(_l("Please choose one."))])
    note = _text(_l("Note (optional)"), required=False, max_length=1000)


class PhoneRatingForm(VersionForm):
    """电话回访: the rating the enterprise gave on the phone, as staff recorded it."""

    called_at = DateTimeLocalField(_l("Called at"), format="%Y-%m-%dT%H:%M",
                                   default=lambda: now_local().replace(second=0, microsecond=0, tzinfo=None),
                                   validators=[InputRequired(_l("Please give the date and time of the call."))])
    person_reached = StringField(_l("Person reached (optional)"), filters=[_strip],
                                 validators=[Length(max=40, message=_l("At most %(max)d characters."))])
    rating = RadioField(_l("The enterprise's answer"),
                        choices=[SelectChoice(r.value, RATING_LABELS[r])
                                 for r in (Rating.SATISFIED, Rating.MOSTLY_SATISFIED, Rating.UNSATISFIED)],
                        validators=[InputRequired(_l("Please choose a rating."))])
    comment = _text(_l("What the enterprise said (required when unsatisfied)"), required=False, max_length=1000)

    def validate_comment(self, field):
        if self.rating.data == Rating.UNSATISFIED.value and not field.data:
            raise ValidationError(_l("Please tell us what is still not solved."))


class PublicSummaryForm(VersionForm):
    """公示摘要: two plain parts, as the public board shows them (services/publication.py)."""

    problem = _text(_l("Problem in brief"), max_length=publication.PROBLEM_MAX)
    result = _text(_l("What was done"), max_length=publication.RESULT_MAX)


class ApproveSummaryForm(VersionForm):
    # Asked for only while the draft still holds personal details (the card shows the box then).
    confirm = BooleanField(_l("Publish it with these details removed, as the preview shows"))


class SuperviseForm(VersionForm):
    key = BooleanField(_l("Key supervision (led by a standing-committee leader)"))
    leader = StringField(_l("Leader in charge (key supervision, optional)"), filters=[_strip],
                         validators=[Optional(), Length(max=40, message=_l("At most %(max)d characters."))])
    note = _text(_l("Note (optional)"), required=False, max_length=1000)


# --- the visit log (desk/visits.py) ----------------------------------------------------------


class OptionalPhoneField(StringField):
    """A phone that may be left empty, checked like the filing form's when given."""

    def pre_validate(self, form):
        if self.data:
            try:
                normalise_phone(self.data)
            except InvalidValue as error:
                raise ValidationError(str(error.message)) from None


class ProblemForm(Form):
    """One problem raised on a visit (problems-0-category, …): it becomes a request.
    A block left entirely empty is skipped."""

    category = SelectField(_l("Category"), validate_choice=False,
                           choices=[SelectChoice("", _l("Please choose"))]
                           + [SelectChoice(c.value, c.label) for c in Category])
    description = TextAreaField(_l("The problem"), filters=[_strip], validators=[
        DataRequired(_l("Please describe the problem.")),
        Length(min=visit_service.DESCRIPTION_MIN, max=visit_service.DESCRIPTION_MAX,
               message=_l("Please write between %(min)d and %(max)d characters."))])
    enterprise = SelectField(_l("Raised by"), coerce=optional_id, validate_choice=False)
    contact_name = StringField(_l("Contact person (optional)"), filters=[_strip], validators=[
        Length(max=visit_service.CONTACT_NAME_MAX, message=_l("At most %(max)d characters."))])
    contact_phone = OptionalPhoneField(_l("Mobile or landline (optional)"), filters=[_strip])

    def is_blank(self) -> bool:
        return not any((self.category.data, self.description.data, self.contact_name.data, self.contact_phone.data))

    def validate(self, extra_validators=None):
        return self.is_blank() or super().validate(extra_validators)

    def validate_category(self, field):
        if field.data not in {c.value for c in Category}:
            raise ValidationError(_l("Please choose a category."))

    def validate_contact_name(self, field):
        if self.contact_phone.data and not field.data:
            raise ValidationError(_l("Please tell us whom to contact."))

    def validate_contact_phone(self, field):
        if self.contact_name.data and not field.data:
            raise ValidationError(_l("Please give a phone number."))


class VisitLogForm(FlaskForm):
    """走访记录. The field names are stable (the phone keeps a draft under them)."""

    class Meta:
        csrf = False  # CSRFProtect checks every POST app-wide

    idempotency_key = HiddenField()
    # Not "form": an input of that name would shadow the <form> element's own .form in the page.
    kind = RadioField(_l("Kind of visit"), choices=[SelectChoice(f.value, f.label) for f in VisitForm],
                      default=VisitForm.VISIT.value, validators=[InputRequired(_l("Please choose one."))])
    held_on = DateField(_l("Date"), validators=[InputRequired(_l("Please give a date."))])
    enterprises = SelectMultipleField(_l("Enterprises"), coerce=optional_id, validate_choice=False)
    enterprise_q = StringField(_l("Find an enterprise"), filters=[_strip])  # the picker's search: never saved
    deputies = SelectMultipleField(_l("Deputies taking part"), coerce=optional_id, validate_choice=False)
    station = SelectField(_l("Station"), coerce=optional_id, validate_choice=False)
    reception = HiddenField()  # a ReceptionDay's id, when logging one
    notes = _text(_l("Notes (optional)"), required=False, max_length=visit_service.NOTES_MAX)
    photos = MultipleFileField(_l("Photos (optional, up to 3)"))
    problems = FieldList(FormField(ProblemForm), min_entries=1, max_entries=visit_service.MAX_PROBLEMS)

    validate_idempotency_key = FilingForm.validate_idempotency_key

    def validate_kind(self, field):
        if field.data not in {f.value for f in VisitForm}:
            raise ValidationError(_l("Please choose one."))


# --- staff intake (desk/intake.py) -----------------------------------------------------------------


class IntakeForm(FilingForm):
    """代为登记: the enterprise's filing form, recorded by staff or a deputy, with the channel it
    came through and the station it is filed at (the choices are the user's, access.intake_stations)."""

    channel = SelectField(_l("Received through"), choices=[SelectChoice(c.value, c.label) for c in INTAKE_CHANNELS],
                          default=Channel.PHONE.value, validate_choice=False)
    station = SelectField(_l("Filed at station"), coerce=optional_id, validate_choice=False)

    def validate_channel(self, field):
        if field.data not in {c.value for c in INTAKE_CHANNELS}:
            raise ValidationError(_l("Please choose how the request came in."))

    def validate_station(self, field):
        if field.data is None:
            raise ValidationError(_l("Please choose a station."))
