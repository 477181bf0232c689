"""Forms of the registry: a tenant's objection, and the staff's proposal and resolution."""

from __future__ import annotations

from wtforms import BooleanField, DateTimeLocalField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from tenantry.dpa.registry.models import TRANSFER_LABELS, Resolution
from tenantry.dpa.registry.services import DEFAULT_WINDOW_DAYS, MAX_WINDOW_DAYS
from tenantry.platform.forms import Form


class ObjectionForm(Form):
    reason = TextAreaField("Reason for the objection", validators=[DataRequired(message="Give the reason for the objection."),
                                                                   Length(max=4000)])


class ProposeForm(Form):
    legal_name = StringField("Legal name", validators=[DataRequired(), Length(max=200)])
    address = StringField("Registered address", validators=[DataRequired(), Length(max=400)])
    contact = StringField("Contact", validators=[DataRequired(), Length(max=254)])
    purpose = StringField("Purpose of processing", validators=[DataRequired(), Length(max=400)])
    data_categories = StringField("Categories of data", validators=[DataRequired(), Length(max=400)])
    processing_location = StringField("Processing location", validators=[DataRequired(), Length(max=200)])
    processing_in_eea = BooleanField("Processing takes place within the EEA")
    corporate_location = StringField("Corporate location", validators=[DataRequired(), Length(max=200)])
    corporate_in_eea = BooleanField("The company is established within the EEA")
    transfer_mechanism = SelectField("Transfer mechanism", choices=[(k.value, v) for k, v in TRANSFER_LABELS.items()])
    transfer_details = StringField("Transfer details", validators=[Optional(), Length(max=400)])
    feature = StringField("Product feature that uses it", validators=[DataRequired(), Length(max=40)])
    effective_at = DateTimeLocalField("Effective from (UTC)", format="%Y-%m-%dT%H:%M",
                                      validators=[DataRequired(message="Give the effective date and time.")])
    window_days = IntegerField("Objection window (days after delivery)", default=DEFAULT_WINDOW_DAYS,
                               validators=[DataRequired(), NumberRange(min=1, max=MAX_WINDOW_DAYS)])


RESOLUTION_CHOICES = [
    (Resolution.WITHDRAWN.value, "Withdraw the change for everyone"),
    (Resolution.EXEMPTED.value, "Exempt this tenant: the feature stays off for it"),
    (Resolution.TENANT_CANCELS.value, "The tenant decides to cancel"),
]


class ResolveForm(Form):
    resolution = SelectField("Resolution", choices=RESOLUTION_CHOICES)
    note = TextAreaField("Note", validators=[Optional(), Length(max=2000)])
