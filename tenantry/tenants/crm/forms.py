"""Forms of the CRM: each bad value is refused next to its own field, before anything is written.

Checksums come from python-stdnum: IBAN (stdnum.iban), EU VAT IDs (stdnum.eu.vat, for an ID
that starts with an EU country prefix) and the Czech IČO. python-stdnum has no `cz.ico`
module; an IČO is the legal-entity form of the Czech DIČ without its "CZ" prefix and shares
its mod-11 check digit, so stdnum.cz.dic's `calc_check_digit_legal` checks it.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, time
from decimal import Decimal, InvalidOperation

from email_validator import EmailNotValidError, validate_email
from stdnum import iban as stdnum_iban
from stdnum.cz import dic as stdnum_cz_dic
from stdnum.eu import vat as stdnum_vat
from stdnum.exceptions import ValidationError as StdnumError
from wtforms import HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from tenantry.platform.forms import Form
from tenantry.platform.tenancy import current_tenant
from tenantry.tenants.forms import country_choices

from . import currencies, search, stages, versions
from .companies import CompanyData
from .contacts import MAX_TAG, ContactData, normal_tag
from .models import ACTIVITY_KIND_LABELS

MAX_LIST = 20
MAX_WEBSITE = 300
_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*\.[^\s]{2,}$", re.I)
_FOREIGN_VAT = re.compile(r"[A-Z]{2}(?=[A-Z0-9]*\d)[A-Z0-9]{2,18}")
_LETTER = re.compile(r"[^\W\d_]")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:(?!\d)", re.I)  # "example.com:8080" is a host and its port


class RecordField(SelectField):
    """A contact or a company, or none: a select of its choices, or, once pickers.offer() has
    given it a picker (a tenant with many), a search box whose record is settled when the form
    is sent. Blank is none, but not through Optional(): that would also clear what settle()
    says about a search box whose text found no single record."""

    picker = None
    kept_id = None  # pickers.offer(kept=...): a linked record that can stay but not be chosen anew
    plural = None  # pickers.offer: "contacts", for the message when the value is none of them

    def pre_validate(self, form):
        if self.picker is not None:
            self.picker.settle(self)
        elif (self.data or "").strip():
            try:
                super().pre_validate(form)
            except ValidationError as exc:
                if self.plural is None:
                    raise
                raise ValidationError(f"Choose one of this workspace's {self.plural}.") from exc


def _lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").replace(",", "\n").replace(";", "\n").splitlines()
            if line.strip()]


def optional_uuid(value: str | None) -> uuid.UUID | None:
    """A choice field's id, None when blank. Blank includes whitespace: Optional() stops a
    field's validators there (its validate_<name> too), so the value never got checked."""
    value = (value or "").strip()
    return uuid.UUID(value) if value else None


def uuid_or_none(value: str | None) -> uuid.UUID | None:
    """An id sent outside a form's fields (a query argument, a bulk choice); None when it is
    none or not an id at all."""
    try:
        return uuid.UUID(value or "")
    except ValueError:
        return None


def czech_ico(value: str) -> str:
    """The IČO as its 8 digits, or ValidationError."""
    digits = re.sub(r"\s", "", value)
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 8:
        raise ValidationError("A Czech company ID (IČO) has 8 digits.")
    digits = digits.zfill(8)  # older IČOs are written without their leading zeros
    if stdnum_cz_dic.calc_check_digit_legal(digits[:7]) != digits[7]:
        raise ValidationError("This IČO's check digit does not match; check for a typing error.")
    return digits


class EditForm(Form):
    """A form that edits a row: it carries the version it was filled from (crm/versions.py)."""

    version = HiddenField()

    def based_on(self, row) -> None:
        self.version.data = str(row.version)

    def sent_version(self) -> int | None:
        """The version the sent form was filled from (versions.parsed)."""
        return versions.parsed(self.version.data)


class CompanyForm(EditForm):
    name = StringField("Name", validators=[DataRequired("Enter the company's name."), Length(max=300)])
    country = SelectField("Country of registration", validators=[DataRequired("Choose the country of registration.")])
    company_number = StringField("Company ID", validators=[Optional(), Length(max=40)])
    vat_id = StringField("VAT ID", validators=[Optional(), Length(max=40)])
    address = TextAreaField("Registered seat and address", validators=[Optional(), Length(max=1000)])
    iban = StringField("Bank account (IBAN)", validators=[Optional(), Length(max=50)])
    website = StringField("Website", validators=[Optional(), Length(max=MAX_WEBSITE)])
    notes = TextAreaField("Notes", validators=[Optional(), Length(max=10000)])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.country.choices = country_choices()
        if not self.country.data:
            self.country.data = current_tenant.country

    def validate_company_number(self, field):
        if field.data and self.country.data == "CZ":
            field.data = czech_ico(field.data)
        elif field.data:
            field.data = field.data.strip()

    def validate_vat_id(self, field):
        value = re.sub(r"[\s.\-]", "", field.data or "").upper()
        if not value:
            return
        if value[:2].lower() in stdnum_vat.MEMBER_STATES or value.startswith("EL"):
            try:
                field.data = stdnum_vat.compact(stdnum_vat.validate(value))
            except StdnumError as exc:
                raise ValidationError("This EU VAT ID is not valid: check the digits after the country code.") from exc
        elif _FOREIGN_VAT.fullmatch(value):  # no checksum we know (GB, CH, NO...): its shape at least
            field.data = value
        else:
            raise ValidationError("Enter the VAT ID with its country code in front, such as CZ25596641.")

    def validate_iban(self, field):
        if not field.data:
            return
        try:
            field.data = stdnum_iban.format(stdnum_iban.validate(field.data))
        except StdnumError as exc:
            raise ValidationError("This IBAN is not valid: its check digits do not match.") from exc

    def validate_website(self, field):
        if not field.data:
            return
        value = field.data.strip()
        if not value.lower().startswith(("http://", "https://")):
            if _SCHEME.match(value):  # javascript:, mailto:, https:example.com: no web page's address
                raise ValidationError("Enter a web address such as https://example.com.")
            value = "https://" + value
        if not _URL.match(value):
            raise ValidationError("Enter a web address such as https://example.com.")
        if len(value) > MAX_WEBSITE:  # counted with the https:// added, as it is stored
            raise ValidationError(f"A web address is at most {MAX_WEBSITE} characters.")
        field.data = value

    def data_for_service(self) -> CompanyData:
        return CompanyData(
            name=self.name.data.strip(), country=self.country.data, company_number=self.company_number.data or "",
            vat_id=self.vat_id.data or "", address=(self.address.data or "").strip(), iban=self.iban.data or "",
            website=self.website.data or "", notes=(self.notes.data or "").strip(),
        )

    def fill_from(self, company, plain: dict) -> None:
        self.based_on(company)
        self.country.data = company.country
        for column in ("name", "company_number", "vat_id", "address", "iban", "website", "notes"):
            getattr(self, column).data = plain[column]


class ContactForm(EditForm):
    first_name = StringField("First name", validators=[Optional(), Length(max=200)])
    # No Optional(): it would stop the chain before the "first name or surname" check.
    last_name = StringField("Surname", validators=[Length(max=200)])
    emails = TextAreaField("E-mails", validators=[Optional(), Length(max=5000)])
    phones = TextAreaField("Phones", validators=[Optional(), Length(max=2000)])
    address = TextAreaField("Address", validators=[Optional(), Length(max=1000)])
    company = RecordField("Company")
    position = StringField("Position", validators=[Optional(), Length(max=200)])
    notes = TextAreaField("Notes", validators=[Optional(), Length(max=10000)])
    tags = StringField("Tags", validators=[Optional(), Length(max=1000)])

    def __init__(self, *args, company_choices: list[tuple[str, str]] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.company.choices = [("", "— none —"), *company_choices]
        self._emails: list[str] = []
        self._phones: list[str] = []

    def validate_last_name(self, field):
        if not (field.data or "").strip() and not (self.first_name.data or "").strip():
            raise ValidationError("Enter a first name or a surname.")

    def validate_emails(self, field):
        found, bad = [], []
        for value in _lines(field.data):
            try:
                found.append(validate_email(value, check_deliverability=False).normalized)
            except EmailNotValidError:
                bad.append(value)
        if bad:
            raise ValidationError(f"Not a valid e-mail address: {', '.join(bad)}")
        if len(found) > MAX_LIST:
            raise ValidationError(f"At most {MAX_LIST} e-mail addresses.")
        self._emails = _distinct(found, str.casefold)  # one mailbox, whatever the case

    def validate_phones(self, field):
        found, bad, lettered = [], [], []
        for value in (line.strip() for line in (field.data or "").splitlines()):
            if not value:
                continue
            if _LETTER.search(value):
                # phonenumbers would drop an extension (E.164 has none) and turn letters into
                # keypad digits ("601 234 OOO" into ...666): a number other than the one typed
                lettered.append(value)
                continue
            normal = search.e164(value, current_tenant.country)
            (found if normal else bad).append(normal or value)
        if lettered:
            raise ValidationError(
                f"A phone number is digits only (with spaces, +, -, brackets or dots): {', '.join(lettered)}. "
                "An extension cannot be stored with the number: put it in the notes.")
        if bad:
            raise ValidationError(
                f"Not a valid phone number: {', '.join(bad)}. Numbers without a +country code are read as "
                f"{current_tenant.country} numbers.")
        if len(found) > MAX_LIST:
            raise ValidationError(f"At most {MAX_LIST} phone numbers.")
        self._phones = list(dict.fromkeys(found))

    def validate_tags(self, field):
        # The list's tag filter takes at most MAX_TAG characters, so a longer tag could never be found.
        long = [t.strip() for t in (field.data or "").split(",") if len(t.strip()) > MAX_TAG]
        if long:
            raise ValidationError(f"A tag is at most {MAX_TAG} characters: {long[0][:40]}…")

    def validate_company(self, field):
        if (field.data or "").strip():
            try:
                uuid.UUID(field.data)
            except ValueError as exc:
                raise ValidationError("Choose one of this workspace's companies.") from exc

    def data_for_service(self) -> ContactData:
        tags = [t.strip() for t in (self.tags.data or "").split(",") if t.strip()]
        return ContactData(
            first_name=(self.first_name.data or "").strip(), last_name=(self.last_name.data or "").strip(),
            emails=self._emails, phones=self._phones, address=(self.address.data or "").strip(),
            company_id=optional_uuid(self.company.data),
            position=(self.position.data or "").strip(), notes=(self.notes.data or "").strip(),
            # Two spellings the tag filter finds as one ("VIP", "vip") are one tag: the first kept.
            tags=_distinct(tags, lambda t: normal_tag(t) or t),
        )

    def fill_from(self, contact, plain: dict) -> None:
        self.based_on(contact)
        for column in ("first_name", "last_name", "address", "position", "notes"):
            getattr(self, column).data = plain[column]
        self.emails.data = "\n".join(plain["emails"])
        self.phones.data = "\n".join(plain["phones"])
        self.tags.data = ", ".join(plain["tags"])
        self.company.data = str(contact.company_id) if contact.company_id else ""


def _distinct(values: list[str], key) -> list[str]:
    kept: dict[str, str] = {}
    for value in values:
        kept.setdefault(key(value), value)
    return list(kept.values())


MAX_DEAL_VALUE = Decimal("1000000000000")  # a trillion: beyond that it is a typing error
_AMOUNT = re.compile(r"-?\d[\d.,]*")
_NOT_AN_AMOUNT = "Enter an amount such as 12500 or 12500.50."


def machine_amount(text: str) -> Decimal:
    """An amount as a program sends it: "12500.50", a JSON number (repr: "1e+20" too). No
    thousands separators to guess at: "10.001" is ten and a bit, never ten thousand and one."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation as exc:
        raise ValidationError(_NOT_AN_AMOUNT) from exc
    if not value.is_finite():
        raise ValidationError(_NOT_AN_AMOUNT)
    if value < 0:
        raise ValidationError("The value cannot be negative.")
    return abs(value)  # "-0" is 0


def amount(text: str, places: int) -> Decimal:
    """An amount as people type it: spaces, apostrophes or the other mark group thousands
    ("12 500", "1'250.50", "1.250,50", "1,250.50"), a comma or a point before the decimals.
    One mark before exactly three digits groups them ("12,500" is 12500) when the currency has
    fewer decimals than three; with three (BHD, KWD...) it could be either, and is refused."""
    raw = re.sub(r"[\s\u00a0\u202f_']", "", text)
    if not _AMOUNT.fullmatch(raw):  # no exponent ("1e3"), no NaN, no letters
        raise ValidationError(_NOT_AN_AMOUNT)
    negative, raw = raw.startswith("-"), raw.lstrip("-")
    marks = [ch for ch in raw if ch in ",."]
    whole, decimals = raw, ""
    if marks:
        last = max(raw.rfind(","), raw.rfind("."))
        if len(set(marks)) == 2:  # both: the last one, found once, comes before the decimals
            if marks.count(marks[-1]) != 1:
                raise ValidationError(_NOT_AN_AMOUNT)
            whole, decimals = raw[:last], raw[last + 1:]
        elif len(marks) == 1 and len(raw) - last - 1 != 3:
            whole, decimals = raw[:last], raw[last + 1:]
        elif len(marks) == 1 and places >= 3:
            raise ValidationError(f"“{text.strip()}” could be a thousand or one: write the amount without a "
                                  "thousands separator, such as 1000 or 1.5.")
        groups = re.split(r"[.,]", whole)  # what is left: thousands, in groups of three
        if not groups[0] or any(len(group) != 3 for group in groups[1:]):
            raise ValidationError(_NOT_AN_AMOUNT)
        whole = "".join(groups)
    value = Decimal(f"{whole}.{decimals}" if decimals else whole)
    if negative and value:
        raise ValidationError("The value cannot be negative.")
    return value  # "-0" is 0


TIME_NEEDS_DATE = "Give the due date too, or leave the time empty."


def iso_date(value: str | None):
    """A date written as YYYY-MM-DD (what <input type="date"> sends), or ValidationError."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ValidationError("Enter a date as YYYY-MM-DD, for example 2025-06-30.") from exc


def clock_time(value: str | None):
    """A time of day written as HH:MM (what <input type="time"> sends; seconds are dropped),
    or ValidationError."""
    value = (value or "").strip()
    if not value:
        return None
    found = re.fullmatch(r"(\d{1,2}):(\d{2})(?::\d{2}(?:\.\d+)?)?", value)
    if found and int(found[1]) < 24 and int(found[2]) < 60:
        return time(int(found[1]), int(found[2]))
    raise ValidationError("Enter a time as HH:MM, for example 14:30.")


class MergeWith(Form):
    """The other record of a merge, chosen from all of them (a GET form: pickers.offer and the
    field's own validate, no CSRF); its label is set to the kind of record."""

    other = RecordField("Merge with")


class ContactFilter(Form):
    """The contact list's company filter (a GET form: pickers.offer and the field's own
    validate, no CSRF)."""

    company = RecordField("Company")


class BulkCompany(Form):
    """The company the contact list puts the contacts ticked in (pickers.offer and the field's
    own validate; the bulk form it is part of carries the CSRF token)."""

    bulk_company = RecordField("Company")


class DealForm(EditForm):
    title = StringField("Title", validators=[DataRequired("Enter the deal's title."), Length(max=300)])
    value = StringField("Value", validators=[DataRequired("Enter an amount such as 12500 or 12500.50."),
                                              Length(max=40)])
    currency = StringField("Currency", validators=[DataRequired("Enter a currency code such as CZK or EUR."),
                                                    Length(max=10)])
    stage = SelectField("Stage", validators=[DataRequired("Choose a stage.")])
    expected_close = StringField("Expected close date", validators=[Optional(), Length(max=20)])
    contact = RecordField("Contact")
    company = RecordField("Company")
    owner = SelectField("Owner", validators=[Optional()])
    lost_reason = SelectField("Reason lost", validators=[Optional()])
    probability = StringField("Win probability (%)", validators=[Length(max=10)])  # blank: the stage's

    def __init__(self, *args, stage_choices=(), contact_choices=(), company_choices=(), owner_choices=(),
                 lost_reason_choices=(), machine: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.machine = machine  # the API's: a decimal point and nothing else, as JSON writes numbers
        self.stage.choices = list(stage_choices)
        self.contact.choices = [("", "— none —"), *contact_choices]
        self.company.choices = [("", "— none —"), *company_choices]
        self.owner.choices = [("", "— nobody —"), *owner_choices]
        self.lost_reason.choices = [("", "— not given —"), *lost_reason_choices]
        self._value: Decimal | None = None
        self._close = None
        self._percent: int | None = None

    def validate_currency(self, field):
        code = (field.data or "").strip().upper()
        if code not in currencies.CODES:
            raise ValidationError("Enter an ISO 4217 currency code such as EUR, CZK or USD.")
        field.data = code

    def validate_value(self, field):
        code = (self.currency.data or "").strip().upper()
        places = currencies.minor_units(code) if code in currencies.CODES else 3
        value = machine_amount(field.data or "") if self.machine else amount(field.data or "", places)
        if value >= MAX_DEAL_VALUE:
            raise ValidationError("The value must be less than 1,000,000,000,000.")
        exact = value.quantize(Decimal(1).scaleb(-places))
        if exact != value:
            raise ValidationError(f"{code or 'This currency'} has at most {places} decimal place"
                                  f"{'s' if places != 1 else ''}.")
        # 100.00 yen is 100: no more places than the currency has, fewer as typed
        self._value = exact if -value.as_tuple().exponent > places else value

    def validate_expected_close(self, field):
        self._close = iso_date(field.data)

    def validate_probability(self, field):
        self._percent = percent(field.data) if (field.data or "").strip() else None
        if (field.data or "").strip() and self._percent is None:
            raise ValidationError("Give a whole per cent from 0 to 100, or leave it blank for the stage's.")

    def data_for_service(self):
        from .deals import DealData

        return DealData(title=self.title.data.strip(), value=self._value, currency=self.currency.data,
                        stage_id=uuid.UUID(self.stage.data), expected_close=self._close,
                        contact_id=optional_uuid(self.contact.data), company_id=optional_uuid(self.company.data),
                        owner_id=optional_uuid(self.owner.data), lost_reason_id=optional_uuid(self.lost_reason.data),
                        probability=self._percent)

    def fill_from(self, deal, title: str) -> None:
        self.based_on(deal)
        self.title.data, self.value.data, self.currency.data = title, f"{deal.value.normalize():f}", deal.currency
        self.stage.data = str(deal.stage_id)
        self.expected_close.data = deal.expected_close.isoformat() if deal.expected_close else ""
        for name in ("contact", "company", "owner", "lost_reason"):
            value = getattr(deal, f"{name}_id")
            getattr(self, name).data = str(value) if value else ""
        self.probability.data = str(deal.probability) if deal.probability is not None else ""


class ActivityForm(EditForm):
    kind = SelectField("Kind", choices=list(ACTIVITY_KIND_LABELS.items()),
                       validators=[DataRequired("Choose call, meeting, e-mail or task.")])
    due_on = StringField("Due date", validators=[Optional(), Length(max=20)])
    due_time = StringField("Time", validators=[Optional(), Length(max=20)])
    owner = SelectField("Assigned to", validators=[Optional()])
    note = TextAreaField("Note", validators=[Optional(), Length(max=10000)])

    def __init__(self, *args, owner_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.owner.choices = [("", "— nobody —"), *owner_choices]

    def validate_due_on(self, field):
        self._due = iso_date(field.data)

    def validate_due_time(self, field):
        self._time = clock_time(field.data)
        if self._time is not None and not (self.due_on.data or "").strip():
            raise ValidationError(TIME_NEEDS_DATE)

    def data_for_service(self):
        from .activities import ActivityData

        return ActivityData(kind=self.kind.data, due_on=getattr(self, "_due", None),
                            due_time=getattr(self, "_time", None), note=(self.note.data or "").strip(),
                            owner_id=optional_uuid(self.owner.data))

    def fill_from(self, activity, note: str | None) -> None:
        from . import activities

        self.based_on(activity)
        self.kind.data = activity.kind
        self.due_on.data = activity.due_on.isoformat() if activity.due_on else ""
        self.due_time.data = activities.time_text(activity) or ""
        self.owner.data = str(activity.owner_id) if activity.owner_id else ""
        self.note.data = note or ""


class LostReasonForm(Form):
    """A reason for losing a deal, added or renamed beside the stages (its rules: lost_reasons)."""

    name = StringField("Name", validators=[Length(max=200)])


def percent(text: str | None) -> int | None:
    """A whole per cent from 0 to 100 as typed ("40", "40 %", "40%"); None for anything else.
    Text, not IntegerField, so that "55 %" or "abc" gets our message rather than WTForms'."""
    value = (text or "").strip().removesuffix("%").strip()
    return int(value) if re.fullmatch(r"\d{1,3}", value) and int(value) <= 100 else None


class StageForm(Form):
    name = StringField("Name", validators=[DataRequired("Enter the stage's name."), Length(max=60)])
    outcome = SelectField("Outcome", choices=[("", "Open"), ("won", "Won"), ("lost", "Lost")],
                          validators=[Optional()])
    probability = StringField("Win probability (%)", validators=[Length(max=10)])  # forms.percent

    def validate_probability(self, field):
        self.percent = None
        if self.outcome.data in ("won", "lost"):
            return  # certain: the stage takes 100 or 0 (stages._probability)
        self.percent = percent(field.data)
        if self.percent is None:
            raise ValidationError(stages.PROBABILITY_NEEDED)

    def service_kwargs(self) -> dict:
        return {"name": self.name.data.strip(), "won": self.outcome.data == "won",
                "lost": self.outcome.data == "lost", "probability": self.percent}
