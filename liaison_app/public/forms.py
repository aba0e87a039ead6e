"""Forms of the enterprise's path. Labels are lazy so they follow the chosen language."""

import re
import unicodedata
import uuid

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    IntegerField,
    MultipleFileField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from ..models import Category, Rating, RequestKind
from ..services.requests import Filing
from ..validators import InvalidValue, is_mobile, normalise_phone, normalise_uscc

DESCRIPTION_MIN, DESCRIPTION_MAX = 10, 2000


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class UsccField(StringField):
    """Optional USCC; `data` becomes the compact code, or None when left empty."""

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        self.data = (self.data or "").strip() or None

    def pre_validate(self, form):
        if self.data:
            try:
                self.normalised = normalise_uscc(self.data)
            except InvalidValue as error:
                raise ValidationError(str(error.message)) from None
        else:
            self.normalised = None


class PhoneField(StringField):
    def pre_validate(self, form):
        try:
            self.normalised = normalise_phone(self.data or "")
        except InvalidValue as error:
            raise ValidationError(str(error.message)) from None


class MobileField(PhoneField):
    """A phone number as the filing form takes it, which must also be able to receive an SMS."""

    def pre_validate(self, form):
        super().pre_validate(form)
        if not is_mobile(self.normalised):
            raise ValidationError(_l("Please give a mobile number: a landline cannot receive the code."))


class FilingForm(FlaskForm):
    kind = RadioField(
        _l("What would you like to do?"),
        choices=[SelectChoice(RequestKind.REQUEST.value, _l("Report a problem")),
                 SelectChoice(RequestKind.SUGGESTION.value, _l("Make a suggestion"))],
        default=RequestKind.REQUEST.value,
        validators=[InputRequired(_l("Please choose one."))],
    )
    enterprise_name = StringField(
        _l("Enterprise name"),
        filters=[_strip],
        validators=[DataRequired(_l("Please give the enterprise's name.")),
                    Length(max=120, message=_l("At most %(max)d characters."))],
    )
    uscc = UsccField(_l("Unified social credit code (optional)"))
    contact_name = StringField(
        _l("Contact person"),
        filters=[_strip],
        validators=[DataRequired(_l("Please tell us whom to contact.")),
                    Length(max=40, message=_l("At most %(max)d characters."))],
    )
    contact_phone = PhoneField(_l("Mobile or landline"), filters=[_strip])
    category = SelectField(
        _l("Category"),
        choices=[SelectChoice("", _l("Please choose"))] + [SelectChoice(c.value, c.label) for c in Category],
        validators=[DataRequired(_l("Please choose a category."))],
        validate_choice=False,  # validate_category says it in our words
    )
    description = TextAreaField(
        _l("Describe the problem or suggestion"),
        filters=[_strip],
        validators=[
            DataRequired(_l("Please describe the problem.")),
            Length(min=DESCRIPTION_MIN, max=DESCRIPTION_MAX,
                   message=_l("Please write between %(min)d and %(max)d characters.")),
        ],
    )
    photos = MultipleFileField(_l("Photos (optional, up to 3)"))
    public_consent = BooleanField(
        _l("When it is resolved, an anonymised summary may be shown on the public board"), default=False
    )
    # 短信通知办理进度: ticked by default; services/requests.file_request keeps it for a mobile only.
    sms_opt_in = BooleanField(_l("Text me the progress of this request"), default=True)
    # Left empty by people; filled by form-spamming robots.
    homepage = StringField(_l("Leave this field empty"), validators=[Optional()])
    idempotency_key = HiddenField()

    def validate_category(self, field):
        if field.data not in {c.value for c in Category}:
            raise ValidationError(_l("Please choose a category."))

    def validate_idempotency_key(self, field):
        try:
            uuid.UUID(field.data or "")
        except ValueError:
            # A form from an old page or a robot: give it a fresh key and ask again.
            field.data = new_idempotency_key()
            raise ValidationError(_l("The form was out of date; please submit it again.")) from None

    def validate_homepage(self, field):
        if field.data:
            field.data = ""
            raise ValidationError(_l("Please submit the form again."))

    def filing(self):
        """What was typed, validated and normalised, for services.requests.file_request."""
        return Filing(kind=RequestKind(self.kind.data), enterprise_name=self.enterprise_name.data,
                      uscc=self.uscc.normalised, contact_name=self.contact_name.data,
                      contact_phone=self.contact_phone.normalised, category=Category(self.category.data),
                      description=self.description.data, public_consent=self.public_consent.data,
                      sms_opt_in=self.sms_opt_in.data)


def new_idempotency_key() -> str:
    return uuid.uuid4().hex


class AddInfoForm(FlaskForm):
    text = TextAreaField(
        _l("Add information"),
        filters=[_strip],
        validators=[DataRequired(_l("Please write what you want to add.")),
                    Length(min=2, max=DESCRIPTION_MAX, message=_l("Please write between %(min)d and %(max)d characters."))],
    )
    photos = MultipleFileField(_l("Photos (optional, up to 3)"))
    version = IntegerField(validators=[InputRequired()])


class WithdrawForm(FlaskForm):
    reason = TextAreaField(_l("Reason (optional)"), filters=[_strip],
                           validators=[Length(max=500, message=_l("At most %(max)d characters."))])
    version = IntegerField(validators=[InputRequired()])


class RatingForm(FlaskForm):
    rating = RadioField(
        _l("How satisfied are you with the result?"),
        choices=[SelectChoice(Rating.SATISFIED.value, _l("Satisfied")),
                 SelectChoice(Rating.MOSTLY_SATISFIED.value, _l("Mostly satisfied")),
                 SelectChoice(Rating.UNSATISFIED.value, _l("Unsatisfied"))],
        validators=[InputRequired(_l("Please choose a rating."))],
    )
    comment = TextAreaField(_l("Comment (required when unsatisfied)"), filters=[_strip],
                            validators=[Length(max=1000, message=_l("At most %(max)d characters."))])
    version = IntegerField(validators=[InputRequired()])

    def validate_comment(self, field):
        if self.rating.data == Rating.UNSATISFIED.value and not field.data:
            raise ValidationError(_l("Please tell us what is still not solved."))


def _code_digits(value):
    # A Chinese keyboard may type full-width digits (１２３４５６) or put spaces in.
    return unicodedata.normalize("NFKC", value).replace(" ", "") if isinstance(value, str) else value


class FindForm(FlaskForm):
    """找回我的诉求, step 1: the number the requests were filed with."""

    phone = MobileField(_l("Mobile number used when filing"), filters=[_strip])


class FindCodeForm(FlaskForm):
    """找回我的诉求, step 2: the code from the text message."""

    code = StringField(_l("Verification code"), filters=[_code_digits])

    def validate_code(self, field):
        if not re.fullmatch(r"\d{6}", field.data or ""):
            raise ValidationError(_l("Please type the 6 digits of the code in the text message."))

