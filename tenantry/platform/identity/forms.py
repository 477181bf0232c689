"""Forms of sign-in, set-up and account pages."""

from wtforms import BooleanField, EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length

from tenantry.platform.forms import Form as FlaskForm


class LoginForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired(), Email(check_deliverability=False), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=256)])


class ForgotPasswordForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired(), Email(check_deliverability=False), Length(max=254)])


class CodeForm(FlaskForm):
    code = StringField(
        "Authentication code",
        validators=[DataRequired(message="Enter the 6-digit code from your app, or a recovery code."),
                    Length(max=20)],
    )


class NewPasswordForm(FlaskForm):
    password = PasswordField("New password", validators=[DataRequired(), Length(max=256)])
    confirm = PasswordField("Repeat the new password",
                            validators=[DataRequired(), EqualTo("password", message="The two passwords differ.")])


class SetupForm(NewPasswordForm):
    name = StringField("Your name", validators=[DataRequired(), Length(max=200)])


class ChangePasswordForm(NewPasswordForm):
    current = PasswordField("Current password", validators=[DataRequired(), Length(max=256)])


class ConfirmPasswordForm(FlaskForm):
    password = PasswordField("Your password", validators=[DataRequired(), Length(max=256)])


class DisableTotpForm(ConfirmPasswordForm):
    code = StringField("Authentication code", validators=[DataRequired(), Length(max=20)])


class EnrolForm(FlaskForm):
    code = StringField("Code from your app", validators=[DataRequired(message="Enter the 6-digit code."),
                                                         Length(max=10)])
    confirmed = BooleanField("I have stored the secret in my authenticator app")
    # Only when replacing an authenticator: whoever holds the session must prove it is them.
    current_password = PasswordField("Your password", validators=[Length(max=256)])
    current_code = StringField("Code from your current authenticator", validators=[Length(max=20)])
