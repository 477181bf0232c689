"""CSV import of contacts and companies: read, preview with errors row by row, then write.

- Decoding: UTF-8 with or without a BOM, else Windows-1250 (what Czech Excel saves); a file
  that is neither, or is not text at all, is refused with a message saying how to save it.
- The delimiter (comma, semicolon or tab) is read off the header line.
- Headers map case- and accent-insensitively onto the export's own headers, the form's
  field names and common aliases ("E-mail", "Příjmení", "IČO").
- Each row goes through the very form the UI uses (ContactForm / CompanyForm), so an import
  accepts and normalises exactly what a person typing could save.
- Duplicates are flagged: within the file, and against existing records through the e-mail
  (contacts) or company ID (companies) blind index.
- Between preview and import the upload is kept in object storage encrypted under the
  tenant's key (`tenants/<id>/imports/<import id>`), and deleted once imported, discarded
  or expired. Rejected rows handed back are kept the same way until they expire.
- Writing is batched Core inserts inside the request's one transaction; the tenant's keys
  are looked up once (fields.TenantCipher). "Import all" writes nothing unless every row
  is valid.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import io
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.datastructures import MultiDict

from tenantry.platform import audit, clock, storage
from tenantry.platform.crypto import fields, file_sealing
from tenantry.platform.csv_cells import FORMULA_LEADS, INNER_DEFUSED
from tenantry.platform.db import by_id, db, new_id
from tenantry.platform.tenancy import Tenant, TenantScoped, all_tenants, current_tenant, tenant_context

from . import companies, contacts, custom_fields, forms, search
from .companies import CompanyData
from .contacts import ContactData
from .models import COMPANY, CONTACT, Company, Contact, SearchIndex

MAX_BYTES = 10 * 1024 * 1024
MAX_ROWS = 20_000
BATCH = 1000
KEEP_FOR = timedelta(hours=24)
PREVIEW_ERRORS = 500
PREVIEW_VALID = 20

PREVIEWED, IMPORTED, DISCARDED, EXPIRED = "previewed", "imported", "discarded", "expired"


class CsvImport(TenantScoped, db.Model):
    """One uploaded file between its preview and its import; counts only, never values."""

    __tablename__ = "crm_imports"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    entity: Mapped[str] = mapped_column(sa.String(8))
    status: Mapped[str] = mapped_column(sa.String(10), default=PREVIEWED)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    expires_at: Mapped[datetime]
    rows_total: Mapped[int] = mapped_column(default=0)
    rows_valid: Mapped[int] = mapped_column(default=0)
    rows_imported: Mapped[int] = mapped_column(default=0)
    file_key: Mapped[str | None] = mapped_column(sa.String(200))
    rejected_key: Mapped[str | None] = mapped_column(sa.String(200))
    finished_at: Mapped[datetime | None]

    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "id"),
        sa.CheckConstraint("entity in ('contact', 'company')", name="entity"),
        sa.CheckConstraint("status in ('previewed', 'imported', 'discarded', 'expired')", name="status"),
        sa.Index("ix_crm_imports_expires", "status", "expires_at"),
    )


class ImportFileError(ValueError):
    """The file as a whole cannot be read; the message says what to do."""


# --- reading the file ----------------------------------------------------------------------

_BINARY = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


# A UTF-8 sequence for a letter (two or three bytes). Windows-1250 text practically never
# holds one: it would read as "Ăˇ" or "Ĺ™".
_UTF8_LETTER = re.compile(rb"[\xc3-\xc5][\x80-\xbf]|\xe2[\x80-\x82][\x80-\xbf]")


def _line_of(data: bytes, at: int) -> int:
    return data.count(b"\n", 0, at) + 1


def decode(data: bytes) -> str:
    # DOS-era tools end a text file with Ctrl-Z.
    data = data.rstrip(b"\x1a")
    if not data.strip():
        raise ImportFileError("The file is empty.")
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ImportFileError("The file says it is UTF-8 but is not: save it again as “CSV UTF-8”.") from None
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            if _UTF8_LETTER.search(data):
                # Mostly UTF-8 with a stray byte (pasted from another file): read as
                # Windows-1250 every accented letter would come out wrong, so say where.
                raise ImportFileError(f"Line {_line_of(data, exc.start)} is not UTF-8 text, the rest of the file "
                                      "is: fix that line, save the file as “CSV UTF-8” and upload it again.") from None
            try:
                text = data.decode("cp1250")
            except UnicodeDecodeError:
                raise ImportFileError("The file is neither UTF-8 nor Windows-1250 text: save it as “CSV UTF-8” "
                                      "and upload it again.") from None
    if _BINARY.search(text):
        raise ImportFileError("This is not a text CSV file (it contains control characters): save it as "
                              "“CSV UTF-8” and upload it again.")
    if not text.strip():
        raise ImportFileError("The file is empty.")
    return text


def _delimiter(text: str) -> str:
    """The delimiter of the header line, counted outside quotes: the most frequent of , ; tab."""
    header = next((line for line in text.splitlines() if line.strip()), "")
    counts = {",": 0, ";": 0, "\t": 0}
    quoted = False
    for ch in header:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _uncell(value: str) -> str:
    # Our exports defuse formula cells with a leading apostrophe (csv_cells.safe_cell); take it
    # off again so "'+420601234567" re-imports as the phone number it was.
    value = value.strip()
    if "'" in value:
        value = INNER_DEFUSED.sub(r"\1\2", value)
    if len(value) > 1 and value[0] == "'" and value[1] in FORMULA_LEADS:
        return value[1:]
    return value


# A cell may be as long as the upload; the form's own length limits then say which is too long.
csv.field_size_limit(MAX_BYTES)
_SEP_LINE = re.compile(r"\Asep=([,;\t|])[ \t]*\r?\n", re.IGNORECASE)


def _read(text: str, delimiter: str) -> list[list[str]]:
    def rows(strict: bool) -> list[list[str]]:
        return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=strict))

    try:
        return rows(True)
    except csv.Error as exc:
        lenient = rows(False)  # also what a spreadsheet makes of a stray quote mid-cell
        if "end of data" in str(exc):
            # A quote opened and never closed: the rest of the file would be one cell.
            raise ImportFileError(f"Row {len(lenient)} opens a quoted value (\") that is never closed, so "
                                  "every line after it would land in one cell: close the quote and upload "
                                  "the file again.") from None
        return lenient


def _split_off_sep(text: str) -> tuple[str, str]:
    """The text after Excel's "sep=;" first line, which names the delimiter (Excel hides it,
    so the header stays row 1), and the delimiter: named there, or read off the header."""
    sep = _SEP_LINE.match(text)
    if sep:
        return text[sep.end():], sep.group(1)
    return text, _delimiter(text)


def delimiter_of(text: str) -> str:
    return _split_off_sep(text)[1]


def parse(text: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    text, delimiter = _split_off_sep(text)
    try:
        rows = _read(text, delimiter)
    except csv.Error as exc:
        raise ImportFileError(f"The file is not valid CSV ({exc}).") from None
    # Numbered as a spreadsheet shows them (the header is row 1), blank rows skipped but counted.
    numbered = [(i + 1, r) for i, r in enumerate(rows) if any(cell.strip() for cell in r)]
    if not numbered:
        raise ImportFileError("The file is empty.")
    (_, header), body = numbered[0], numbered[1:]
    if not body:
        raise ImportFileError("The file has a header line but no rows.")
    if len(body) > MAX_ROWS:
        raise ImportFileError(f"At most {MAX_ROWS:,} rows per file: split it and import the parts.")
    return [h.strip() for h in header], [(n, [_uncell(c) for c in r]) for n, r in body]


# --- mapping headers -----------------------------------------------------------------------


def fold_header(value: str) -> str:
    return re.sub(r"[^a-z0-9]", "", fields.fold(value.replace("\ufeff", "")))


CONTACT_ALIASES = {
    "first_name": ["first name", "firstname", "first", "given name", "forename", "jméno", "křestní jméno"],
    "last_name": ["surname", "last name", "lastname", "family name", "příjmení"],
    "emails": ["e-mails", "emails", "e-mail", "email", "mail", "email address", "e-mailová adresa"],
    "phones": ["phones", "phone", "telephone", "tel", "mobile", "phone number", "telefon", "mobil"],
    "address": ["address", "postal address", "adresa"],
    "company": ["company", "company name", "organisation", "organization", "firma", "společnost"],
    "position": ["position", "job title", "title", "role", "pozice", "funkce"],
    "notes": ["notes", "note", "comment", "comments", "poznámka", "poznámky"],
    "tags": ["tags", "tag", "labels", "štítky"],
}
COMPANY_ALIASES = {
    "name": ["name", "company name", "company", "název", "firma"],
    "country": ["country of registration", "country", "country code", "země", "stát"],
    "company_number": ["company id", "company number", "company_number", "ičo", "ič", "registration number",
                       "reg no"],
    "vat_id": ["vat id", "vat", "vat number", "dič", "tax id"],
    "address": ["registered seat and address", "address", "registered address", "seat", "sídlo", "adresa"],
    "iban": ["bank account (iban)", "iban", "bank account", "účet"],
    "website": ["website", "web", "url", "www"],
    "notes": ["notes", "note", "comment", "poznámka", "poznámky"],
}
CONTACT_HEADERS = ["First name", "Surname", "E-mails", "Phones", "Address", "Company", "Position", "Notes", "Tags"]
CONTACT_COLUMNS = ["first_name", "last_name", "emails", "phones", "address", "company", "position", "notes", "tags"]
COMPANY_HEADERS = ["Name", "Country of registration", "Company ID", "VAT ID", "Registered seat and address",
                   "Bank account (IBAN)", "Website", "Notes"]
COMPANY_COLUMNS = ["name", "country", "company_number", "vat_id", "address", "iban", "website", "notes"]


def names_a_contact_column(name: str) -> bool:
    """Whether an import reads a column of this name as one of a contact's own fields (or the
    error column of rejected rows)."""
    return fold_header(name) in {*_aliases(CONTACT, []), *map(fold_header, CONTACT_HEADERS), "error"}


def _aliases(entity: str, definitions: list) -> dict[str, str]:
    table = CONTACT_ALIASES if entity == CONTACT else COMPANY_ALIASES
    out = {}
    for column, names in table.items():
        for name in [column, *names]:
            out.setdefault(fold_header(name), column)
    if entity == CONTACT:
        for d in definitions:
            for name in (d.label, d.key, d.form_name):
                out.setdefault(fold_header(name), d.form_name)
    return out


@dataclass
class Mapping:
    columns: dict[int, str]  # file column index -> form field name
    ignored: list[str]


def map_headers(entity: str, header: list[str], definitions: list) -> Mapping:
    aliases = _aliases(entity, definitions)
    columns: dict[int, str] = {}
    ignored = []
    for index, name in enumerate(header):
        target = aliases.get(fold_header(name))
        if target is None:
            if name:
                ignored.append(name)
            continue
        if target in columns.values():
            raise ImportFileError(f"Two columns mean the same field (“{name}”): keep one.")
        columns[index] = target
    required = {"first_name", "last_name"} if entity == CONTACT else {"name"}
    if not required & set(columns.values()):
        expected = ", ".join(CONTACT_HEADERS if entity == CONTACT else COMPANY_HEADERS)
        raise ImportFileError(f"No column of the header line is one we know. Expected headers such as: {expected}.")
    return Mapping(columns, ignored)


# --- validating rows -----------------------------------------------------------------------


@dataclass
class Row:
    number: int  # the row in a spreadsheet: the header is 1
    cells: list[str]
    errors: list[str] = field(default_factory=list)
    data: ContactData | CompanyData | None = None
    custom: dict[str, str] = field(default_factory=dict)  # custom field id -> normalised value
    keys: list[str] = field(default_factory=list)  # blind-index digests checked for duplicates

    @property
    def valid(self) -> bool:
        return not self.errors


@dataclass
class Checked:
    entity: str
    header: list[str]
    ignored: list[str]
    rows: list[Row]
    field_ids: list[str]  # the custom fields the values were checked against (custom_fields.checked_against)
    delimiter: str = ","  # the file's: the rejected rows go back in it

    @property
    def valid(self) -> list[Row]:
        return [r for r in self.rows if r.valid]

    @property
    def invalid(self) -> list[Row]:
        return [r for r in self.rows if not r.valid]

    def dump(self) -> bytes:
        return json.dumps({
            "entity": self.entity, "header": self.header, "ignored": self.ignored, "field_ids": self.field_ids,
            "delimiter": self.delimiter,
            "rows": [{"n": r.number, "cells": r.cells, "errors": r.errors, "custom": r.custom, "keys": r.keys,
                      "data": dataclasses.asdict(r.data) if r.data is not None else None} for r in self.rows],
        }, ensure_ascii=False, default=str).encode()

    @classmethod
    def load(cls, blob: bytes) -> Checked:
        payload = json.loads(blob)
        make = _contact_data if payload["entity"] == CONTACT else (lambda d: CompanyData(**d))
        rows = [Row(r["n"], r["cells"], r["errors"], make(r["data"]) if r["data"] is not None else None,
                    r["custom"], r["keys"]) for r in payload["rows"]]
        return cls(payload["entity"], payload["header"], payload["ignored"], rows, payload["field_ids"],
                   payload.get("delimiter", ","))


def _contact_data(d: dict) -> ContactData:
    return ContactData(**{**d, "company_id": uuid.UUID(d["company_id"]) if d["company_id"] else None})


def _form_errors(form) -> list[str]:
    out = []
    for name, messages in form.errors.items():
        label = getattr(form, name).label.text if hasattr(form, name) else name
        out.extend(f"{label}: {m}" for m in messages)
    return out


def _company_lookup() -> tuple[dict[str, str], set[str]]:
    """Folded company name -> id, and the folded names more than one company has."""
    names: dict[str, str] = {}
    ambiguous = set()
    for company_id, name in companies.choices():
        key = fields.fold(name).strip()
        if key in names:
            ambiguous.add(key)
        names[key] = company_id
    return names, ambiguous


def check(entity: str, text: str) -> Checked:
    header, body = parse(text)
    definitions = custom_fields.usable() if entity == CONTACT else []
    mapping = map_headers(entity, header, definitions)
    cipher = fields.TenantCipher(current_tenant.id)
    rows = [Row(number=n, cells=cells, errors=_shape_errors(cells, header)) for n, cells in body]
    mapping.ignored.extend(f"column {i + 1} (no header)" for i, name in enumerate(header)
                           if not name and any(i < len(cells) and cells[i] for _, cells in body))
    if entity == CONTACT:
        _check_contacts(rows, mapping, definitions, cipher)
    else:
        _check_companies(rows, mapping, cipher)
    return Checked(entity, header, mapping.ignored, rows, custom_fields.checked_against(definitions),
                   delimiter_of(text))


def _shape_errors(cells: list[str], header: list[str]) -> list[str]:
    # Cells past the header's last column hold a value that is in no column: most often a
    # note with an unquoted comma, which would otherwise be cut short without a word.
    extra = [c for c in cells[len(header):] if c]
    if not extra:
        return []
    return [f"This row has {len(header) + len(extra)} values but the header names {len(header)} columns "
            f"(“{extra[0][:40]}” is in no column): a value containing the delimiter needs quotes."]


def _formdata(row: Row, mapping: Mapping) -> MultiDict:
    data = MultiDict()
    for index, name in mapping.columns.items():
        data[name] = row.cells[index] if index < len(row.cells) else ""
    return data


def _check_contacts(rows: list[Row], mapping: Mapping, definitions: list, cipher: fields.TenantCipher) -> None:
    names, ambiguous = _company_lookup()
    choices = [(company_id, company_id) for company_id in names.values()]
    form_class = type("ImportContactForm", (forms.ContactForm,),
                      {d.form_name: custom_fields.form_field(d) for d in definitions})
    for row in rows:
        data = _formdata(row, mapping)
        # The form reads phones one per line; a spreadsheet cell lists them with commas too.
        data["phones"] = "\n".join(p for p in re.split(r"[,;\n]", data.get("phones", "")) if p.strip())
        # Tags likewise: the form takes them comma-separated, a spreadsheet has ";" too.
        data["tags"] = ", ".join(t for t in re.split(r"[,;\n]", data.get("tags", "")) if t.strip())
        company = fields.fold(data.get("company", "")).strip()
        if company:
            if company in ambiguous:
                row.errors.append(f"Company: several companies are named “{data['company']}”; set it by hand.")
            elif company not in names:
                row.errors.append(f"Company: no company named “{data['company']}”; create it first.")
            data["company"] = names.get(company, "")
        form = form_class(formdata=data, meta={"csrf": False}, company_choices=choices)
        form.custom_definitions = definitions
        if form.validate() and not row.errors:
            row.data = form.data_for_service()
            row.custom = {str(k): v for k, v in custom_fields.form_values(form).items() if v}
            row.keys = [cipher.blind_index("email", e) for e in row.data.emails]
        row.errors.extend(_form_errors(form))
    _flag_duplicates(rows, CONTACT, "email", "E-mails: the same e-mail address as row {}", DUPLICATE[CONTACT][1])


def _check_companies(rows: list[Row], mapping: Mapping, cipher: fields.TenantCipher) -> None:
    for row in rows:
        data = _formdata(row, mapping)
        data["country"] = (data.get("country") or current_tenant.country).strip().upper()
        form = forms.CompanyForm(formdata=data, meta={"csrf": False})
        if form.validate():
            row.data = form.data_for_service()
            row.keys = [cipher.blind_index("company_id", v)
                        for v in search.company_id_values(row.data.company_number, row.data.vat_id)]
        row.errors.extend(_form_errors(form))
    _flag_duplicates(rows, COMPANY, "company_id", "Company ID: the same company or VAT ID as row {}",
                     DUPLICATE[COMPANY][1])


def _flag_duplicates(rows: list[Row], entity: str, kind: str, in_file: str, existing: str) -> None:
    first: dict[str, int] = {}
    for row in rows:
        for digest in row.keys:
            if digest in first and first[digest] != row.number:
                row.errors.append(in_file.format(first[digest]))
                break
            first.setdefault(digest, row.number)
    _flag_existing(rows, entity, kind, existing)


DUPLICATE = {CONTACT: ("email", "E-mails: a contact with this e-mail address exists already"),
             COMPANY: ("company_id", "Company ID: a company with this company or VAT ID exists already")}


def _flag_existing(rows: list[Row], entity: str, kind: str, message: str) -> None:
    """Rows whose e-mail (contacts) or company ID (companies) is already in the index."""
    digests = list({d for row in rows for d in row.keys})
    found: set[str] = set()
    for start in range(0, len(digests), 500):
        found.update(db.session.execute(sa.select(SearchIndex.digest).where(
            SearchIndex.tenant_id == current_tenant.id, SearchIndex.entity == entity, SearchIndex.kind == kind,
            SearchIndex.digest.in_(digests[start:start + 500]))).scalars())
    for row in rows:
        if any(d in found for d in row.keys) and message not in row.errors:
            row.errors.append(message)


def recheck(checked: Checked) -> None:
    """What may have changed since the preview: records added meanwhile (duplicates now),
    companies deleted, custom fields changed. Raises ImportFileError for the last."""
    if checked.entity == CONTACT and checked.field_ids != custom_fields.checked_against(custom_fields.usable()):
        raise ImportFileError("The custom fields changed since the preview: upload the file again.")
    valid = checked.valid
    _flag_existing(valid, checked.entity, *DUPLICATE[checked.entity])
    if checked.entity == CONTACT:
        wanted = list({r.data.company_id for r in valid if r.data.company_id})
        there: set[uuid.UUID] = set()
        for start in range(0, len(wanted), 500):
            there.update(db.session.execute(sa.select(Company.id).where(
                Company.tenant_id == current_tenant.id, Company.id.in_(wanted[start:start + 500]))).scalars())
        for row in valid:
            if row.data.company_id and row.data.company_id not in there:
                row.errors.append("Company: this company was deleted after the preview.")


# --- writing -------------------------------------------------------------------------------


def _sealed(value):
    """What Sealed.seal stores for a value: lists as one JSON array, "" as nothing."""
    if isinstance(value, list):
        return json.dumps(value, ensure_ascii=False) if value else None
    return value or None


def _insert(table, rows: list[dict]) -> None:
    if rows:
        db.session.execute(sa.insert(table), rows)


def write(checked: Checked) -> int:
    """Insert every valid row, in batches; returns how many were written."""
    cipher = fields.TenantCipher(current_tenant.id)
    tid, now = current_tenant.id, clock.now()
    model = Contact if checked.entity == CONTACT else Company
    written = 0
    valid = checked.valid
    unindexed = custom_fields.unindexed() if checked.entity == CONTACT else frozenset()
    for start in range(0, len(valid), BATCH):
        records, index, values = [], [], []
        for row in valid[start:start + BATCH]:
            row_id = new_id()
            data = row.data
            record = {"id": row_id, "tenant_id": tid, "created_at": now, "updated_at": now}
            for column in model.ENCRYPTED:
                record[column] = cipher.encrypt(_sealed(getattr(data, column)), table=model.__tablename__,
                                                column=column, row_id=row_id)
            if checked.entity == CONTACT:
                record["company_id"] = data.company_id
                pairs = contacts.index_pairs({column: getattr(data, column) for column in Contact.ENCRYPTED}, cipher)
                values.extend(custom_fields.value_rows(cipher, row_id, {uuid.UUID(k): v for k, v in row.custom.items()},
                                                       skip=unindexed))
            else:
                record["country"] = data.country
                pairs = companies.index_pairs(data.sealed(), cipher)
            records.append(record)
            index.extend({"tenant_id": tid, "entity": checked.entity, "row_id": row_id, "kind": kind, "digest": d}
                         for kind, d in sorted(pairs))
        _insert(model.__table__, records)
        _insert(SearchIndex.__table__, index)
        _insert(custom_fields.CustomValue.__table__, values)
        written += len(records)
    return written


# --- the stored upload ---------------------------------------------------------------------


def _put(imp: CsvImport, key: str, data: bytes) -> None:
    # Sealed under the tenant's key, bound to its storage key: a copied object does not open.
    storage.storage().put(key, file_sealing.seal_stream(io.BytesIO(data), tenant_id=imp.tenant_id, purpose=key))


def _get(imp: CsvImport, key: str | None, gone: str) -> bytes:
    if not key:
        raise ImportFileError(gone)
    try:
        with storage.storage().open(key) as sealed:
            return b"".join(file_sealing.open_stream(sealed, tenant_id=imp.tenant_id, purpose=key))
    except storage.StorageUnavailable:
        raise  # not gone: the storage is down for now (a 503 that says so)
    except (storage.StorageError, file_sealing.FileSealError):
        raise ImportFileError(gone) from None


def start(entity: str, data: bytes, *, actor) -> tuple[CsvImport, Checked]:
    """Check an upload and keep it, encrypted, for its preview. Raises ImportFileError."""
    checked = check(entity, decode(data))
    imp = CsvImport(id=new_id(), tenant_id=current_tenant.id, entity=entity, created_by_id=actor.id,
                    created_at=clock.now(), expires_at=clock.now() + KEEP_FOR, rows_total=len(checked.rows),
                    rows_valid=len(checked.valid))
    # What is kept is the checked upload (cells, normalised values, errors): the preview and
    # the import then need no second pass through the validation.
    imp.file_key = f"tenants/{imp.tenant_id}/imports/{imp.id}.sealed"
    _put(imp, imp.file_key, checked.dump())
    db.session.add(imp)
    db.session.flush()
    audit.record("crm.import.previewed", actor=actor, tenant_id=imp.tenant_id, target_type="crm_import",
                 target_id=imp.id, details={"entity": entity, "rows": imp.rows_total, "valid": imp.rows_valid})
    return imp, checked


def get(import_id: uuid.UUID) -> CsvImport | None:
    return by_id(CsvImport, import_id)


def load(imp: CsvImport) -> Checked:
    gone = "This upload is no longer kept: upload the file again."
    if imp.status != PREVIEWED:
        raise ImportFileError(gone)
    return Checked.load(_get(imp, imp.file_key, gone))


class NotAllValid(ValueError):
    pass


def commit(imp: CsvImport, *, only_valid: bool, actor) -> Checked:
    """Write the rows. `only_valid=False` refuses (NotAllValid, nothing written) unless every
    row is valid; otherwise the rejected rows are kept, encrypted, for download."""
    checked = load(imp)
    # Claimed before anything is written: of two clicks (or tabs) committing one upload, the
    # second waits on this row and then finds it taken, instead of writing every row twice.
    claimed = db.session.execute(
        sa.update(CsvImport).where(CsvImport.tenant_id == imp.tenant_id, CsvImport.id == imp.id,
                                   CsvImport.status == PREVIEWED).values(status=IMPORTED)
        .execution_options(synchronize_session=False)).rowcount
    if claimed != 1:
        raise ImportFileError("This upload was imported or discarded meanwhile (another tab?): nothing more "
                              "was written.")
    recheck(checked)
    if not only_valid and checked.invalid:
        raise NotAllValid(f"{len(checked.invalid)} row(s) have errors: nothing was imported. Fix them, or import "
                          "only the valid rows.")
    imp.rows_total, imp.rows_valid = len(checked.rows), len(checked.valid)
    imp.rows_imported = write(checked)
    if checked.invalid:
        imp.rejected_key = f"tenants/{imp.tenant_id}/imports/{imp.id}-rejected.sealed"
        # The error first: after a row's own cells it would land under another column when the
        # row is short or long, and be imported as data once the file is fixed and re-uploaded.
        payload = json.dumps({"header": checked.header, "error_first": True, "delimiter": checked.delimiter,
                              "rows": [["; ".join(r.errors), *r.cells] for r in checked.invalid]},
                             ensure_ascii=False)
        _put(imp, imp.rejected_key, payload.encode())
    _drop_file(imp)
    imp.status, imp.finished_at = IMPORTED, clock.now()
    db.session.flush()
    audit.record("crm.import", actor=actor, tenant_id=imp.tenant_id, target_type="crm_import", target_id=imp.id,
                 details={"entity": imp.entity, "mode": "valid-only" if only_valid else "all",
                          "rows": imp.rows_total, "imported": imp.rows_imported,
                          "rejected": imp.rows_total - imp.rows_imported})
    return checked


def rejected(imp: CsvImport, *, actor) -> tuple[list[str], list[list[str]], str]:
    """The rejected rows' header and rows, and the delimiter of the file they came in (a
    spreadsheet that wrote ";" reads ";" back)."""
    payload = json.loads(_get(imp, imp.rejected_key, "The rejected rows are no longer kept."))
    audit.record("crm.import.rejected_downloaded", actor=actor, tenant_id=imp.tenant_id, target_type="crm_import",
                 target_id=imp.id, details={"rows": len(payload["rows"])})
    delimiter = payload.get("delimiter", ",")
    if payload.get("error_first"):
        return ["Error", *payload["header"]], payload["rows"], delimiter
    return [*payload["header"], "Error"], payload["rows"], delimiter  # kept before the error came first


def discard(imp: CsvImport, *, actor) -> None:
    _drop_file(imp)
    _drop_rejected(imp)
    if imp.status == PREVIEWED:
        imp.status, imp.finished_at = DISCARDED, clock.now()
    db.session.flush()
    audit.record("crm.import.discarded", actor=actor, tenant_id=imp.tenant_id, target_type="crm_import",
                 target_id=imp.id)


def _drop_file(imp: CsvImport) -> None:
    if imp.file_key:
        storage.storage().delete(imp.file_key)
        imp.file_key = None


def _drop_rejected(imp: CsvImport) -> None:
    if imp.rejected_key:
        storage.storage().delete(imp.rejected_key)
        imp.rejected_key = None


def expire(as_of: datetime) -> int:
    """The sweep step: uploads and rejected rows past their time are deleted. Idempotent."""
    with all_tenants():
        due = list(db.session.execute(sa.select(CsvImport).where(
            CsvImport.expires_at <= as_of,
            sa.or_(CsvImport.file_key.is_not(None), CsvImport.rejected_key.is_not(None)))).scalars())
    for imp in due:
        with tenant_context(db.session.get(Tenant, imp.tenant_id)):
            _drop_file(imp)
            _drop_rejected(imp)
            if imp.status == PREVIEWED:
                imp.status, imp.finished_at = EXPIRED, as_of
    return len(due)
