"""The thresholds form of /t/<slug>/settings/alerts."""

from __future__ import annotations

from wtforms import BooleanField, IntegerField
from wtforms.validators import InputRequired, NumberRange

from tenantry.platform.forms import Form


def _count(label: str, low: int, high: int) -> IntegerField:
    return IntegerField(label, validators=[
        InputRequired(message="Enter a whole number."),
        NumberRange(min=low, max=high, message=f"Enter a whole number from {low} to {high}."),
    ])


class AlertSettingsForm(Form):
    mass_read_enabled = BooleanField("Alert when one person reads many contacts within 10 minutes")
    mass_read_threshold = _count("More than this many different contacts", 1, 1_000_000)
    export_enabled = BooleanField("Alert when a member who is not an owner or admin exports data in bulk")
    new_ip_enabled = BooleanField("Alert when a member signs in from an IP address never seen for them")
    failed_logins_enabled = BooleanField("Alert on repeated failed sign-ins or two-factor codes")
    failed_logins_threshold = _count("This many failures or more within 15 minutes", 2, 1000)
    api_volume_enabled = BooleanField("Alert when an API client is far above its usual volume")
    api_volume_multiplier = _count("Times its usual hourly volume", 2, 1000)
    api_volume_min_baseline = _count("Usual volume is never taken as less than (requests per hour)", 1, 1_000_000)


class ResolveForm(Form):
    """CSRF only."""
