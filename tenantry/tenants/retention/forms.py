"""The form of a retention rule on /t/<slug>/settings/retention."""

from __future__ import annotations

from wtforms import BooleanField, HiddenField, IntegerField, RadioField, SelectField, SubmitField
from wtforms.validators import InputRequired, NumberRange

from tenantry.platform.forms import Form

from .models import CONDITIONS, MAX_MONTHS, MIN_MONTHS
from .service import RuleData


class RuleForm(Form):
    condition = SelectField("What is due", choices=[(key, label) for key, (_entity, label) in CONDITIONS.items()],
                            validators=[InputRequired(message="Choose what the rule applies to.")])
    months = IntegerField("N, in months", validators=[
        InputRequired(message="Enter a whole number of months."),
        NumberRange(min=MIN_MONTHS, max=MAX_MONTHS,
                    message=f"Enter a whole number of months from {MIN_MONTHS} to {MAX_MONTHS}."),
    ])
    action = RadioField("Then", choices=[
        ("anonymise", "Anonymise: overwrite the personal fields and drop the search index, keep dates, "
                      "stages and values"),
        ("delete", "Delete: remove the rows as deleting them by hand would (a contact's or company's "
                   "activities go with it)"),
    ], validators=[InputRequired(message="Choose delete or anonymise.")])
    enabled = BooleanField("Enabled: the periodic sweep applies this rule")
    previewed = HiddenField()
    preview = SubmitField("Preview")
    save = SubmitField("Save rule")

    def data_for_service(self) -> RuleData:
        return RuleData(condition=self.condition.data, months=int(self.months.data), action=self.action.data,
                        enabled=bool(self.enabled.data))


class DeleteRuleForm(Form):
    """CSRF only."""
