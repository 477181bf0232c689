"""The baseline of bench/crm.py: a plain Flask + SQLAlchemy app serving the contact endpoints
of /api/v1 the way an app without tenancy, audit trail or encryption would.

Same routes, same JSON shapes, same paging (limit 1-200, default 50, an opaque signed
cursor on (created_at, id)), same status codes for what the benchmark sends. The table has
plain columns, its primary key, a normal index on `email` (the primary e-mail, lower-case) and
one on (created_at, id) for the list's order, like Tenantry's (tenant_id, created_at, id)
(migration 0020), nothing else.

What it deliberately leaves out: OAuth2 (a static bearer token compared in constant time
instead of a token looked up in the database), tenant scoping and row-level security, the
audit events of reads and writes, the per-request anomaly job, field encryption and blind
indexes, and the UI's WTForms validation (a few plain checks instead). The engine options are
SQLAlchemy's defaults: no ping at checkout. Tenantry pings only a connection idle for 10 s
(db.ping_when_idle), which never happens under the benchmark's load, so neither app pays a
ping per request and the ratio is not about a configuration knob.

  BENCH_BASELINE_DATABASE_URL=postgresql://... BENCH_BASELINE_TOKEN=... \\
      gunicorn -w 2 -b 127.0.0.1:PORT bench.baseline_app:app
  .venv/bin/python bench/baseline_app.py --create-schema   # with the same environment
"""

from __future__ import annotations

import hmac
import os
import re
import sys
import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from flask import Flask, abort, jsonify, request
from flask_sqlalchemy import SQLAlchemy
from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

DEFAULT_LIMIT, MAX_LIMIT = 50, 200
TEXT_FIELDS = ("first_name", "last_name", "address", "position", "notes")
LIST_FIELDS = ("emails", "phones", "tags")
FIELDS = {"first_name": (str, None), "last_name": (str, None), "email": (str, None), "emails": (list, None),
          "phone": (str, None), "phones": (list, None), "address": (str, None), "company_id": (str, None),
          "position": (str, None), "notes": (str, None), "tags": (list, None)}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class Contact(db.Model):
    __tablename__ = "contacts"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    first_name: Mapped[str | None] = mapped_column(sa.Text)
    last_name: Mapped[str | None] = mapped_column(sa.Text)
    email: Mapped[str | None] = mapped_column(sa.Text, index=True)  # the primary e-mail, lower-case
    emails: Mapped[list] = mapped_column(sa.JSON, default=list)
    phones: Mapped[list] = mapped_column(sa.JSON, default=list)
    address: Mapped[str | None] = mapped_column(sa.Text)
    company_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    position: Mapped[str | None] = mapped_column(sa.Text)
    notes: Mapped[str | None] = mapped_column(sa.Text)
    tags: Mapped[list] = mapped_column(sa.JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))

    __table_args__ = (sa.Index("ix_contacts_created", "created_at", "id"),)


def to_json(c: Contact) -> dict:
    return {
        "id": str(c.id), "first_name": c.first_name or None, "last_name": c.last_name or None,
        "email": c.emails[0] if c.emails else None, "emails": c.emails or [],
        "phone": c.phones[0] if c.phones else None, "phones": c.phones or [],
        "address": c.address or None, "company_id": str(c.company_id) if c.company_id else None,
        "position": c.position or None, "notes": c.notes or None, "tags": c.tags or [],
        "created_at": c.created_at.isoformat(), "updated_at": c.updated_at.isoformat(),
    }


def error(status: int, code: str, message: str, fields: dict | None = None):
    body = {"error": {"code": code, "message": message, **({"fields": fields} if fields else {})}}
    return jsonify(body), status


def page(session, model, stmt: sa.Select, cursors: URLSafeSerializer, to_json):
    """A page of `stmt`'s rows of `model` in (created_at, id) order, as ({"items", "next_cursor"},
    None), or (None, error response) for a bad limit or cursor."""
    raw = request.args.get("limit") or ""
    if raw and (not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT):
        return None, error(400, "invalid_limit", f"limit must be a whole number from 1 to {MAX_LIMIT}.")
    limit = int(raw) if raw else DEFAULT_LIMIT
    cursor = request.args.get("cursor")
    if cursor:
        try:
            at, last = cursors.loads(cursor)
            at, last = datetime.fromisoformat(at), uuid.UUID(last)
        except (BadData, ValueError, TypeError):
            return None, error(400, "invalid_cursor", "The cursor is not one this API handed out.")
        stmt = stmt.where(sa.or_(model.created_at > at, sa.and_(model.created_at == at, model.id > last)))
    rows = list(session.execute(stmt.order_by(model.created_at, model.id).limit(limit + 1)).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = cursors.dumps([rows[-1].created_at.isoformat(), str(rows[-1].id)]) if more else None
    return {"items": [to_json(c) for c in rows], "next_cursor": next_cursor}, None


def contact_input():
    """The request's contact as plain values, checked as an app without WTForms would:
    (values, None), or (None, error response)."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return None, error(400, "invalid_json", "The body must be a JSON object.")
    unknown = [name for name in data if name not in FIELDS]
    if unknown:
        return None, error(400, "unknown_field", f"Unknown field: {', '.join(sorted(unknown))}.")
    wrong = {name: "Wrong type." for name, value in data.items()
             if not (value is None or isinstance(value, FIELDS[name][0]))}
    if wrong:
        return None, error(400, "wrong_type", "Some fields have the wrong type.", wrong)
    emails = list(data.get("emails") or ([data["email"]] if data.get("email") else []))
    phones = list(data.get("phones") or ([data["phone"]] if data.get("phone") else []))
    problems = {}
    if not (data.get("first_name") or data.get("last_name")):
        problems["first_name"] = "Give a first name or a surname."
    if any(not _EMAIL.match(e) for e in emails):
        problems["emails"] = "Not an e-mail address."
    if problems:
        return None, error(422, "validation_failed", "Some values are not valid; see fields.", problems)
    values = {name: data.get(name) or None for name in TEXT_FIELDS}
    values.update(emails=emails, phones=phones, tags=list(data.get("tags") or []),
                  company_id=uuid.UUID(data["company_id"]) if data.get("company_id") else None)
    return values, None


def create_app() -> Flask:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=os.environ.get("BENCH_BASELINE_SECRET_KEY") or "baseline-" + "x" * 40,
        SQLALCHEMY_DATABASE_URI=_url(os.environ["BENCH_BASELINE_DATABASE_URL"]),
    )
    db.init_app(app)
    token = os.environ.get("BENCH_BASELINE_TOKEN", "")
    cursors = URLSafeSerializer(app.config["SECRET_KEY"], salt="baseline.cursor.contacts")

    @app.before_request
    def _auth():
        given = request.headers.get("Authorization", "")
        if not token or not hmac.compare_digest(given, f"Bearer {token}"):
            return error(401, "invalid_token", "The access token is not valid.")
        return None

    @app.errorhandler(404)
    def _not_found(_exc):
        return error(404, "not_found", "No such object.")

    @app.get("/api/v1/contacts")
    def contact_list():
        q = request.args.get("q", "").strip()
        stmt = sa.select(Contact)
        if q:
            stmt = stmt.where(Contact.email == q.lower())
        body, failed = page(db.session, Contact, stmt, cursors, to_json)
        db.session.rollback()
        return failed or jsonify(body)

    @app.get("/api/v1/contacts/<uuid:contact_id>")
    def contact_get(contact_id):
        contact = db.session.get(Contact, contact_id) or abort(404)
        body = to_json(contact)
        db.session.rollback()
        return jsonify(body)

    @app.post("/api/v1/contacts")
    def contact_create():
        values, failed = contact_input()
        if failed:
            return failed
        now = datetime.now(UTC)
        emails = values["emails"]
        contact = Contact(id=uuid.uuid4(), email=emails[0].lower() if emails else None, created_at=now,
                          updated_at=now, **values)
        db.session.add(contact)
        db.session.commit()
        return to_json(contact), 201

    return app


def _url(url: str) -> str:
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def create_schema() -> None:
    with create_app().app_context():
        db.drop_all()
        db.create_all()


if __name__ == "__main__":
    if sys.argv[1:] == ["--create-schema"]:
        create_schema()
    else:
        raise SystemExit(__doc__)
else:
    app = create_app() if os.environ.get("BENCH_BASELINE_DATABASE_URL") else None
