"""Login and password forms. Labels are lazy so they follow the chosen language."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _login_field():
    return StringField(
        _l("Username or phone number"),
        filters=[_strip],
        validators=[DataRequired(_l("Please enter your username or phone number.")),
                    Length(max=64, message=_l("At most %(max)d characters."))],
    )


class LoginForm(FlaskForm):
    login = _login_field()
    # PasswordField never writes the typed password back into the page.
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Please enter your password."))])
    remember = BooleanField(_l("Keep me logged in on this phone"), default=False)
    next = HiddenField()


class NewPasswordForm(FlaskForm):
    # Length is checked by services.users.password_problem, the same rule everywhere.
    new_password = PasswordField(_l("New password"), validators=[DataRequired(_l("Please enter a new password."))])
    new_password_again = PasswordField(
        _l("New password again"),
        validators=[DataRequired(_l("Please enter the new password a second time.")),
                    EqualTo("new_password", message=_l("The two new passwords do not match."))],
    )


class PasswordForm(NewPasswordForm):
    current_password = PasswordField(
        _l("Current password"), validators=[DataRequired(_l("Please enter your current password."))]
    )


class ResetCodeForm(NewPasswordForm):
    """A user who was told a one-time code (over the phone) sets their password with it."""

    login = _login_field()
    code = StringField(
        _l("One-time code"),
        filters=[_strip],
        validators=[DataRequired(_l("Please enter the 6-digit code you were given.")),
                    Length(max=20, message=_l("At most %(max)d characters."))],
    )
