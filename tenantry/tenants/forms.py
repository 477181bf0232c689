"""Forms of the tenant's own pages: sign-up, members, security policy."""

from __future__ import annotations

import functools
import re

import holidays
from wtforms import BooleanField, EmailField, IntegerField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length, NumberRange, Optional, ValidationError

from tenantry.platform.forms import Form as FlaskForm
from tenantry.platform.identity import passwords

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])$")
RESERVED_SLUGS = {"admin", "api", "static", "login", "logout", "signup", "setup", "account", "t", "www",
                  "invite", "agreement", "subprocessors", "health", "status", "tenantry"}
JURISDICTIONS = [("gdpr", "GDPR (EU/EEA, UK)"), ("ccpa", "CCPA (California)"), ("pdpa", "PDPA (Singapore)")]
ROLE_CHOICES = [("viewer", "Viewer: reads only"), ("member", "Member: reads and edits records"),
                ("admin", "Admin: also manages members and settings"), ("owner", "Owner: everything, incl. cancelling")]


@functools.cache
def _country_names() -> dict[str, str]:
    # The holidays package's registry: every country whose business-day calendar we can compute.
    names = {entry[1]: re.sub(r"(?<=[a-z])(?=[A-Z])", " ", entry[0]) for entry in holidays.registry.COUNTRIES.values()}
    return dict(sorted(names.items(), key=lambda item: item[1]))


def country_choices() -> list[tuple[str, str]]:
    return list(_country_names().items())


def country_name(code: str | None) -> str:
    """"Czechia (CZ)" for pages; a code the registry does not know is shown as it is."""
    name = _country_names().get(code or "")
    return f"{name} ({code})" if name else (code or "—")


def valid_slug(_form, field) -> None:
    value = (field.data or "").strip().lower()
    field.data = value
    if not SLUG_RE.match(value):
        raise ValidationError("Use 3–63 lower-case letters, digits and hyphens, starting and ending with a letter or digit.")
    if value in RESERVED_SLUGS:
        raise ValidationError("This address is reserved. Choose another.")


class WorkspaceFields(FlaskForm):
    name = StringField("Workspace name", validators=[DataRequired(), Length(max=200)])
    slug = StringField("Web address", validators=[DataRequired(), valid_slug])
    country = SelectField("Country", validators=[DataRequired()], default="CZ")
    jurisdiction = SelectField("Data protection law", choices=JURISDICTIONS, default="gdpr")
    accept = BooleanField("I accept the data processing agreement on behalf of this workspace",
                          validators=[DataRequired(message="You must accept the agreement to create a workspace.")])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.country.choices = country_choices()

    def validate_slug(self, field):
        # Said with every other error of the form, not after them (signup.sign_up checks again).
        from .signup import SLUG_TAKEN, slug_taken

        if slug_taken(field.data):
            raise ValidationError(SLUG_TAKEN)


SIGNUP_MIN_PASSWORD = 12  # a workspace owner's, whatever the workspace's own policy says later


class SignupForm(WorkspaceFields):
    person_name = StringField("Your name", validators=[DataRequired(), Length(max=200)])
    email = EmailField("Your work e-mail", validators=[DataRequired(), Email(check_deliverability=False), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=256)])
    confirm = PasswordField("Repeat the password",
                            validators=[DataRequired(), EqualTo("password", message="The two passwords differ.")])

    def validate_password(self, field):
        # With the form's other errors, so that one round shows them all; whether the e-mail has
        # an account is told only after (signup.sign_up), to someone with a whole valid signup.
        issues = passwords.problems(field.data, min_length=SIGNUP_MIN_PASSWORD, user_inputs=[
            self.email.data or "", self.person_name.data or "", self.name.data or "", self.slug.data or ""])
        if issues:
            raise ValidationError(" ".join(issues))


class AcceptForm(FlaskForm):
    accept = BooleanField("I accept the data processing agreement on behalf of this workspace",
                          validators=[DataRequired(message="Tick the box to accept the agreement.")])


class InviteForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired(), Email(check_deliverability=False), Length(max=254)])
    role = SelectField("Role", choices=ROLE_CHOICES, default="member")


class RoleForm(FlaskForm):
    role = SelectField("Role", choices=ROLE_CHOICES)


class JoinForm(FlaskForm):
    name = StringField("Your name", validators=[DataRequired(), Length(max=200)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=256)])
    confirm = PasswordField("Repeat the password",
                            validators=[DataRequired(), EqualTo("password", message="The two passwords differ.")])


class SecurityPolicyForm(FlaskForm):
    require_2fa = BooleanField("Require two-factor authentication for all members")
    password_min_length = IntegerField(
        "Minimum password length",
        validators=[DataRequired(), NumberRange(min=8, max=128, message="Between 8 and 128 characters.")],
    )
    password_max_age_days = IntegerField(
        "Maximum password age (days)",
        validators=[Optional(), NumberRange(min=0, max=3650, message="Between 0 (never) and 3650 days.")],
        default=0,
    )
    privacy_contact_email = EmailField("Privacy contact e-mail",
                                       validators=[Optional(), Email(check_deliverability=False), Length(max=254)])


class WorkspaceForm(FlaskForm):
    """The workspace's name and time zone (admins). The zone's choices come from zone_choices()."""

    name = StringField("Workspace name", validators=[DataRequired(), Length(max=200)])
    time_zone = SelectField("Time zone", validators=[Optional()])

    def __init__(self, *args, country: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.time_zone.choices = zone_choices(country)


def zone_choices(country: str) -> dict[str, list[tuple[str, str]]]:
    """The country's own zone by default, then the rest of its zones, then every other zone."""
    from tenantry.tenants import local_time

    own = local_time.zones_of_country(country)
    default = local_time.country_zone(country)
    where = _country_names().get(country, country)
    return {
        "Default": [("", f"{default} (the country's)")],
        f"Zones of {where}": [(name, name) for name in own],
        "All zones": [(name, name) for name in local_time.all_zones() if name not in own],
    }
