"""Login and password forms. Labels are lazy so they follow the chosen language."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class LoginForm(FlaskForm):
    login = StringField(
        _l("Username or phone number"),
        filters=[_strip],
        validators=[DataRequired(_l("Please enter your username or phone number.")),
                    Length(max=64, message=_l("At most %(max)d characters."))],
    )
    # PasswordField never writes the typed password back into the page.
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Please enter your password."))])
    remember = BooleanField(_l("Keep me logged in on this phone"), default=False)
    next = HiddenField()


class PasswordForm(FlaskForm):
    current_password = PasswordField(
        _l("Current password"), validators=[DataRequired(_l("Please enter your current password."))]
    )
    # Length and reuse are checked by services.users.change_password.
    new_password = PasswordField(_l("New password"), validators=[DataRequired(_l("Please enter a new password."))])
    new_password_again = PasswordField(
        _l("New password again"),
        validators=[DataRequired(_l("Please enter the new password a second time.")),
                    EqualTo("new_password", message=_l("The two new passwords do not match."))],
    )
