"""Companies and contacts of a tenant's CRM, and the blind indexes that make them searchable.

Every column that may hold personal data is `fields.encrypt` ciphertext bound to (tenant,
table, column, row id); nothing readable about a person is stored. What stays in the clear
is what the database needs to keep rows together: ids, the company a contact belongs to,
the country a company ID is interpreted under, and timestamps. Lists (e-mails, phones,
tags) are one encrypted JSON array each, so their number is not visible either.
"""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, time
from decimal import Decimal

import orjson
import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tenantry.platform import clock
from tenantry.platform.crypto import fields
from tenantry.platform.db import db, new_id
from tenantry.platform.tenancy import TenantScoped


class Sealed:
    """Read and write a row's encrypted columns; the row id is known before the first write."""

    __tablename__: str
    ENCRYPTED: tuple[str, ...] = ()
    LISTS: tuple[str, ...] = ()

    def _where(self, column: str) -> dict:
        if column not in self.ENCRYPTED:
            raise KeyError(f"{self.__tablename__}.{column} is not an encrypted column")
        if self.id is None:
            self.id = new_id()
        return {"tenant_id": self.tenant_id, "table": self.__tablename__, "column": column, "row_id": self.id}

    def seal(self, column: str, value, cipher: fields.TenantCipher | None = None):
        """Store `value` in `column` encrypted; returns it as `plain()` will read it back."""
        if column in self.LISTS:
            value = json.dumps(list(value or []), ensure_ascii=False) if value else None
        elif isinstance(value, str):
            value = value or None  # an empty optional field stores nothing, not an encrypted ""
        row_id = self._where(column)["row_id"]
        cipher = cipher or fields.TenantCipher(self.tenant_id)
        blob = cipher.encrypt(value, table=self.__tablename__, column=column, row_id=row_id)
        setattr(self, column, blob)
        shaped = self._shaped(column, value)
        self._remember(column, blob, shaped)
        return shaped

    def _remember(self, column: str, blob, shaped) -> None:
        # What this object just sealed, so that answering a write (the API returns the object)
        # need not decrypt it again. Kept with the very ciphertext object it belongs to: a
        # reload after commit, or any other value set, is a different object and is opened.
        opened = self.__dict__.get("_opened")
        if opened is None or opened[0] != (self.tenant_id, self.id):
            opened = self.__dict__["_opened"] = ((self.tenant_id, self.id), {})
        opened[1][column] = (blob, shaped)

    def seal_all(self, values: dict, cipher: fields.TenantCipher | None = None) -> dict:
        """`seal` of several columns with the tenant's active key looked up once; returns them
        as `plain()` reads them, so that a write's audit snapshot need not decrypt them again."""
        cipher = cipher or fields.TenantCipher(self.tenant_id)
        return {column: self.seal(column, value, cipher) for column, value in values.items()}

    def reveal(self, column: str):
        return self._shaped(column, fields.decrypt(getattr(self, column), **self._where(column)))

    def _shaped(self, column: str, value):
        return self._shaped_row({column: value})[column]

    @classmethod
    def _shaped_row(cls, opened: dict) -> dict:
        """Decrypted (or about to be sealed) columns as plain() gives them: lists parsed,
        nothing as ""."""
        return cls._shaped_pairs(opened.items())

    @classmethod
    def _shaped_pairs(cls, pairs) -> dict:
        lists = cls.LISTS
        return {column: (orjson.loads(value) if value else []) if column in lists else (value or "")
                for column, value in pairs}

    def plain(self, reader: fields.Reader | None = None) -> dict:
        """Every encrypted column in plain form; pass a `fields.Reader` of the row's tenant
        when opening many rows (plain_all)."""
        if self.id is None:
            self.id = new_id()
        loaded = self.__dict__  # the ORM keeps loaded column values here; others load on getattr
        blobs = {column: loaded[column] if column in loaded else getattr(self, column) for column in self.ENCRYPTED}
        opened = loaded.get("_opened")
        if opened is None:  # a row read from the database: the common case, kept short
            return self._shaped_row((reader or fields.Reader(self.tenant_id)).open_row(
                blobs, self.__tablename__, self.id))
        known = {}
        if opened[0] == (self.tenant_id, self.id):
            for column, (blob, shaped) in opened[1].items():
                if blobs.get(column) is blob:
                    known[column] = list(shaped) if isinstance(shaped, list) else shaped
                    del blobs[column]
        fresh = self._shaped_row((reader or fields.Reader(self.tenant_id)).open_row(
            blobs, self.__tablename__, self.id)) if blobs else {}
        return {column: known[column] if column in known else fresh[column] for column in self.ENCRYPTED}

    @classmethod
    def plain_of(cls, reader: fields.Reader, row_id, blobs) -> dict:
        """`plain()` of a row read as values rather than loaded: its ENCRYPTED columns' blobs,
        in that order, opened with a Reader of the row's tenant."""
        return cls._shaped_pairs(zip(cls.ENCRYPTED, reader.open_values(cls.__tablename__, cls.ENCRYPTED, blobs, row_id),
                                     strict=True))

    @classmethod
    def plain_all(cls, rows) -> list[dict]:
        """`plain()` of each row, with each tenant's keys looked up once for all of them."""
        readers: dict = {}
        out = []
        for row in rows:
            reader = readers.get(row.tenant_id)
            if reader is None:
                reader = readers[row.tenant_id] = fields.Reader(row.tenant_id)
            out.append(row.plain(reader))
        return out

    # Clear columns whose changes the audit trail keeps too (ids, amounts, dates; no personal data).
    TRACKED: tuple[str, ...] = ()

    def snapshot(self, sealed: dict | None = None) -> dict:
        """Every field a person can change, in plain form, for audit.diff: a change's old and
        new values are sealed into the trail under the tenant's key [DPA-B.logging]. `sealed`:
        what seal_all just returned for every encrypted column (else they are decrypted)."""
        plain = sealed if sealed is not None and set(sealed) == set(self.ENCRYPTED) else self.plain()
        return {**{column: getattr(self, column) for column in self.TRACKED}, **plain}


class Changed:
    """`changed_at`: when anything about the row last changed, by whatever means: a person's or
    an integration's edit, and also a retention rule's anonymising or a restriction, which
    leave `updated_at` (the last edit) as it was. The ORM and every UPDATE statement set it
    (onupdate); a re-encryption under a new key version keeps it (rotation: no change of
    content). The API's `changed_since` goes by it, for an integration's incremental sync."""

    changed_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)


class Company(Changed, Sealed, TenantScoped, db.Model):
    __tablename__ = "companies"
    ENCRYPTED = ("name", "company_number", "vat_id", "address", "iban", "website", "notes")
    TRACKED = ("country",)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    # The country the company ID is read under (IČO checksum for CZ); not personal data.
    country: Mapped[str] = mapped_column(sa.String(2))
    name: Mapped[bytes] = mapped_column(sa.LargeBinary)
    company_number: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    vat_id: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    address: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    iban: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    website: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    notes: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)
    # Raised by every write of the row (version_id_col: an UPDATE or DELETE based on an older
    # version matches nothing). A form and an API If-Match carry it [crm/versions.py].
    version: Mapped[int] = mapped_column(server_default="1")
    __mapper_args__ = {"version_id_col": version}

    __table_args__ = (
        # API lists page by (created_at, id) [bench/crm.py]: without it every page sorts the tenant.
        sa.Index("ix_companies_tenant_created", "tenant_id", "created_at", "id"),
        sa.Index("ix_companies_tenant_changed", "tenant_id", "changed_at"),
        sa.UniqueConstraint("tenant_id", "id"),
    )


class Contact(Changed, Sealed, TenantScoped, db.Model):
    __tablename__ = "contacts"
    ENCRYPTED = ("first_name", "last_name", "emails", "phones", "address", "position", "notes", "tags")
    LISTS = ("emails", "phones", "tags")
    TRACKED = ("company_id",)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    company_id: Mapped[uuid.UUID | None]
    first_name: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    last_name: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    emails: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    phones: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    address: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    position: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    notes: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    tags: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)
    version: Mapped[int] = mapped_column(server_default="1")  # as Company.version
    __mapper_args__ = {"version_id_col": version}
    # Set by a data subject request (subject_requests): restricted [DSR-restrict] = kept but hidden
    # from lists, search, edits and list exports until lifted; objected [DSR-object] = left out
    # of bulk processing (list exports, the API's contact list).
    restricted_at: Mapped[datetime | None]
    objected_at: Mapped[datetime | None]

    __table_args__ = (
        # API lists page by (created_at, id) [bench/crm.py]: without it every page sorts the tenant.
        sa.Index("ix_contacts_tenant_created", "tenant_id", "created_at", "id"),
        sa.Index("ix_contacts_tenant_changed", "tenant_id", "changed_at"),
        sa.UniqueConstraint("tenant_id", "id"),
        # Composite: the database refuses a contact pointing at another tenant's company. No
        # ON DELETE SET NULL, which would null tenant_id too; deleting a company detaches its
        # contacts first (companies.delete).
        sa.ForeignKeyConstraint(["tenant_id", "company_id"], ["companies.tenant_id", "companies.id"]),
        sa.Index("ix_contacts_tenant_company", "tenant_id", "company_id"),
    )


COMPANY, CONTACT, DEAL = "company", "contact", "deal"


class SearchIndex(TenantScoped, db.Model):
    """Blind-index digests of a row's searchable values: e-mail, phone, company ID, every
    single word of a name (a deal's title counts as its name) and each whole tag. HMACs under
    the tenant's index key, so they reveal only equality within one tenant."""

    __tablename__ = "crm_search_index"

    entity: Mapped[str] = mapped_column(sa.String(8))
    row_id: Mapped[uuid.UUID]
    kind: Mapped[str] = mapped_column(sa.String(12))
    digest: Mapped[str] = mapped_column(sa.String(64))

    __table_args__ = (
        sa.PrimaryKeyConstraint("tenant_id", "entity", "row_id", "kind", "digest"),
        sa.Index("ix_crm_search_index_lookup", "tenant_id", "kind", "digest"),
        sa.CheckConstraint("entity in ('company', 'contact', 'deal')", name="entity"),
        sa.CheckConstraint("kind in ('email', 'phone', 'company_id', 'name', 'tag')", name="kind"),
    )


class SearchIndexBuild(TenantScoped, db.Model):
    """How far a tenant's index has been rebuilt for the current index version.

    A new kind of digest (contacts' tags in version 2, deals' titles in version 3) exists only
    for rows saved since; the sweep rebuilds the older rows in batches, resuming after
    `after_id`. Until `version` reaches a kind's, searches by that kind decrypt instead of
    trusting the index.
    """

    __tablename__ = "crm_search_index_builds"

    version: Mapped[int] = mapped_column(default=0)
    after_id: Mapped[uuid.UUID | None]
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)

    __table_args__ = (sa.PrimaryKeyConstraint("tenant_id"),)


class PipelineStage(TenantScoped, db.Model):
    """One step of a tenant's own sales pipeline. Stage names describe the tenant's process,
    not people, so they stay in the clear (and can be ordered and made unique in SQL)."""

    __tablename__ = "pipeline_stages"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(sa.String(60))
    position: Mapped[int]
    is_won: Mapped[bool] = mapped_column(default=False)
    is_lost: Mapped[bool] = mapped_column(default=False)
    # The chance, in per cent, that a deal in this stage is won: what the weighted forecast
    # counts of its value. A won stage is 100 and a lost one 0, by definition.
    probability: Mapped[int] = mapped_column(sa.SmallInteger, default=100, server_default="100")
    created_at: Mapped[datetime] = mapped_column(default=clock.now)

    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "id"),
        # Also what makes seeding the defaults safe when two first requests race.
        sa.UniqueConstraint("tenant_id", "name"),
        sa.CheckConstraint("not (is_won and is_lost)", name="won_or_lost"),
        sa.CheckConstraint("probability between 0 and 100", name="probability_range"),
        sa.CheckConstraint("(not is_won or probability = 100) and (not is_lost or probability = 0)",
                           name="probability_of_outcome"),
    )


class LostReason(TenantScoped, db.Model):
    """Why a deal was lost, from the workspace's own list (managed beside the pipeline stages).
    Reasons describe the sale, not people, so they stay in the clear: grouped in SQL by the
    sales report."""

    __tablename__ = "lost_reasons"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(sa.String(80))
    position: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=clock.now)

    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "id"),
        # Also what makes seeding the defaults safe when two first requests race.
        sa.UniqueConstraint("tenant_id", "name"),
    )


class Deal(Changed, Sealed, TenantScoped, db.Model):
    __tablename__ = "deals"
    # The title often names a person ("Renewal for Jana Nováková"), so it is ciphertext.
    ENCRYPTED = ("title",)
    TRACKED = ("value", "currency", "stage_id", "expected_close", "contact_id", "company_id", "owner_id",
               "lost_reason_id", "probability")

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    title: Mapped[bytes] = mapped_column(sa.LargeBinary)
    # Three decimal places: the most any active ISO 4217 currency uses (BHD, KWD, ...).
    value: Mapped[Decimal] = mapped_column(sa.Numeric(18, 3))
    currency: Mapped[str] = mapped_column(sa.String(3))
    stage_id: Mapped[uuid.UUID]
    expected_close: Mapped[date | None]
    contact_id: Mapped[uuid.UUID | None]
    company_id: Mapped[uuid.UUID | None]
    # A user, not a membership: removing a member must not be blocked by the deals they own;
    # the service checks membership when the owner is chosen.
    owner_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)
    # When the deal entered the stage it is in: how long it has waited there, and when a won
    # or lost deal was closed (the dashboard's "won this month").
    stage_changed_at: Mapped[datetime] = mapped_column(default=clock.now)
    # Why a lost deal was lost (the workspace's LostReason); none until someone says, and none
    # for a deal that is not in a lost stage (deals.py clears it when the deal leaves one).
    lost_reason_id: Mapped[uuid.UUID | None]
    # The seller's own estimate, in per cent, that this deal is won, over its stage's (None: the
    # stage's). It counts only while the deal is open: a won deal counts 100 and a lost one 0
    # (deals.win_probability), and it is kept for when a closed deal is opened again.
    probability: Mapped[int | None] = mapped_column(sa.SmallInteger)
    version: Mapped[int] = mapped_column(server_default="1")  # as Company.version
    __mapper_args__ = {"version_id_col": version}

    __table_args__ = (
        # API lists page by (created_at, id) [bench/crm.py]: without it every page sorts the tenant.
        sa.Index("ix_deals_tenant_created", "tenant_id", "created_at", "id"),
        sa.Index("ix_deals_tenant_changed", "tenant_id", "changed_at"),
        sa.UniqueConstraint("tenant_id", "id"),
        sa.ForeignKeyConstraint(["tenant_id", "stage_id"], ["pipeline_stages.tenant_id", "pipeline_stages.id"]),
        sa.ForeignKeyConstraint(["tenant_id", "contact_id"], ["contacts.tenant_id", "contacts.id"]),
        sa.ForeignKeyConstraint(["tenant_id", "company_id"], ["companies.tenant_id", "companies.id"]),
        sa.ForeignKeyConstraint(["tenant_id", "lost_reason_id"], ["lost_reasons.tenant_id", "lost_reasons.id"]),
        sa.CheckConstraint("value >= 0", name="value_not_negative"),
        sa.CheckConstraint("probability between 0 and 100", name="probability_range"),
        sa.Index("ix_deals_tenant_stage", "tenant_id", "stage_id"),
        sa.Index("ix_deals_tenant_contact", "tenant_id", "contact_id"),
        sa.Index("ix_deals_tenant_company", "tenant_id", "company_id"),
    )


# What each kind is called on pages and in the form (one place for the form, the timeline and the dashboard).
ACTIVITY_KIND_LABELS = {"call": "Call", "meeting": "Meeting", "email": "E-mail", "task": "Task"}
ACTIVITY_KINDS = tuple(ACTIVITY_KIND_LABELS)


class Activity(Changed, Sealed, TenantScoped, db.Model):
    __tablename__ = "activities"
    ENCRYPTED = ("note",)
    TRACKED = ("kind", "due_on", "due_time", "done", "owner_id")

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(sa.String(10))
    due_on: Mapped[date | None]
    # The time of day on due_on, on the workspace's clock (local_time), as a meeting's; none for
    # an activity of the whole day. It is overdue from the minute after (overdue.py).
    due_time: Mapped[time | None]
    done: Mapped[bool] = mapped_column(default=False)
    done_at: Mapped[datetime | None]
    note: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    contact_id: Mapped[uuid.UUID | None]
    company_id: Mapped[uuid.UUID | None]
    deal_id: Mapped[uuid.UUID | None]
    # Who is to do it: a member of the workspace, as a deal's owner (a user who is deleted
    # leaves it to nobody).
    owner_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    version: Mapped[int] = mapped_column(server_default="1")  # as Company.version
    __mapper_args__ = {"version_id_col": version}

    __table_args__ = (
        # API lists page by (created_at, id) [bench/crm.py]: without it every page sorts the tenant.
        sa.Index("ix_activities_tenant_created", "tenant_id", "created_at", "id"),
        sa.Index("ix_activities_tenant_changed", "tenant_id", "changed_at"),
        sa.Index("ix_activities_tenant_owner", "tenant_id", "owner_id"),
        sa.UniqueConstraint("tenant_id", "id"),
        sa.ForeignKeyConstraint(["tenant_id", "contact_id"], ["contacts.tenant_id", "contacts.id"]),
        sa.ForeignKeyConstraint(["tenant_id", "company_id"], ["companies.tenant_id", "companies.id"]),
        sa.ForeignKeyConstraint(["tenant_id", "deal_id"], ["deals.tenant_id", "deals.id"]),
        sa.CheckConstraint("kind in ('call', 'meeting', 'email', 'task')", name="kind"),
        sa.CheckConstraint("due_time IS NULL OR due_on IS NOT NULL", name="due_time_has_date"),
        sa.CheckConstraint(
            "(CASE WHEN contact_id IS NULL THEN 0 ELSE 1 END) + (CASE WHEN company_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN deal_id IS NULL THEN 0 ELSE 1 END) = 1", name="one_subject"),
        sa.Index("ix_activities_tenant_contact", "tenant_id", "contact_id"),
        sa.Index("ix_activities_tenant_company", "tenant_id", "company_id"),
        sa.Index("ix_activities_tenant_deal", "tenant_id", "deal_id"),
    )


class ActivityReminder(TenantScoped, db.Model):
    """A member's e-mails about what is assigned to them: the morning one of their activities due
    (crm/reminders.py) and those of new assignments (crm/assignments.py). Whether they want them
    (a member without a row does), and the day the morning one was last sent, so that a sweep
    run again the same day sends nothing twice."""

    __tablename__ = "crm_activity_reminders"

    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    enabled: Mapped[bool] = mapped_column(default=True)
    last_sent_on: Mapped[date | None]
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)

    __table_args__ = (sa.PrimaryKeyConstraint("tenant_id", "user_id"),)


class ReminderRun(TenantScoped, db.Model):
    """The day the morning reminders of a tenant were last sent (crm/reminders.py), so that the
    sweep, which runs every minute, looks at each workspace's activities once a day."""

    __tablename__ = "crm_reminder_runs"

    last_sent_on: Mapped[date]

    __table_args__ = (sa.PrimaryKeyConstraint("tenant_id"),)
