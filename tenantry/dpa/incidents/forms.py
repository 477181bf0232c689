"""Forms of the breach process. Times are entered in UTC, as the desk shows them."""

from __future__ import annotations

from wtforms import (
    DateTimeLocalField,
    FloatField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    widgets,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from tenantry.platform.forms import Form

FMT = "%Y-%m-%dT%H:%M"


class MultiCheckboxField(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


NATURE = [("confidentiality", "Confidentiality (disclosed or accessed)"),
          ("integrity", "Integrity (altered)"), ("availability", "Availability (lost or unreachable)")]


class BreachFields(Form):
    """What a breach report says, whoever reports it [TEK-breach-content]."""

    title = StringField("Title", validators=[DataRequired(), Length(max=200)])
    detected_at = DateTimeLocalField("Detected at (UTC)", format=FMT, validators=[InputRequired()])
    aware_at = DateTimeLocalField("Became aware at (UTC)", format=FMT, validators=[InputRequired()])
    nature = MultiCheckboxField("Nature of the breach", choices=NATURE)
    description = TextAreaField("What happened", validators=[Optional(), Length(max=10000)])
    systems = TextAreaField("Systems involved", validators=[Optional(), Length(max=4000)])
    subject_categories = StringField("Categories of data subjects", validators=[Optional(), Length(max=1000)])
    subjects_approx = IntegerField("Approximate number of data subjects",
                                   validators=[Optional(), NumberRange(min=0, max=10**12)])
    record_categories = StringField("Categories of records", validators=[Optional(), Length(max=1000)])
    records_approx = IntegerField("Approximate number of records",
                                  validators=[Optional(), NumberRange(min=0, max=10**12)])
    consequences = TextAreaField("Likely consequences", validators=[Optional(), Length(max=10000)])
    measures_taken = TextAreaField("Measures taken", validators=[Optional(), Length(max=10000)])
    measures_proposed = TextAreaField("Measures proposed", validators=[Optional(), Length(max=10000)])
    contact = StringField("Contact point", validators=[DataRequired(), Length(max=400)])


class IncidentForm(BreachFields):
    severity_dpc = SelectField("Data processing context (DPC)", choices=[
        ("", "Not yet scored"), ("1", "1: basic"), ("2", "2: behavioural"), ("3", "3: financial"),
        ("4", "4: sensitive")], validators=[Optional()])
    severity_ei = SelectField("Ease of identification (EI)", choices=[
        ("", "Not yet scored"), ("0.25", "0.25: negligible"), ("0.5", "0.5: limited"),
        ("0.75", "0.75: significant"), ("1", "1: maximum")], validators=[Optional()])
    severity_cb = FloatField("Circumstances of breach (CB, added)", default=0.0,
                             validators=[Optional(), NumberRange(min=-1, max=2)])
    severity_justification = TextAreaField("Justification of the severity", validators=[Optional(), Length(max=4000)])
    solution_target_at = DateTimeLocalField("Solution targeted by (UTC)", format=FMT, validators=[Optional()])
    solution_target_reason = TextAreaField("Reason for a later solution", validators=[Optional(), Length(max=4000)])
    scope = SelectField("Which tenants are affected", choices=[
        ("all", "All tenants"), ("chosen", "Chosen tenants"),
        ("subprocessor", "Tenants using an affected subprocessor"), ("system", "Tenants using an affected system")])
    subprocessors = MultiCheckboxField("Affected subprocessors (from the registry)")
    scope_detail = SelectField("Affected system", validators=[Optional()], validate_choice=False)
    tenants = MultiCheckboxField("Tenants")


class ReportForm(BreachFields):
    """A tenant's report to the processor [DPA-3.3]."""


class EntryForm(Form):
    kind = SelectField("Kind of entry", choices=[
        ("plan", "Action plan"), ("note", "Internal note"), ("correction", "Correction"),
        ("target", "New solution target"), ("solution", "Solution in place"),
        ("authority", "Supervisory authority"), ("closed", "Close the incident")])
    body = TextAreaField("Text", validators=[DataRequired(), Length(max=10000)])
    target_at = DateTimeLocalField("New solution target (UTC)", format=FMT, validators=[Optional()])
    authority_notified_at = DateTimeLocalField("Authority notified at (UTC)", format=FMT, validators=[Optional()])
    authority_reference = StringField("Authority's reference", validators=[Optional(), Length(max=200)])


class UpdateForm(Form):
    body = TextAreaField("Follow-up update to the notified tenants", validators=[DataRequired(), Length(max=10000)])


class ButtonForm(Form):
    """A CSRF-protected button."""
