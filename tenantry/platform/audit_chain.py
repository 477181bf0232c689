"""Tamper evidence for the audit trail: one hash chain per tenant plus one for the platform.

Each event gets the next `seq` of its chain and `hash = SHA-256(prev_hash || canonical JSON)`,
assigned at flush so that events added in one transaction chain in the order they were added.
`audit_heads` keeps each chain's count and last hash: it is what exposes a truncated tail,
which the chain alone cannot (a shortened chain is still a valid chain).

Appends to one chain are serialised: on PostgreSQL by a transaction-scoped advisory lock
taken before the head is read (a plain FOR UPDATE cannot lock a head row that does not exist
yet); SQLite has a single writer. The unique (chain, seq) constraint backs both up.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import click
import sqlalchemy as sa
from flask.cli import AppGroup
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Mapped, Session, mapped_column

from tenantry.platform import clock
from tenantry.platform.cli import tenantry_cli
from tenantry.platform.db import db

PLATFORM_CHAIN = "platform"
GENESIS = "0" * 64
PENDING_KEY = "tenantry.audit_pending"

# The fields a hash covers. `id` is left out: the database assigns it after the hash is made,
# and the order that matters is `seq`, which is covered.
HASHED_FIELDS = (
    "chain", "seq", "tenant_id", "occurred_at", "actor_type", "actor_id", "action",
    "target_type", "target_id", "outcome", "ip", "user_agent", "details",
)


class AuditHead(db.Model):
    __tablename__ = "audit_heads"

    chain: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    hash: Mapped[str] = mapped_column(sa.String(64))


def chain_of(tenant_id: uuid.UUID | str | None) -> str:
    return str(tenant_id) if tenant_id is not None else PLATFORM_CHAIN


def _normal(name: str, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def canonical(fields: dict[str, Any]) -> bytes:
    return json.dumps(
        {name: _normal(name, fields.get(name)) for name in HASHED_FIELDS},
        sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str,
    ).encode()


def link(prev_hash: str, fields: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + canonical(fields)).hexdigest()


def fields_of(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in HASHED_FIELDS}


# --- appending ---------------------------------------------------------------------------


def _lock(connection: sa.Connection, chain: str) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:chain))"), {"chain": chain})


def _append(connection: sa.Connection, chain: str, events: list[Any]) -> None:
    _lock(connection, chain)
    heads = AuditHead.__table__
    head = connection.execute(sa.select(heads.c.seq, heads.c.hash).where(heads.c.chain == chain)).first()
    seq, prev = (head.seq, head.hash) if head else (0, GENESIS)
    for obj in events:
        seq += 1
        obj.chain, obj.seq = chain, seq
        if obj.occurred_at is None:
            obj.occurred_at = clock.now()
        # The JSON column stores what json.dumps makes of details; hash that same shape.
        if obj.details is not None:
            obj.details = json.loads(json.dumps(obj.details, default=str))
        obj.hash = prev = link(prev, fields_of(obj))
    if head:
        connection.execute(heads.update().where(heads.c.chain == chain).values(seq=seq, hash=prev))
    else:
        connection.execute(heads.insert().values(chain=chain, seq=seq, hash=prev))


def install(model: type) -> None:
    """Chain every new `model` row at flush time, in the order the rows were added."""

    @sa_event.listens_for(Session, "before_flush")
    def _chain_new_events(session: Session, _flush_context, _instances) -> None:
        new = [obj for obj in session.new if isinstance(obj, model) and obj.seq is None]
        if not new:
            return
        pending = session.info.get(PENDING_KEY, [])
        order = {id(obj): i for i, obj in enumerate(pending)}
        new.sort(key=lambda obj: order.get(id(obj), len(order)))
        session.info[PENDING_KEY] = [obj for obj in pending if obj.seq is None and obj not in new]
        by_chain: dict[str, list[Any]] = {}
        for obj in new:
            by_chain.setdefault(chain_of(obj.tenant_id), []).append(obj)
        connection = session.connection()
        # A fixed order of lock taking keeps two multi-chain transactions from deadlocking.
        for chain in sorted(by_chain):
            _append(connection, chain, by_chain[chain])


def remember(session: Session, obj: Any) -> None:
    session.info.setdefault(PENDING_KEY, []).append(obj)


# --- verifying ---------------------------------------------------------------------------


@dataclass
class Problem:
    seq: int | None
    event_id: int | None
    reason: str

    def __str__(self) -> str:
        where = f"seq {self.seq}" if self.seq is not None else "chain head"
        if self.event_id is not None:
            where += f" (event id {self.event_id})"
        return f"{where}: {self.reason}"


@dataclass
class Report:
    chain: str
    checked: int
    problem: Problem | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify(model: type, chain: str, connection: sa.Connection | None = None) -> Report:
    """Re-check one chain from its first event; stop at the first bad one."""
    connection = connection or db.session.connection()
    table = model.__table__
    heads = AuditHead.__table__
    head = connection.execute(sa.select(heads.c.seq, heads.c.hash).where(heads.c.chain == chain)).first()
    columns = [table.c.id, table.c.hash, *[table.c[name] for name in HASHED_FIELDS]]
    rows = connection.execution_options(yield_per=500).execute(
        sa.select(*columns).where(table.c.chain == chain).order_by(table.c.seq, table.c.id)
    )
    prev, expected, checked = GENESIS, 1, 0
    for row in rows:
        fields = {name: getattr(row, name) for name in HASHED_FIELDS}
        if row.seq != expected:
            reason = (f"expected seq {expected}, found {row.seq}: "
                      + ("events are missing before it" if row.seq > expected else "seq is duplicated"))
            return Report(chain, checked, Problem(row.seq, row.id, reason))
        if link(prev, fields) != row.hash:
            return Report(chain, checked, Problem(row.seq, row.id, "content or order does not match its hash"))
        prev, expected, checked = row.hash, expected + 1, checked + 1
    if head is None:
        if checked:
            return Report(chain, checked, Problem(None, None, "events exist but the chain head is missing"))
        return Report(chain, 0, None)
    if head.seq != checked or head.hash != prev:
        reason = (f"the head records {head.seq} events ending in {head.hash[:12]}…, "
                  f"the table holds {checked} ending in {prev[:12]}…: events were removed from the end")
        return Report(chain, checked, Problem(checked + 1 if head.seq > checked else None, None, reason))
    return Report(chain, checked, None)


# --- CLI ---------------------------------------------------------------------------------

audit_cli = AppGroup("audit", help="The audit trail: verify its hash chains.")


@audit_cli.command("verify")
@click.argument("slug", required=False)
@click.option("--platform", "platform", is_flag=True, help="Verify the platform chain (events of no tenant).")
def verify_command(slug: str | None, platform: bool) -> None:
    """Re-check a tenant's audit chain (or the platform's); exit 1 at the first bad event."""
    from tenantry.platform import tenancy
    from tenantry.platform.audit import AuditEvent

    if platform == bool(slug):
        raise click.UsageError("give a tenant SLUG or --platform, not both")
    if platform:
        chain = PLATFORM_CHAIN
    else:
        tenant = tenancy.get_by_slug(slug)
        if tenant is None:
            raise click.ClickException(f"no tenant {slug!r}")
        chain = chain_of(tenant.id)
    report = verify(AuditEvent, chain)
    db.session.rollback()
    name = "platform" if platform else slug
    if report.ok:
        click.echo(f"audit chain {name}: OK, {report.checked} events")
        return
    click.echo(f"audit chain {name}: TAMPERED at {report.problem} ({report.checked} events good before it)", err=True)
    raise SystemExit(1)


if "audit" not in tenantry_cli.commands:
    tenantry_cli.add_command(audit_cli)
