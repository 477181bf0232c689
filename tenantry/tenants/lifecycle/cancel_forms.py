"""Forms of cancellation, reactivation, early deletion and the backup-data request. The
irreversible ones ask for the password and a current two-factor code again."""

from __future__ import annotations

from wtforms import BooleanField, PasswordField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from tenantry.platform.forms import Form


class IdentityForm(Form):
    password = PasswordField("Your password", validators=[DataRequired(message="Enter your password."),
                                                          Length(max=256)])
    code = StringField("Code from your authenticator app",
                       validators=[DataRequired(message="Enter the 6-digit code from your app."), Length(max=10)])


class CancelForm(IdentityForm):
    confirm = BooleanField("I understand that the workspace becomes read-only now and that all of its data is "
                           "deleted 80 days from today",
                           validators=[DataRequired(message="Tick the box to confirm that you understand.")])


class ReactivateForm(IdentityForm):
    pass


class DeletionRequestForm(IdentityForm):
    confirm = BooleanField("I ask in writing for all data of this workspace, backups included, to be deleted "
                           "within 5 working days. This cannot be undone",
                           validators=[DataRequired(message="Tick the box to confirm the request.")])


class BackupRequestForm(Form):
    note = TextAreaField("What do you need from the backups?",
                         validators=[DataRequired(message="Say which data or which day you need."),
                                     Length(max=2000)])
