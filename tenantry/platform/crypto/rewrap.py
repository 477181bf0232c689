"""Re-wrapping every stored key (tenant keys and platform keys) under a new key-encryption key.

Changing the master key or the KMS key without downtime:
1. Configure the new key as the provider's key and name the old one as the previous key
   (`TENANTRY_PREVIOUS_MASTER_KEY_FILE`); running processes then unwrap with either and wrap
   with the new one (`FallbackProvider`).
2. `flask tenantry keys rewrap --from-master-key OLD` (or `--from-kms-key OLD_ID`) re-wraps
   every key. It commits in small batches and skips keys already under the new key, so it
   can be stopped and run again.
3. Remove the previous key from the configuration, then destroy it.
The data itself is never re-encrypted: only the wrapped data keys change.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from tenantry.platform import audit
from tenantry.platform.crypto import keyring, sealing
from tenantry.platform.crypto.providers import KeyProvider, KeyProviderError
from tenantry.platform.db import db
from tenantry.platform.tenancy import all_tenants

BATCH = 100


class FallbackProvider:
    """Wraps with the current key; unwraps with the current key, else with previous ones."""

    def __init__(self, current: KeyProvider, *previous: KeyProvider):
        self.current = current
        self.previous = previous
        self.name = current.name

    def wrap(self, data_key: bytes, context: dict[str, str]) -> bytes:
        return self.current.wrap(data_key, context)

    def unwrap(self, wrapped: bytes, context: dict[str, str]) -> bytes:
        try:
            return self.current.unwrap(wrapped, context)
        except KeyProviderError:
            for older in self.previous:
                try:
                    return older.unwrap(wrapped, context)
                except KeyProviderError:
                    continue
            raise

    def destroy(self, context: dict[str, str]) -> None:
        self.current.destroy(context)


def _move(wrapped: bytes, context: dict[str, str], source: KeyProvider, target: KeyProvider,
          skip_current: bool) -> bytes | None:
    if skip_current:
        current = getattr(target, "current", target)
        if hasattr(current, "is_current"):  # KMS opens any of its keys' wraps: ask which key it was
            if current.is_current(wrapped, context):
                return None
        else:
            try:
                # Only the current key counts: a FallbackProvider would open old-key wraps too.
                current.unwrap(wrapped, context)
                return None  # already under the target key (a previous run got here)
            except KeyProviderError:
                pass
    try:
        plain = source.unwrap(wrapped, context)
    except KeyProviderError:
        plain = target.unwrap(wrapped, context)
    return target.wrap(plain, context)


def rewrap_all(source: KeyProvider, target: KeyProvider, *,
               progress: Callable[[dict[str, int], int], None] | None = None) -> dict[str, int]:
    """Re-wrap every live key under `target`, reading with `source` (or `target`).

    When source is target the keys are re-wrapped in place (e.g. after the KMS key's own
    rotation); otherwise keys that `target` already opens are left alone, so a second run
    after an interruption only does what is left. `progress(counts, total)` is called after
    each committed batch of tenant keys (total: how many tenant keys there are)."""
    skip_current = source is not target
    counts = {"tenant_keys": 0, "platform_keys": 0, "skipped": 0}
    with all_tenants():
        ids = db.session.execute(
            sa.select(keyring.TenantKey.id).where(keyring.TenantKey.wrapped.is_not(None))
            .order_by(keyring.TenantKey.id)
        ).scalars().all()
        for start in range(0, len(ids), BATCH):
            for row in db.session.execute(
                sa.select(keyring.TenantKey).where(keyring.TenantKey.id.in_(ids[start:start + BATCH]))
            ).scalars():
                ctx = keyring.context(row.tenant_id, row.purpose, row.version)
                moved = _move(row.wrapped, ctx, source, target, skip_current)
                if moved is None:
                    counts["skipped"] += 1
                    continue
                row.wrapped, row.provider = moved, target.name
                counts["tenant_keys"] += 1
            db.session.commit()
            if progress is not None:
                progress(dict(counts), len(ids))
        for row in db.session.execute(sa.select(sealing.PlatformKey)).scalars():
            moved = _move(row.wrapped, sealing._context(row.name, row.version), source, target, skip_current)
            if moved is None:
                counts["skipped"] += 1
                continue
            row.wrapped, row.provider = moved, target.name
            counts["platform_keys"] += 1
        audit.record("keys.rewrap", target_type="key_provider", target_id=target.name, details=dict(counts))
        db.session.commit()
    keyring.forget_cached_keys()
    sealing.forget_cached_keys()
    return counts
