"""Tamper evidence for the audit trail: one hash chain per tenant plus one for the platform.

Each event gets the next `seq` of its chain and `hash = SHA-256(prev_hash || canonical JSON)`,
assigned at flush so that events added in one transaction chain in the order they were added.
`audit_heads` keeps each chain's count and last hash: it is what exposes a truncated tail,
which the chain alone cannot (a shortened chain is still a valid chain).

Appends to one chain are serialised: on PostgreSQL by locking the head row (FOR UPDATE), or,
while a chain has no head row yet, by a transaction-scoped advisory lock; SQLite has a single
writer. The unique (chain, seq) constraint backs both up. Read events, which carry no sealed
values, take a shorter path on PostgreSQL (append_direct): one statement updates the head
under its row lock, computes the link in the database and inserts the event. A write's events,
whose changes are sealed under their seq, lock the head first and then go in with its move in
one statement (_append), instead of a move and the ORM's insert.
"""

from __future__ import annotations

import hashlib
import json
import re
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
# Covered only when present (as the SHA-256 of the ciphertext), so that events written before
# the column existed keep the hashes they were chained with.
OPTIONAL_FIELDS = ("changes",)


class AuditHead(db.Model):
    __tablename__ = "audit_heads"

    chain: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    hash: Mapped[str] = mapped_column(sa.String(64))
    # Set when retention pruned the chain's oldest segment: the signed checkpoint it ended at.
    # Verification starts from here, and it must match a checkpoint whose signature holds.
    pruned_seq: Mapped[int | None] = mapped_column(sa.BigInteger)
    pruned_hash: Mapped[str | None] = mapped_column(sa.String(64))


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


def _payload(fields: dict[str, Any]) -> dict[str, Any]:
    payload = {name: _normal(name, fields.get(name)) for name in HASHED_FIELDS}
    for name in OPTIONAL_FIELDS:
        blob = fields.get(name)
        if blob is not None:
            payload[name] = hashlib.sha256(bytes(blob)).hexdigest()
    return payload


def _dumps(payload: dict[str, Any]) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def json_shaped(details: Any) -> Any:
    """What the JSON column will give back for `details`: the shape an event's hash must cover."""
    return json.loads(json.dumps(details, default=str)) if details is not None else None


def canonical(fields: dict[str, Any]) -> bytes:
    return _dumps(_payload(fields)).encode()


def canonical_around_seq(fields: dict[str, Any]) -> tuple[str, str]:
    """canonical(fields) as the text before and after the value of `seq`, so that the database
    can hash an event whose seq it assigns itself: prefix + str(seq) + suffix == canonical."""
    payload = _payload(fields)
    del payload["seq"]
    before = {k: v for k, v in payload.items() if k < "seq"}
    after = {k: v for k, v in payload.items() if k > "seq"}
    prefix = _dumps(before)[:-1] + ',"seq":' if before else '{"seq":'
    suffix = "," + _dumps(after)[1:] if after else "}"
    return prefix, suffix


def link(prev_hash: str, fields: dict[str, Any]) -> str:
    return _link_payload(prev_hash, _payload(fields))


def _link_payload(prev_hash: str, payload: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + _dumps(payload).encode()).hexdigest()


def fields_of(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name, None) for name in (*HASHED_FIELDS, *OPTIONAL_FIELDS)}


# --- appending ---------------------------------------------------------------------------


def _locked_head(connection: sa.Connection, chain: str):
    """The chain's head, locked for this transaction; None for a chain without one yet.

    On PostgreSQL an existing head is locked with FOR UPDATE, which in READ COMMITTED waits
    for a concurrent append and then reads the head that append left: one statement for the
    usual case (every audited request pays it). A head that does not exist cannot be row-
    locked, so the first appends of a chain serialise on an advisory lock and read again."""
    heads = AuditHead.__table__
    if connection.dialect.name != "postgresql":
        # SQLite has a single writer
        return connection.execute(sa.select(heads.c.seq, heads.c.hash).where(heads.c.chain == chain)).first()
    params = {"chain": chain}
    head = connection.exec_driver_sql(_LOCK_HEAD, params).first()
    if head is None:
        connection.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext(%(chain)s))", params)
        head = connection.exec_driver_sql(_LOCK_HEAD, params).first()
    return head


# Every audited write locks and moves its chain's head: on PostgreSQL these go to psycopg as
# they are, past SQLAlchemy's statement building (about 1.5 ms of CPU of a ~11 ms API create
# went to the two statements, bench/crm.py, issue 3).
_LOCK_HEAD = "SELECT seq, hash FROM audit_heads WHERE chain = %(chain)s FOR UPDATE"
_MOVE_HEAD = "UPDATE audit_heads SET seq = %(seq)s, hash = %(hash)s WHERE chain = %(chain)s"


def _move_head(connection: sa.Connection, chain: str, head, seq: int, prev: str) -> None:
    heads = AuditHead.__table__
    if head and connection.dialect.name == "postgresql":
        connection.exec_driver_sql(_MOVE_HEAD, {"chain": chain, "seq": seq, "hash": prev})
    elif head:
        connection.execute(heads.update().where(heads.c.chain == chain).values(seq=seq, hash=prev))
    else:
        connection.execute(heads.insert().values(chain=chain, seq=seq, hash=prev))


def _append(connection: sa.Connection, chain: str, events: list[Any], table: sa.Table) -> bool:
    """Chain `events` (ORM objects about to be flushed). True when they were also inserted,
    in one statement with the head's move (PostgreSQL, a chain with a head): the caller
    takes them out of the flush."""
    head = _locked_head(connection, chain)
    seq, prev = (head.seq, head.hash) if head else (0, GENESIS)
    for obj in events:
        seq += 1
        obj.chain, obj.seq = chain, seq
        seal = getattr(obj, "seal_pending", None)
        if seal is not None:
            seal()
        if obj.occurred_at is None:
            obj.occurred_at = clock.now()
        obj.details = json_shaped(obj.details)
        obj.hash = prev = link(prev, fields_of(obj))
    if head and connection.dialect.name == "postgresql":
        rows = [{name: _normal(name, getattr(obj, name)) for name in _PLAIN_WRITTEN}
                | {"details": obj.details, "changes": _bytea(obj.changes)} for obj in events]
        got = connection.exec_driver_sql(_MOVE_HEAD_FIRST + _many_statement(table, _WRITTEN_COLUMNS), {
            "chain": chain, "seq": seq, "hash": prev, "rows": json.dumps(rows, ensure_ascii=False)})
        for event_id, event_seq in got:
            events[event_seq - seq + len(events) - 1].id = event_id
        return True
    _move_head(connection, chain, head, seq, prev)
    return False


# The columns an event written by append_direct fills (besides chain, seq and hash): those of a
# read event, which carries ids in `details` and no sealed `changes`.
DIRECT_COLUMNS = ("tenant_id", "occurred_at", "actor_type", "actor_id", "action", "target_type", "target_id",
                  "outcome", "ip", "user_agent", "details")
_DIRECT_CASTS = {"tenant_id": "UUID", "occurred_at": "TIMESTAMP WITH TIME ZONE", "details": "JSON"}
_direct_statements: dict[str, str] = {}


def _direct_statement(table: sa.Table) -> str:
    """The statement in the driver's own parameter style, built once per table: it goes to
    psycopg as it is, without SQLAlchemy's compile and bind processing on every request."""
    if table.name not in _direct_statements:
        casts = [f"CAST(%({n})s AS {_DIRECT_CASTS[n]})" if n in _DIRECT_CASTS else f"%({n})s" for n in DIRECT_COLUMNS]
        link_text = "hash || %(prefix)s || CAST(seq + 1 AS TEXT) || %(suffix)s"
        _direct_statements[table.name] = (
            f"WITH head AS (UPDATE {AuditHead.__tablename__} SET seq = seq + 1, "  # noqa: S608  (schema names; values bound)
            f"hash = encode(sha256(convert_to({link_text}, 'UTF8')), 'hex') "
            "WHERE chain = %(chain)s RETURNING seq, hash) "
            f"INSERT INTO {table.name} ({', '.join(DIRECT_COLUMNS)}, chain, seq, hash) "
            f"SELECT {', '.join(casts)}, %(chain)s, head.seq, head.hash FROM head RETURNING id, seq"
        )
    return _direct_statements[table.name]


def append_direct(connection: sa.Connection, table: sa.Table, values: dict[str, Any]) -> tuple[int, int] | None:
    """PostgreSQL (psycopg): chain and insert one event in a single statement; (id, seq), or
    None when its chain has no head yet (the caller takes the ORM path, which creates one).

    The UPDATE of the head row takes the row lock, assigns the next seq and computes the link
    (SHA-256 of the previous hash and the canonical text around the new seq) from the head as
    it is once the lock is held: in READ COMMITTED an UPDATE that waited re-reads the row a
    concurrent append left. The lock is held only from this statement to the commit that
    follows, and the request makes one round trip for its event instead of three."""
    unknown = set(values) - set(DIRECT_COLUMNS)
    if unknown:
        raise ValueError(f"append_direct writes only {DIRECT_COLUMNS}, not {sorted(unknown)}")
    chain = chain_of(values.get("tenant_id"))
    prefix, suffix = canonical_around_seq({**values, "chain": chain, "seq": None})
    params = {name: values.get(name) for name in DIRECT_COLUMNS}
    if params["occurred_at"] is None:
        raise ValueError("append_direct needs occurred_at: it is part of the hash")
    params["details"] = json.dumps(params["details"]) if params["details"] is not None else None
    params.update(chain=chain, prefix=prefix, suffix=suffix)
    got = connection.exec_driver_sql(_direct_statement(table), params).first()
    return (got[0], got[1]) if got is not None else None


_MANY_TYPES = {**_DIRECT_CASTS, "seq": "BIGINT", "changes": "BYTEA"}
_many_statements: dict[tuple[str, tuple[str, ...]], str] = {}


def _many_statement(table: sa.Table, columns: tuple[str, ...]) -> str:
    """PostgreSQL: every row in one JSON parameter, so the text is the same for any batch size
    (psycopg parses a query text once; a VALUES list of hundreds of rows it would parse anew)."""
    key = (table.name, columns)
    if key not in _many_statements:
        record = ", ".join(f"{name} {_MANY_TYPES.get(name, 'TEXT')}" for name in columns)
        names = ", ".join(columns)
        _many_statements[key] = (
            f"INSERT INTO {table.name} ({names}) SELECT {names} "  # noqa: S608  (schema names; values bound)
            f"FROM json_to_recordset(CAST(%(rows)s AS JSON)) AS r({record}) RETURNING id, seq"
        )
    return _many_statements[key]


# What an event of a write fills: a read event's columns, its place in the chain and its sealed
# changes (the delivery detail inbox_key stays NULL).
_WRITTEN_COLUMNS = (*DIRECT_COLUMNS, "chain", "seq", "hash", "changes")
_PLAIN_WRITTEN = tuple(name for name in _WRITTEN_COLUMNS if name not in ("details", "changes"))
# Moves the head in the statement that inserts the events (_many_statement's), a round trip
# and an ORM insert less for every audited write; the head is already locked (_locked_head).
_MOVE_HEAD_FIRST = "WITH head AS (UPDATE audit_heads SET seq = %(seq)s, hash = %(hash)s WHERE chain = %(chain)s) "


def _bytea(blob: bytes | None) -> str | None:
    return "\\x" + bytes(blob).hex() if blob is not None else None


def append_many(connection: sa.Connection, table: sa.Table, chain: str, rows: list[dict[str, Any]],
                extra: tuple[str, ...] = (), *, parsed: bool = False) -> list[int]:
    """Chain and insert events with no sealed values (DIRECT_COLUMNS, plus `extra` columns
    that are not hashed) in one statement and one move of the head, under its lock. Returns
    the events' ids in the order of `rows`. `parsed`: each row's `details` was just read from
    JSON (the audit inbox), so it already has the shape the JSON column gives back."""
    unknown = {name for row in rows for name in row} - {*DIRECT_COLUMNS, *extra}
    if unknown:
        raise ValueError(f"append_many writes only {DIRECT_COLUMNS} and {extra}, not {sorted(unknown)}")
    head = _locked_head(connection, chain)
    seq, prev = (head.seq, head.hash) if head else (0, GENESIS)
    chained, texts = [], []
    for row in rows:
        seq += 1
        details = row.get("details")
        event = {**{name: row.get(name) for name in DIRECT_COLUMNS},
                 "details": details if parsed else json_shaped(details), "chain": chain, "seq": seq}
        # The canonical text is hashed, and is also the row PostgreSQL reads (plus the hash and
        # the extra columns): each event's details, a page of ids, are serialised once.
        text = _dumps(_payload(event))
        event["hash"] = prev = hashlib.sha256(prev.encode() + text.encode()).hexdigest()
        tail = "".join(f",{json.dumps(name)}:{json.dumps(row.get(name), default=str)}" for name in extra)
        for name in extra:
            event[name] = row.get(name)
        chained.append(event)
        texts.append(f'{text[:-1]},"hash":"{prev}"{tail}}}')
    if connection.dialect.name == "postgresql":
        columns = (*DIRECT_COLUMNS, "chain", "seq", "hash", *extra)
        got = connection.exec_driver_sql(_many_statement(table, columns), {"rows": "[" + ",".join(texts) + "]"})
        ids = [event_id for event_id, _seq in sorted(got, key=lambda pair: pair[1])]
    else:
        ids = [connection.execute(table.insert().values(**row)).inserted_primary_key[0] for row in chained]
    _move_head(connection, chain, head, seq, prev)
    return ids


def install(model: type, written=None) -> None:
    """Chain every new `model` row at flush time, in the order the rows were added.
    `written(session, objects)`: told of the rows _append inserted itself, which the flush
    that follows does not see."""

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
        from tenantry.platform.audit import AuditWriteError

        # A fixed order of lock taking keeps two multi-chain transactions from deadlocking.
        inserted: list[Any] = []
        try:
            for chain in sorted(by_chain):
                if _append(connection, chain, by_chain[chain], model.__table__):
                    inserted.extend(by_chain[chain])
        except AuditWriteError:
            raise
        except Exception as exc:
            # Whatever stops an event (its key, the lock, the head) stops the change it records.
            raise AuditWriteError(f"audit events could not be chained: {exc}") from exc
        if inserted:
            # In the database already: persistent from here on, and made so the way the flush
            # makes the rows it inserts, so that a rollback turns them transient again as it
            # does those (SQLAlchemy has no public call for this; its version is pinned < 2.1).
            session._register_persistent({sa.inspect(obj) for obj in inserted})
        if inserted and written is not None:
            written(session, inserted)


_AUDIT_STATEMENT = re.compile(r"^\s*(INSERT INTO|UPDATE) audit_(events|heads)\b", re.IGNORECASE)


@sa_event.listens_for(sa.Engine, "handle_error")
def _audit_insert_failed(context) -> Exception | None:
    """A failed INSERT of events (or move of a head) becomes AuditWriteError, so callers can
    tell "the trail is down" from any other database error and fail closed on it."""
    from tenantry.platform.audit import AuditWriteError

    if context.statement and _AUDIT_STATEMENT.match(context.statement):
        return AuditWriteError(f"the audit trail refused the write: {context.original_exception}")
    return None


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
    checkpoints: int = 0
    anchor: int = 0

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify(model: type, chain: str, connection: sa.Connection | None = None, *,
           checkpoints: dict[int, str] | None = None) -> Report:
    """Re-check one chain from its first event (or its pruning anchor); stop at the first bad one.

    `checkpoints` ({seq: hash}, signatures already checked by the caller) must agree with the
    events: that catches a chain rewritten with recomputed hashes, which links alone cannot.
    """
    connection = connection or db.session.connection()
    checkpoints = checkpoints or {}
    table = model.__table__
    heads = AuditHead.__table__
    head = connection.execute(
        sa.select(heads.c.seq, heads.c.hash, heads.c.pruned_seq, heads.c.pruned_hash).where(heads.c.chain == chain)
    ).first()
    anchor = (head.pruned_seq or 0) if head else 0
    prev = (head.pruned_hash or GENESIS) if head and head.pruned_seq else GENESIS
    optional = [table.c[name] for name in OPTIONAL_FIELDS if name in table.c]
    columns = [table.c.id, table.c.hash, *[table.c[name] for name in HASHED_FIELDS], *optional]
    rows = connection.execution_options(yield_per=500).execute(
        sa.select(*columns).where(table.c.chain == chain).order_by(table.c.seq, table.c.id)
    )

    def report(problem: Problem | None, checked: int) -> Report:
        return Report(chain, checked, problem, len(checkpoints), anchor)

    if anchor:
        if checkpoints.get(anchor) != prev:
            return report(Problem(anchor, None, "the pruning anchor matches no signed checkpoint"), 0)
    expected, checked = anchor + 1, 0
    for row in rows:
        fields = row._asdict()
        if row.seq <= anchor:
            return report(Problem(row.seq, row.id, f"an event before the pruning anchor (seq {anchor}) remains: "
                                                   "the anchor was moved"), checked)
        if row.seq != expected:
            reason = (f"expected seq {expected}, found {row.seq}: "
                      + ("events are missing before it" if row.seq > expected else "seq is duplicated"))
            return report(Problem(row.seq, row.id, reason), checked)
        if link(prev, fields) != row.hash:
            return report(Problem(row.seq, row.id, "content or order does not match its hash"), checked)
        signed = checkpoints.get(row.seq)
        if signed is not None and signed != row.hash:
            return report(Problem(row.seq, row.id, "does not match the signed checkpoint at this seq: "
                                                   "the chain up to here was rewritten"), checked)
        prev, expected, checked = row.hash, expected + 1, checked + 1
    last = anchor + checked
    beyond = sorted(seq for seq in checkpoints if seq > last)
    if beyond:
        return report(Problem(last + 1, None, f"a signed checkpoint covers seq {beyond[-1]}, the table ends at "
                                              f"seq {last}: events were removed"), checked)
    if head is None:
        if checked:
            return report(Problem(None, None, "events exist but the chain head is missing"), checked)
        return report(None, 0)
    if head.seq != last or head.hash != prev:
        reason = (f"the head records {head.seq} events ending in {head.hash[:12]}…, "
                  f"the table holds {last} ending in {prev[:12]}…: events were removed from the end")
        return report(Problem(last + 1 if head.seq > last else None, None, reason), checked)
    return report(None, checked)


# --- CLI ---------------------------------------------------------------------------------

audit_cli = AppGroup("audit", help="The audit trail: verify, checkpoint and prune its hash chains.")


def chain_for(slug: str | None, platform: bool) -> tuple[str, str]:
    """(chain, name to print) for `SLUG` or `--platform`."""
    from tenantry.platform import tenancy

    if platform == bool(slug):
        raise click.UsageError("give a tenant SLUG or --platform, not both")
    if platform:
        return PLATFORM_CHAIN, "platform"
    tenant = tenancy.get_by_slug(slug)
    if tenant is None:
        raise click.ClickException(f"no tenant {slug!r}")
    return chain_of(tenant.id), slug


@audit_cli.command("verify")
@click.argument("slug", required=False)
@click.option("--platform", "platform", is_flag=True, help="Verify the platform chain (events of no tenant).")
def verify_command(slug: str | None, platform: bool) -> None:
    """Re-check a tenant's audit chain (or the platform's) and its signed checkpoints; exit 1
    at the first bad event, 3 when object storage does not answer (no verdict)."""
    from tenantry.platform import audit_checkpoints
    from tenantry.platform.storage import StorageUnavailable

    chain, name = chain_for(slug, platform)
    try:
        report = audit_checkpoints.verify_chain(chain)
    except StorageUnavailable as exc:  # no verdict: not "tampered" because a copy could not be read
        click.echo(f"audit chain {name}: NOT VERIFIED, the stored checkpoints cannot be read now ({exc})", err=True)
        raise SystemExit(3) from exc
    finally:
        db.session.rollback()
    if report.ok:
        since = f" from the pruning anchor at seq {report.anchor}" if report.anchor else ""
        click.echo(f"audit chain {name}: OK, {report.checked} events{since}, {report.checkpoints} signed checkpoints")
        return
    click.echo(f"audit chain {name}: TAMPERED at {report.problem} ({report.checked} events good before it)", err=True)
    raise SystemExit(1)


@audit_cli.command("checkpoint")
@click.option("--as-of", "as_of", type=click.DateTime(), help="Pretend it is this time (UTC).")
@click.option("--force", is_flag=True, help="Sign every chain with new events now, whatever the hour.")
def checkpoint_command(as_of: datetime | None, force: bool) -> None:
    """Sign a checkpoint of every chain with new events (the hourly sweep step does this)."""
    from tenantry.platform import audit_checkpoints

    when = as_of.replace(tzinfo=UTC) if as_of else clock.now()
    made = audit_checkpoints.run(when, force=force)
    db.session.commit()
    click.echo(f"{made} checkpoint(s) signed")


@audit_cli.command("prune")
@click.argument("slug")
def prune_command(slug: str) -> None:
    """Remove the tenant's events past its retention, whole checkpointed segments only."""
    from tenantry.platform import audit_retention, tenancy

    tenant = tenancy.get_by_slug(slug)
    if tenant is None:
        raise click.ClickException(f"no tenant {slug!r}")
    removed = audit_retention.prune_tenant_chain(tenant.id)
    db.session.commit()
    click.echo(f"{slug}: {removed} event(s) pruned")


if "audit" not in tenantry_cli.commands:
    tenantry_cli.add_command(audit_cli)
