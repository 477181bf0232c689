"""Forms of the duties pages, for tenants and for staff."""

from __future__ import annotations

from flask_wtf.file import FileField
from wtforms import (
    DateField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    widgets,
)
from wtforms.validators import DataRequired, Length, Optional

from tenantry.platform.forms import Form

from .models import COOPERATION_TOPICS, LEGAL_BASES, OBJECTION_REASONS


class MultiCheckboxField(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


def _required(what: str):
    return DataRequired(message=f"Enter {what}.")


class AuditorFields:
    auditor_name = StringField("Auditor's name", validators=[_required("the auditor's name"), Length(max=200)])
    auditor_organisation = StringField("Auditor's organisation",
                                       validators=[_required("the auditor's organisation"), Length(max=200)])
    independence_statement = TextAreaField(
        "Independence statement", validators=[_required("the auditor's independence statement"), Length(max=5000)])


class AuditRequestForm(AuditorFields, Form):
    scope = TextAreaField("What the audit covers", validators=[_required("the audit's scope"), Length(max=5000)])
    proposed_date = DateField("Proposed date", validators=[DataRequired(message="Enter the proposed date (YYYY-MM-DD).")])


class AuditorForm(AuditorFields, Form):
    pass


class AuditDecisionForm(Form):
    decision = RadioField("Decision", choices=[("accept", "Accept the auditor"), ("object", "Object to the auditor")],
                          validators=[DataRequired(message="Choose accept or object.")])
    reason = SelectField("Reason for an objection", choices=[("", "—"), *OBJECTION_REASONS.items()],
                         validators=[Optional()])
    note = TextAreaField("Note to the tenant", validators=[Optional(), Length(max=2000)])

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        if self.decision.data == "object" and not self.reason.data:
            self.reason.errors = [*self.reason.errors, "An objection needs a reason: not independent, or a competitor."]
            ok = False
        return ok


class DocumentForm(Form):
    file = FileField("Document")


class InspectionForm(Form):
    authority = StringField("Supervisory authority", validators=[_required("the authority"), Length(max=200)])
    scope = TextAreaField("Scope of the inspection", validators=[_required("the scope"), Length(max=5000)])
    affects = RadioField("Affected tenants", choices=[("all", "All tenants"), ("chosen", "The tenants chosen below")],
                         default="chosen", validators=[DataRequired(message="Choose which tenants are affected.")])
    tenants = MultiCheckboxField("Tenants", choices=[], coerce=str, validate_choice=False)

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        valid = {value for value, _label in self.tenants.choices}
        if self.affects.data == "chosen":
            if not self.tenants.data:
                self.tenants.errors = [*self.tenants.errors, "Choose at least one tenant, or all tenants."]
                ok = False
            elif any(t not in valid for t in self.tenants.data):
                self.tenants.errors = [*self.tenants.errors, "Choose tenants from the list."]
                ok = False
        return ok


class InspectionUpdateForm(Form):
    kind = RadioField("This is", choices=[("update", "An update"), ("result", "The result (closes the inspection)")],
                      default="update", validators=[DataRequired(message="Choose update or result.")])
    body = TextAreaField("Text", validators=[_required("the text"), Length(max=10000)])


class CooperationForm(Form):
    topic = SelectField("About", choices=[("", "Choose…"), *COOPERATION_TOPICS.items()],
                        validators=[DataRequired(message="Choose what the request is about.")])
    subject = StringField("Subject", validators=[_required("a subject"), Length(max=200)])
    details = TextAreaField("Details", validators=[_required("the details"), Length(max=10000)])


class StaffCooperationForm(CooperationForm):
    tenant = SelectField("Tenant", choices=[], validators=[DataRequired(message="Choose the tenant.")])


class AnswerForm(Form):
    answer = TextAreaField("Answer", validators=[_required("the answer"), Length(max=10000)])


class ActivityForm(Form):
    name = StringField("Activity", validators=[_required("the activity's name"), Length(max=200)])
    purpose = TextAreaField("Purpose", validators=[_required("the purpose"), Length(max=2000)])
    legal_basis = SelectField("Legal basis (GDPR art. 6)", choices=[("", "Choose…"), *LEGAL_BASES.items()],
                              validators=[DataRequired(message="Choose the legal basis.")])
    data_categories = TextAreaField("Categories of personal data",
                                    validators=[_required("the categories of data"), Length(max=2000)])
    subject_categories = TextAreaField("Categories of data subjects",
                                       validators=[_required("the categories of data subjects"), Length(max=2000)])
    recipients = TextAreaField("Recipients", validators=[_required("the recipients, or 'none'"), Length(max=2000)])
    retention = StringField("Retention", validators=[_required("how long the data is kept"), Length(max=500)])
