"""Custom fields on contacts: definitions a tenant's admins manage, values stored encrypted.

A definition (label, key, type, options, required, special category, order) describes the
tenant's own data model, not a person, so it stays in the clear. A value is personal data:
one row per (contact, field), `fields.encrypt` ciphertext bound to (tenant, table, column,
row id), registered for key rotation like every CRM column.

Marking a field as a special category of personal data (GDPR art. 9) needs an active
explicit agreement recorded by staff [DPA-A.special, DPA-5.3]. Without one the field
cannot be marked, and an existing special-category field stops taking values (it is hidden
from the form and the import) until an agreement is active again.

A value of an ordinary field also carries a blind index, for the contact list's filter. A
value of a special-category field carries none: a digest tells a reader of the database
which contacts share a value, and for health or beliefs that is itself the special category
(thirty contacts with the same value of "Diagnosis"). Filtering by such a field decrypts its
values instead, as a tag filter does before its index is built: slower, and only under an
agreement, since only then does the field take values.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column
from wtforms import Field, SelectField, StringField
from wtforms.validators import Length, ValidationError

from tenantry.dpa import special_categories
from tenantry.platform import audit, clock
from tenantry.platform.crypto import fields
from tenantry.platform.db import by_id, db, new_id
from tenantry.platform.forms import CONTROL_MESSAGE, has_control
from tenantry.platform.tenancy import TenantScoped, current_tenant

from .models import Contact

TYPES = {"text": "Text", "number": "Number", "date": "Date", "choice": "Choice"}
MAX_PLACES = 10  # of a number field's values
MAX_FIELDS = 50
MAX_OPTIONS = 100
MAX_TEXT = 2000
KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
# Names the contact's own columns and the import's aliases use: a custom field may not shadow them.
RESERVED_KEYS = frozenset({
    "id", "first_name", "last_name", "name", "surname", "emails", "email", "phones", "phone", "address",
    "company", "company_id", "position", "notes", "tags", "created_at", "updated_at", "error", "row",
})


class CustomField(TenantScoped, db.Model):
    __tablename__ = "crm_custom_fields"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    key: Mapped[str] = mapped_column(sa.String(40))
    label: Mapped[str] = mapped_column(sa.String(100))
    type: Mapped[str] = mapped_column(sa.String(10))
    options: Mapped[list] = mapped_column(sa.JSON, default=list)
    required: Mapped[bool] = mapped_column(default=False)
    special_category: Mapped[bool] = mapped_column(default=False)
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)

    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "id"),
        sa.UniqueConstraint("tenant_id", "key"),
        sa.CheckConstraint("type in ('text', 'number', 'date', 'choice')", name="type"),
    )

    @property
    def form_name(self) -> str:
        return f"cf_{self.key}"


class CustomValue(TenantScoped, db.Model):
    __tablename__ = "crm_custom_values"
    ENCRYPTED = ("value",)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    contact_id: Mapped[uuid.UUID]
    field_id: Mapped[uuid.UUID]
    value: Mapped[bytes] = mapped_column(sa.LargeBinary)
    # The blind index of the value (fields kind "custom": bound to the field, whole, folded),
    # for the contact list's filter by a field. NULL only on rows saved before it existed,
    # until index_builds reaches CUSTOM_VALUES for the tenant.
    digest: Mapped[str | None] = mapped_column(sa.String(64))
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)

    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "id"),
        sa.UniqueConstraint("tenant_id", "contact_id", "field_id"),
        # Also serves what ix_crm_custom_values_field (tenant_id, field_id) did, which it replaced.
        sa.Index("ix_crm_custom_values_digest", "tenant_id", "field_id", "digest"),
        # CASCADE removes only these rows (tenant_id stays right: it is the referenced row's own).
        sa.ForeignKeyConstraint(["tenant_id", "contact_id"], ["contacts.tenant_id", "contacts.id"],
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id", "field_id"], ["crm_custom_fields.tenant_id", "crm_custom_fields.id"],
                                ondelete="CASCADE"),
    )


# --- values: parse, normalise, show --------------------------------------------------------


def normalise(definition: CustomField, raw: str | None) -> str:
    """The value as stored (text; numbers as plain decimals, dates as YYYY-MM-DD), "" when
    empty; ValueError with a message for the person who typed it."""
    value = (raw or "").strip()
    if not value:
        if definition.required:
            raise ValueError(f"{definition.label} is required.")
        return ""
    if definition.type == "text":
        if len(value) > MAX_TEXT:
            raise ValueError(f"At most {MAX_TEXT} characters.")
        if has_control(value):  # one line, as the form's box; the API and imports come here too
            raise ValueError(CONTROL_MESSAGE)
        return value
    if definition.type == "number":
        cleaned = re.sub(r"[\s\u00a0\u202f_']", "", value)
        if re.fullmatch(r"-?\d{1,3},\d{3}", cleaned):
            raise ValueError(f"“{value}” could be a thousand or one: write it without a thousands separator, "
                             "such as 1000 or 1.5.")
        cleaned = cleaned.replace(",", ".")
        try:
            number = Decimal(cleaned)
        except InvalidOperation:
            raise ValueError("Enter a number such as 42 or 3.5.") from None
        if not number.is_finite() or abs(number) >= Decimal("1e15"):
            raise ValueError("Enter a number such as 42 or 3.5.")
        if number == 0:
            return "0"
        # Checked before normalize(), which rounds a tiny number to 0 silently; "1e-999999"
        # would otherwise be stored as a million digits.
        if number.adjusted() < -MAX_PLACES or -number.normalize().as_tuple().exponent > MAX_PLACES:
            raise ValueError(f"At most {MAX_PLACES} decimal places.")
        return format(number.normalize(), "f")
    if definition.type == "date":
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError("Enter a date as YYYY-MM-DD, for example 2025-06-30.")
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            raise ValueError("Enter a date as YYYY-MM-DD, for example 2025-06-30.") from None
    # choice: the option as defined, matched without regard to case
    for option in definition.options or []:
        if option.casefold() == value.casefold():
            return option
    raise ValueError(f"Choose one of: {', '.join(definition.options or [])}.")


# --- definitions ---------------------------------------------------------------------------


class DefinitionError(ValueError):
    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


@dataclass
class DefinitionData:
    label: str
    key: str
    type: str
    options: list[str]
    required: bool
    special_category: bool


SPECIAL_REFUSED = ("Special categories of personal data (health, beliefs, union membership and the rest of "
                   "GDPR art. 9) are processed only under an explicit agreement with the operator, and none is "
                   "recorded for this workspace. Ask the operator to record one first.")


def agreement():
    return special_categories.active(current_tenant.id)


def definitions() -> list[CustomField]:
    return list(db.session.execute(
        sa.select(CustomField).where(CustomField.tenant_id == current_tenant.id)
        .order_by(CustomField.position, CustomField.created_at, CustomField.id)).scalars())


def usable(found: list[CustomField] | None = None) -> list[CustomField]:
    """The fields that take values now (of `found`, by default all): special-category ones only
    under an active agreement."""
    found = definitions() if found is None else found
    if any(d.special_category for d in found) and agreement() is None:
        return [d for d in found if not d.special_category]
    return found


def checked_against(found: list[CustomField]) -> list[str]:
    """What a value is checked against, field by field: an import checked in its preview is
    written only while these are the same (a type or an option changed since would let a
    value in that the field no longer takes)."""
    return [f"{d.id}:{d.type}:{int(d.required)}:{int(d.special_category)}:{json.dumps(d.options or [])}"
            for d in found]


def unindexed() -> frozenset[uuid.UUID]:
    """The tenant's special-category fields, whose values carry no blind index."""
    return frozenset(db.session.execute(sa.select(CustomField.id).where(
        CustomField.tenant_id == current_tenant.id, CustomField.special_category.is_(True))).scalars())


def get(field_id: uuid.UUID) -> CustomField | None:
    return by_id(CustomField, field_id)


def _check(data: DefinitionData, existing: CustomField | None) -> None:
    if data.type not in TYPES:
        raise DefinitionError("Choose a type.", "type")
    if not KEY_PATTERN.match(data.key):
        raise DefinitionError("Lower-case letters, digits and _ only, starting with a letter (at most 40).", "key")
    if data.key in RESERVED_KEYS:
        raise DefinitionError("This key is a contact's own column; choose another.", "key")
    from .csv_import import fold_header, names_a_contact_column  # csv_import reads definitions: imported late

    # A CSV column is matched by label or key: "Role" would import into Position, and our own
    # export, with both columns, would not import again.
    for name, value in (("label", data.label), ("key", data.key)):
        if names_a_contact_column(value):
            raise DefinitionError(f"“{value}” names a contact's own column in imports and exports; choose "
                                  f"another {name}.", name)
    if not fold_header(data.label):
        raise DefinitionError("A label needs a letter or a digit: imports and exports find the column by it.",
                              "label")
    others = [d for d in definitions() if existing is None or d.id != existing.id]
    if any(d.key == data.key for d in others):
        raise DefinitionError("Another custom field already has this key.", "key")
    # Imports match a column by label or key folded (no case, accents or punctuation): two
    # fields that fold alike would take each other's values, and our export would not import.
    taken = {fold_header(name): d.label for d in others for name in (d.label, d.key)}
    for name, value in (("label", data.label), ("key", data.key)):
        if fold_header(value) in taken:
            raise DefinitionError(f"Imports and exports would read “{value}” as the field “{taken[fold_header(value)]}”:"
                                  f" choose another {name}.", name)
    if data.type == "choice":
        if not data.options:
            raise DefinitionError("A choice field needs at least one option, one per line.", "options")
        if len(data.options) > MAX_OPTIONS:
            raise DefinitionError(f"At most {MAX_OPTIONS} options.", "options")
        seen: dict[str, str] = {}
        for option in data.options:
            twin = seen.setdefault(option.casefold(), option)
            if twin != option:  # a choice is matched without regard to case: one of them could never be chosen
                raise DefinitionError(f"“{twin}” and “{option}” differ only in case: keep one.", "options")
    if data.special_category and agreement() is None:
        raise DefinitionError(SPECIAL_REFUSED, "special_category")


def _details(definition: CustomField) -> dict:
    # Definitions describe the tenant's data model, not people: safe to keep in the trail.
    return {"key": definition.key, "type": definition.type, "required": definition.required,
            "special_category": definition.special_category}


def create(data: DefinitionData, *, actor=None) -> CustomField:
    _check(data, None)
    count = len(definitions())
    if count >= MAX_FIELDS:
        raise DefinitionError(f"A workspace has at most {MAX_FIELDS} custom fields.", "label")
    definition = CustomField(id=new_id(), tenant_id=current_tenant.id, position=count, **_columns(data))
    db.session.add(definition)
    db.session.flush()
    audit.record("crm.custom_field.created", actor=actor, tenant_id=definition.tenant_id,
                 target_type="custom_field", target_id=definition.id, details=_details(definition))
    return definition


def _columns(data: DefinitionData) -> dict:
    return {"label": data.label, "key": data.key, "type": data.type,
            "options": list(dict.fromkeys(data.options)) if data.type == "choice" else [],
            "required": data.required, "special_category": data.special_category}


def update(definition: CustomField, data: DefinitionData, *, actor=None) -> CustomField:
    if data.type != definition.type and _value_count(definition.id):
        raise DefinitionError("Contacts already have values in this field: its type cannot change.", "type")
    if (data.special_category and not definition.special_category) or data.key != definition.key:
        _check(data, definition)
    else:
        # Keeping a mark made under an agreement since revoked is allowed; so is unmarking, but
        # not of values withheld since the revocation: that would show them again, undoing it.
        if definition.special_category and not data.special_category and agreement() is None \
                and _value_count(definition.id):
            raise DefinitionError(
                "Contacts hold values of this field, recorded as a special category and withheld since the "
                "workspace's agreement for them ended: unmarking would show them again. Delete the field with its "
                "values, or ask the operator to record an agreement first.", "special_category")
        _check(DefinitionData(**{**data.__dict__, "special_category": False}), definition)
    if definition.type == "choice" and data.type == "choice":
        removed = set(definition.options) - set(data.options)
        if removed and _uses_options(definition, removed):
            raise DefinitionError(f"Contacts still use {', '.join(sorted(removed))}: keep the option or change "
                                  "those contacts first.", "options")
    before = _details(definition)
    marked = definition.special_category
    for name, value in _columns(data).items():
        setattr(definition, name, value)
    definition.updated_at = clock.now()
    db.session.flush()
    if definition.special_category != marked:
        _reindex(definition)
    audit.record("crm.custom_field.updated", actor=actor, tenant_id=definition.tenant_id,
                 target_type="custom_field", target_id=definition.id,
                 details={"before": before, "after": _details(definition)})
    return definition


def delete(definition: CustomField, *, actor=None) -> int:
    """Delete the definition and every value of it; returns how many values went."""
    removed = db.session.execute(sa.delete(CustomValue).where(
        CustomValue.tenant_id == definition.tenant_id, CustomValue.field_id == definition.id)).rowcount
    details = {**_details(definition), "values_deleted": removed}
    db.session.delete(definition)
    db.session.flush()
    _renumber()
    audit.record("crm.custom_field.deleted", actor=actor, tenant_id=definition.tenant_id,
                 target_type="custom_field", target_id=definition.id, details=details)
    return removed


def move(definition: CustomField, direction: str, *, actor=None) -> None:
    ordered = definitions()
    at = next(i for i, d in enumerate(ordered) if d.id == definition.id)
    to = at - 1 if direction == "up" else at + 1
    if 0 <= to < len(ordered):
        ordered[at], ordered[to] = ordered[to], ordered[at]
        for position, d in enumerate(ordered):
            d.position = position
        db.session.flush()
        audit.record("crm.custom_field.moved", actor=actor, tenant_id=definition.tenant_id,
                     target_type="custom_field", target_id=definition.id, details={"position": to})


def _renumber() -> None:
    for position, d in enumerate(definitions()):
        d.position = position
    db.session.flush()


def _reindex(definition: CustomField) -> None:
    """Drop the digests of a field just marked special category, or give an unmarked one's
    values theirs (an admin action, rare: every value of the field is decrypted)."""
    of_field = (CustomValue.tenant_id == current_tenant.id, CustomValue.field_id == definition.id)
    if definition.special_category:
        db.session.execute(sa.update(CustomValue).where(*of_field).values(digest=None))
        return
    rows = list(db.session.execute(sa.select(CustomValue).where(*of_field)).scalars())
    cipher = fields.TenantCipher(current_tenant.id)
    for row in rows:
        row.digest = digest(cipher, row.field_id, _open(row))
    db.session.flush()


def _value_count(field_id: uuid.UUID) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(CustomValue).where(
        CustomValue.tenant_id == current_tenant.id, CustomValue.field_id == field_id)).scalar_one()


def _uses_options(definition: CustomField, options: set[str]) -> bool:
    """Whether any contact holds one of `options`: decrypts the field's values (admin action, rare)."""
    rows = db.session.execute(sa.select(CustomValue).where(
        CustomValue.tenant_id == current_tenant.id, CustomValue.field_id == definition.id)).scalars()
    return any(_open(row) in options for row in rows)


# --- values of a contact -------------------------------------------------------------------


def _where(row_id) -> dict:
    return {"tenant_id": current_tenant.id, "table": CustomValue.__tablename__, "column": "value", "row_id": row_id}


def _open(row: CustomValue) -> str:
    return fields.decrypt(row.value, **_where(row.id)) or ""


def _digest_text(field_id: uuid.UUID, value: str) -> str:
    return f"{field_id}:{value}"


def digest(cipher: fields.TenantCipher | uuid.UUID, field_id: uuid.UUID, value: str) -> str | None:
    """The blind index of a value of the field (under the tenant's `cipher`, or its id): what the
    list's filter looks up; None for one with nothing left once folded, which no filter finds."""
    if _folded(field_id, value) is None:
        return None
    if isinstance(cipher, fields.TenantCipher):
        return cipher.blind_index("custom", _digest_text(field_id, value))
    return fields.blind_index("custom", _digest_text(field_id, value), tenant_id=cipher)


def holding(definition: CustomField, value: str) -> sa.ColumnElement[bool]:
    """The condition for contacts whose value of `definition` is `value` (as normalise() gives
    it), whole, ignoring case, accents and spacing."""
    from . import index_builds

    tid = current_tenant.id
    normal = _folded(definition.id, value)
    if normal is None:
        return sa.false()
    of_field = sa.select(CustomValue).where(CustomValue.tenant_id == tid, CustomValue.field_id == definition.id)
    if not definition.special_category and index_builds.is_current(tid, index_builds.CUSTOM_VALUES):
        wanted = fields.blind_index("custom", _digest_text(definition.id, value), tenant_id=tid)
        return Contact.id.in_(of_field.where(CustomValue.digest == wanted).with_only_columns(CustomValue.contact_id))
    # A special category's values have no digests, and values saved before digests existed
    # have none until the sweep has filled them: the field's values are decrypted, as the
    # tag filter does. Slower, never incomplete.
    return Contact.id.in_([row.contact_id for row in db.session.execute(of_field).scalars()
                           if _folded(definition.id, _open(row)) == normal])


@dataclass
class ValueFilter:
    """A list's filter by a custom field's value: the condition, or the error to show next to
    the value (then the list is not filtered by it)."""

    definition: CustomField | None
    condition: sa.ColumnElement[bool] | None = None
    error: str = ""


NO_SUCH_FIELD = "Choose one of this workspace's custom fields."


def value_filter(key: str, raw: str, offered: list[CustomField] | None = None, *, unset: bool = False) -> ValueFilter:
    """The filter for contacts whose field `key` holds `raw`, read as the contact form reads it
    ("3,5" is the number 3.5, a choice without regard to case), or with `unset` those with no
    value in it. Only fields that take values now are offered (`offered`, usable() by
    default); a blank value filters nothing."""
    definition = next((d for d in (usable() if offered is None else offered) if d.key == key), None)
    if definition is None:
        return ValueFilter(None, error=NO_SUCH_FIELD)
    if unset:
        if (raw or "").strip():
            return ValueFilter(definition, error="Give a value, or tick “No value”, not both.")
        return ValueFilter(definition, Contact.id.not_in(sa.select(CustomValue.contact_id).where(
            CustomValue.tenant_id == current_tenant.id, CustomValue.field_id == definition.id)))
    if not (raw or "").strip():
        return ValueFilter(definition)
    try:
        value = normalise(definition, raw)
    except ValueError as exc:
        return ValueFilter(definition, error=str(exc))
    return ValueFilter(definition, holding(definition, value))


def filter_of(args, offered: list[CustomField] | None = None) -> ValueFilter | None:
    """The contact list's filter by a custom field, from its query (`field`, the key, and
    `value`, or `unset=1` for no value); None when no field is chosen."""
    key, unset = (args.get("field") or "").strip(), args.get("unset") == "1"
    if not key:
        return ValueFilter(None, error="Choose the custom field to have no value.") if unset else None
    return value_filter(key, (args.get("value") or "")[:MAX_TEXT + 100], offered, unset=unset)


def _folded(field_id: uuid.UUID, value: str) -> str | None:
    try:
        return fields.normalise("custom", _digest_text(field_id, value))
    except ValueError:  # nothing left once folded: no value matches it
        return None


def fill_digests(rows: list[CustomValue], cipher: fields.TenantCipher) -> None:
    """Give rows saved before values had digests theirs (index_builds' pass); a special
    category's values stay without."""
    skip = unindexed()
    for row in rows:
        row.digest = None if row.field_id in skip else digest(cipher, row.field_id, _open(row))


def values_of(contact_id: uuid.UUID) -> dict[uuid.UUID, str]:
    rows = db.session.execute(sa.select(CustomValue).where(
        CustomValue.tenant_id == current_tenant.id, CustomValue.contact_id == contact_id)).scalars()
    return {row.field_id: _open(row) for row in rows}


def values_of_many(contact_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[uuid.UUID, str]]:
    out: dict[uuid.UUID, dict[uuid.UUID, str]] = {}
    for start in range(0, len(contact_ids), 500):
        chunk = contact_ids[start:start + 500]
        rows = db.session.execute(sa.select(CustomValue).where(
            CustomValue.tenant_id == current_tenant.id, CustomValue.contact_id.in_(chunk))).scalars()
        for row in rows:
            out.setdefault(row.contact_id, {})[row.field_id] = _open(row)
    return out


def shown(contact: Contact, found: list[CustomField] | None = None) -> list[tuple[CustomField, str | None]]:
    """(definition, value) of every defined field (`found`, if read already), for the contact's
    page; None for a value withheld (withheld()), on every contact alike: that a contact holds
    a "Diagnosis" at all is itself special-category data."""
    found = definitions() if found is None else found
    values, taking = values_of(contact.id), {d.id for d in usable(found)}
    return [(d, values.get(d.id, "") if d.id in taking else None) for d in found]


def withheld() -> dict[uuid.UUID, int]:
    """Special-category fields while no agreement is in force, and how many contacts hold a
    value in each. Processing under the agreement has stopped [DPA-A.special]: the values are
    kept (until the field is deleted) but left out of the contact page, the list's CSV export
    and the API; they stay in the workspace export (their return) and in a data subject's
    access report (their right)."""
    if agreement() is not None:
        return {}
    special = [d.id for d in definitions() if d.special_category]
    if not special:
        return {}
    counts = dict(db.session.execute(
        sa.select(CustomValue.field_id, sa.func.count()).where(
            CustomValue.tenant_id == current_tenant.id, CustomValue.field_id.in_(special))
        .group_by(CustomValue.field_id)).tuples().all())
    return {field_id: counts.get(field_id, 0) for field_id in special}


def save(contact: Contact, values: dict[uuid.UUID, str], *, only: list[CustomField], actor=None) -> None:
    """Set the contact's values of the `only` fields (the ones its form showed); "" removes one.
    What changed is audited as a change of the contact, each value from and to under
    `custom_fields.<key>` (sealed like every change: a special category's too); a value as it
    was is neither written again nor audited."""
    existing = {row.field_id: row for row in db.session.execute(sa.select(CustomValue).where(
        CustomValue.tenant_id == current_tenant.id, CustomValue.contact_id == contact.id)).scalars()}
    before, after = {}, {}
    cipher = None
    for definition in only:
        value = values.get(definition.id, "")
        row = existing.get(definition.id)
        old = _open(row) if row is not None else ""
        if value == old:
            continue
        before[f"custom_fields.{definition.key}"], after[f"custom_fields.{definition.key}"] = old, value
        if not value:
            db.session.delete(row)
            continue
        # The key is looked up before a new row joins the session: the look-up may autoflush,
        # and a row flushed without its value breaks the NOT NULL constraint.
        cipher = cipher or fields.TenantCipher(current_tenant.id)
        if row is None:
            row = CustomValue(id=new_id(), tenant_id=current_tenant.id, contact_id=contact.id,
                              field_id=definition.id)
            db.session.add(row)
        row.value = cipher.encrypt(value, table=CustomValue.__tablename__, column="value", row_id=row.id)
        row.digest = None if definition.special_category else digest(cipher, definition.id, value)
        row.updated_at = clock.now()
    db.session.flush()
    if after:
        audit.record("crm.contact.updated", actor=actor, tenant_id=contact.tenant_id, target_type="contact",
                     target_id=contact.id, changes=audit.diff(before, after))


def value_rows(cipher: fields.TenantCipher, contact_id: uuid.UUID, values: dict[uuid.UUID, str], *,
               skip: frozenset[uuid.UUID]) -> list[dict]:
    """Rows for a bulk insert (the import): one per non-empty value; those of the `skip` fields
    (unindexed()) without a digest."""
    now = clock.now()
    out = []
    for field_id, value in values.items():
        if value:
            row_id = new_id()
            out.append({"id": row_id, "tenant_id": cipher.tenant_id, "contact_id": contact_id, "field_id": field_id,
                        "value": cipher.encrypt(value, table=CustomValue.__tablename__, column="value",
                                                row_id=row_id),
                        "digest": None if field_id in skip else digest(cipher, field_id, value),
                        "updated_at": now})
    return out


# --- the contact form ----------------------------------------------------------------------


def _validator(definition: CustomField):
    def check(form, field):
        try:
            field.data = normalise(definition, field.data)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc

    return check


def form_field(definition: CustomField) -> Field:
    label = definition.label
    description = "Special category of personal data (GDPR art. 9)." if definition.special_category else ""
    if definition.type == "choice":
        choices = [("", "— none —"), *((o, o) for o in definition.options)]
        return SelectField(label, choices=choices, validate_choice=False, description=description,
                           validators=[_validator(definition)])
    return StringField(label, description=description,
                       validators=[Length(max=MAX_TEXT + 100), _validator(definition)])


def contact_form(form_class, definitions_shown: list[CustomField], **kwargs):
    """An instance of `form_class` (the contact form) with one extra field per custom field."""
    extended = type("ContactFormWithCustomFields", (form_class,),
                    {d.form_name: form_field(d) for d in definitions_shown})
    form = extended(**kwargs)
    form.custom_definitions = definitions_shown
    return form


def form_values(form) -> dict[uuid.UUID, str]:
    return {d.id: getattr(form, d.form_name).data or "" for d in form.custom_definitions}


def fill_form(form, contact: Contact) -> None:
    values = values_of(contact.id)
    for d in form.custom_definitions:
        getattr(form, d.form_name).data = values.get(d.id, "")


def options_text(definition: CustomField) -> str:
    return "\n".join(definition.options or [])
