"""Field validation with the well-kept libraries: python-stdnum and phonenumbers."""

from typing import Optional

import phonenumbers
from flask_babel import lazy_gettext as _l
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType
from stdnum import exceptions as stdnum_errors
from stdnum.cn import uscc


class InvalidValue(ValueError):
    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


def normalise_uscc(value: str) -> str:
    """The compact USCC (18 characters, GB 32100-2015), or InvalidValue saying what is wrong."""
    try:
        return uscc.validate(value)
    except stdnum_errors.InvalidLength:
        raise InvalidValue(_l("A unified social credit code has 18 characters.")) from None
    except stdnum_errors.InvalidFormat:
        raise InvalidValue(
            _l("The code may hold only digits and capital letters (not I, O, Z, S or V); the first 8 are digits.")
        ) from None
    except stdnum_errors.InvalidChecksum:
        raise InvalidValue(_l("The check character does not match: please check the code for a typo.")) from None
    except stdnum_errors.ValidationError:
        raise InvalidValue(_l("This is not a valid unified social credit code.")) from None


_CONTACT_TYPES = {
    PhoneNumberType.MOBILE,
    PhoneNumberType.FIXED_LINE,
    PhoneNumberType.FIXED_LINE_OR_MOBILE,
    PhoneNumberType.VOIP,
    PhoneNumberType.UAN,
}


def normalise_phone(value: str) -> str:
    """A Chinese mobile or landline number in E.164 (+8613812345678), or InvalidValue."""
    text = value.strip()
    if not text:
        raise InvalidValue(_l("Please give a phone number."))
    try:
        number = phonenumbers.parse(text, "CN")
    except NumberParseException:
        raise InvalidValue(_l("This does not look like a phone number.")) from None
    if number.country_code != 86:
        raise InvalidValue(_l("Please give a mainland China mobile or landline number."))
    if not phonenumbers.is_valid_number(number) or phonenumbers.number_type(number) not in _CONTACT_TYPES:
        raise InvalidValue(
            _l("Not a valid number: a mobile has 11 digits, a landline needs its area code (e.g. 0512-53521234).")
        )
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def display_phone(e164: str) -> str:
    """The national form a person dials: 138 1234 5678 or 0512 5352 1234."""
    try:
        return phonenumbers.format_number(phonenumbers.parse(e164, "CN"), PhoneNumberFormat.NATIONAL)
    except NumberParseException:
        return e164


def mask_phone(e164: str) -> str:
    """138****5678: for every list and for anyone who may not act on the request."""
    digits = phonenumbers.format_number(phonenumbers.parse(e164, "CN"), PhoneNumberFormat.NATIONAL)
    digits = "".join(ch for ch in digits if ch.isdigit())
    if len(digits) < 7:
        return "*" * len(digits)
    return digits[:3] + "****" + digits[-4:]


def is_mobile(e164: Optional[str]) -> bool:
    """Whether a stored number can take an SMS (a mainland mobile, not a landline)."""
    if not e164:
        return False
    try:
        number = phonenumbers.parse(e164, "CN")
    except NumberParseException:
        return False
    return number.country_code == 86 and phonenumbers.number_type(number) in (
        PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)
