"""Signed checkpoints of the audit chains: what an intruder with the database alone cannot forge.

Every hour (a sweep step), each chain with new events gets a checkpoint {chain, seq, hash,
count, created_at}, signed with the platform's Ed25519 key. The key lives outside the
database (TENANTRY_AUDIT_SIGNING_KEY_FILE; by default a file in the instance directory,
created on first use with mode 0600). Each checkpoint is written twice: a row in
`audit_checkpoints` and a JSON document in object storage at
`audit/checkpoints/<chain>/<seq>.json`. Verification checks every copy's signature and that
the event at `seq` still has `hash`, so rewriting a chain (even with every hash recomputed)
or cutting it short is caught from either copy.

Before signing, the segment since the previous checkpoint is re-verified: a checkpoint never
blesses a chain that is already broken.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from flask import current_app
from sqlalchemy.orm import Mapped, mapped_column

from tenantry.platform import audit_chain, clock
from tenantry.platform.audit_chain import AuditHead, Problem, Report
from tenantry.platform.db import db
from tenantry.platform.storage import StorageError, StorageUnavailable, storage

log = logging.getLogger(__name__)

INTERVAL = timedelta(hours=1)
PREFIX = "audit/checkpoints"


class SigningKeyError(RuntimeError):
    pass


class AuditCheckpoint(db.Model):
    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    chain: Mapped[str] = mapped_column(sa.String(40))
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    hash: Mapped[str] = mapped_column(sa.String(64))
    count: Mapped[int] = mapped_column(sa.BigInteger)
    created_at: Mapped[datetime]
    key_id: Mapped[str] = mapped_column(sa.String(16))
    signature: Mapped[str] = mapped_column(sa.String(128))

    __table_args__ = (sa.UniqueConstraint("chain", "seq"),)

    def document(self) -> dict:
        return {**payload_fields(self.chain, self.seq, self.hash, self.count, self.created_at),
                "key_id": self.key_id, "signature": self.signature}


def storage_key(chain: str, seq: int) -> str:
    return f"{PREFIX}/{chain}/{seq}.json"


# --- the signing key -------------------------------------------------------------------------

_key_lock = threading.Lock()


def _key_path() -> Path:
    path = current_app.extensions["tenantry.settings"].audit_signing_key_file
    if path is None:
        raise SigningKeyError("TENANTRY_AUDIT_SIGNING_KEY_FILE is not set")
    return Path(path)


def signing_key() -> Ed25519PrivateKey:
    """The platform's signing key, read from its file (created on first use, mode 0600)."""
    path = _key_path()
    with _key_lock:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            pem = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another process made it first; read theirs
            else:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(pem)
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError) as exc:
            raise SigningKeyError(f"the audit signing key {path} cannot be read: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"the audit signing key {path} is not an Ed25519 key")
    return key


def public_key() -> Ed25519PublicKey:
    return signing_key().public_key()


def key_id(public: Ed25519PublicKey) -> str:
    import hashlib

    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


# --- signing ---------------------------------------------------------------------------------


def payload_fields(chain: str, seq: int, hash_: str, count: int, created_at: datetime) -> dict:
    return {"chain": chain, "seq": int(seq), "hash": hash_, "count": int(count),
            "created_at": created_at.astimezone(UTC).isoformat(timespec="microseconds")}


def signed_bytes(doc: dict) -> bytes:
    body = {name: doc[name] for name in ("chain", "seq", "hash", "count", "created_at")}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def signature_ok(doc: dict, public: Ed25519PublicKey) -> bool:
    try:
        public.verify(bytes.fromhex(doc["signature"]), signed_bytes(doc))
    except (InvalidSignature, ValueError, KeyError, TypeError):
        return False
    return True


def checkpoint(chain: str, seq: int, hash_: str, when: datetime) -> AuditCheckpoint:
    """Sign (chain, seq, hash) now, record the row and write the document to storage."""
    key = signing_key()
    fields = payload_fields(chain, seq, hash_, seq, when)
    row = AuditCheckpoint(chain=chain, seq=seq, hash=hash_, count=seq, created_at=when,
                          key_id=key_id(key.public_key()), signature=key.sign(signed_bytes(fields)).hex())
    db.session.add(row)
    db.session.flush()
    storage().put(storage_key(chain, seq), json.dumps(row.document(), indent=2, sort_keys=True).encode())
    return row


def latest(chain: str) -> AuditCheckpoint | None:
    return db.session.execute(
        sa.select(AuditCheckpoint).where(AuditCheckpoint.chain == chain).order_by(AuditCheckpoint.seq.desc()).limit(1)
    ).scalar()


def _segment_ok(chain: str, since: AuditCheckpoint | None) -> Problem | None:
    """Re-link the events after the last checkpoint before signing the newest one."""
    from tenantry.platform.audit import AuditEvent

    table = AuditEvent.__table__
    start, prev = (since.seq, since.hash) if since else (0, audit_chain.GENESIS)
    head = db.session.get(AuditHead, chain)
    if head is not None and head.pruned_seq and head.pruned_seq > start:
        start, prev = head.pruned_seq, head.pruned_hash
    columns = [table.c.id, table.c.hash, *[table.c[n] for n in (*audit_chain.HASHED_FIELDS, *audit_chain.OPTIONAL_FIELDS)]]
    rows = db.session.execute(sa.select(*columns).where(table.c.chain == chain, table.c.seq > start)
                              .order_by(table.c.seq))
    expected = start + 1
    for row in rows:
        if row.seq != expected:
            return Problem(row.seq, row.id, f"expected seq {expected}")
        if audit_chain.link(prev, row._asdict()) != row.hash:
            return Problem(row.seq, row.id, "content or order does not match its hash")
        prev, expected = row.hash, expected + 1
    if head is not None and (head.seq != expected - 1 or head.hash != prev):
        return Problem(expected, None, "the head does not match the table")
    return None


def run(as_of: datetime | None = None, *, force: bool = False) -> int:
    """The hourly step: a checkpoint for each chain with events newer than its last checkpoint,
    once its last checkpoint is an hour old. Idempotent: nothing new, nothing signed."""
    from tenantry.platform import audit

    as_of = as_of or clock.now()
    made = 0
    heads = db.session.execute(sa.select(AuditHead.chain, AuditHead.seq, AuditHead.hash)).all()
    for chain, seq, hash_ in heads:
        last = latest(chain)
        if last is not None and (last.seq >= seq or (not force and last.created_at > as_of - INTERVAL)):
            continue
        problem = _segment_ok(chain, last)
        if problem is not None:
            log.error("audit chain %s is broken at %s; no checkpoint signed", chain, problem)
            audit.record("audit.checkpoint_refused", actor_type="system", target_type="audit_chain",
                         target_id=chain, outcome="failure", details={"seq": problem.seq})
            continue
        checkpoint(chain, seq, hash_, as_of)
        made += 1
    return made


# --- verifying ---------------------------------------------------------------------------------


def _stored_documents(chain: str) -> dict[int, dict]:
    found: dict[int, dict] = {}
    for key in storage().list(f"{PREFIX}/{chain}/"):
        try:
            doc = json.loads(storage().get(key))
            found[int(doc["seq"])] = doc
        except StorageUnavailable:
            raise  # an outage says nothing about the copy: no verdict rather than a false "broken"
        except (StorageError, ValueError, KeyError, TypeError):
            found[-1 - len(found)] = {"broken": key}
    return found


def verify_chain(chain: str) -> Report:
    """The chain's links, its head, and every signed checkpoint (row and stored copy)."""
    from tenantry.platform.audit import AuditEvent

    public = public_key()
    rows = {r.seq: r.document() for r in db.session.execute(
        sa.select(AuditCheckpoint).where(AuditCheckpoint.chain == chain)).scalars()}
    stored = _stored_documents(chain)
    signed: dict[int, str] = {}
    for seq in sorted(set(rows) | set(stored)):
        copies = [doc for doc in (rows.get(seq), stored.get(seq)) if doc is not None]
        if any("broken" in doc for doc in copies):
            return Report(chain, 0, Problem(None, None, f"the stored checkpoint {copies[0]['broken']} is unreadable"))
        for doc in copies:
            if doc.get("chain") != chain or not signature_ok(doc, public):
                return Report(chain, 0, Problem(seq, None, "a checkpoint's signature does not verify: "
                                                           "it was forged or altered"))
            if doc["count"] != doc["seq"]:
                return Report(chain, 0, Problem(seq, None, f"a checkpoint counts {doc['count']} events up to seq {seq}"))
        if len(copies) == 2 and (copies[0]["hash"], copies[0]["created_at"]) != (copies[1]["hash"],
                                                                                copies[1]["created_at"]):
            return Report(chain, 0, Problem(seq, None, "the checkpoint row and its stored copy differ"))
        signed[seq] = copies[0]["hash"]
    return audit_chain.verify(AuditEvent, chain, checkpoints=signed)
