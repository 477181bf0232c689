"""Forms of the data subject requests pages; each error is shown next to its field."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from tenantry.platform.forms import Form
from tenantry.platform.tenancy import current_tenant
from tenantry.tenants.crm import search

from .finder import Terms
from .models import KIND_LABELS, KINDS


class OpenForm(Form):
    kind = SelectField("Kind of request", choices=[("", "— choose —"), *((k, KIND_LABELS[k]) for k in KINDS)],
                       validators=[DataRequired(message="Choose the kind of request.")])
    name = StringField("Name", validators=[Optional(), Length(max=200)])
    email = StringField("E-mail", validators=[Optional(), Length(max=254)])
    phone = StringField("Phone", validators=[Optional(), Length(max=40)])
    details = TextAreaField("What the person asked", validators=[Optional(), Length(max=10000)])

    def validate_name(self, field):
        if not any((f.data or "").strip() for f in (self.name, self.email, self.phone)):
            raise ValidationError("Enter the person's name, e-mail or phone.")

    def validate_email(self, field):
        if field.data and field.data.strip():
            try:
                field.data = validate_email(field.data.strip(), check_deliverability=False).normalized
            except EmailNotValidError as exc:
                raise ValidationError("Not a valid e-mail address.") from exc

    def validate_phone(self, field):
        if field.data and field.data.strip():
            normal = search.e164(field.data.strip(), current_tenant.country)
            if not normal:
                raise ValidationError(f"Not a valid phone number (without +country code it is read as a "
                                      f"{current_tenant.country} number).")
            field.data = normal

    def terms(self) -> Terms:
        return Terms(name=(self.name.data or "").strip(), email=(self.email.data or "").strip(),
                     phone=(self.phone.data or "").strip())


class LinkForm(Form):
    contact_id = StringField("Contact", validators=[DataRequired(message="Choose a contact.")])


class ReasonForm(Form):
    reason = TextAreaField("Reason", validators=[DataRequired(message="Give the reason."), Length(max=2000)])


class CloseForm(Form):
    response = TextAreaField("Response given to the person", validators=[
        DataRequired(message="Write the response given to the person."), Length(max=10000)])


class EraseForm(Form):
    confirm = BooleanField("I have checked that this is the person, and no law requires keeping the data",
                           validators=[DataRequired(message="Tick to confirm before erasing.")])


class ToldForm(Form):
    recipient_id = StringField("Recipient", validators=[DataRequired(message="Choose a recipient.")])


class ActionForm(Form):
    """CSRF only."""
