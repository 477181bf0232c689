"""How fast and how lean is a full tenant export? [issue 7, DPA-4.10]

Seeds one tenant with N contacts and 2N activities (default 100,000 and 200,000), then runs,
each in its own process so that peak RSS belongs to one run:

  baseline  a plain SELECT of the same contact and activity rows, streamed and written as
            JSON (ciphertext as base64): the floor any export has to pay;
  export    the real export job: keyset batches, decryption, JSON + formula-safe CSV per
            entity, ZIP, manifest hashes, sealing in chunks into storage.

Prints records/second of both, their ratio (target >= 0.5) and the export's peak RSS
(target < 200 MB).

  .venv/bin/python bench/export.py                      # SQLite in a temporary directory
  .venv/bin/python bench/export.py --contacts 10000     # smaller
  scripts/test.sh with-services .venv/bin/python bench/export.py --postgres
  .venv/bin/python bench/export.py --database-url postgresql://... [--migrate-url postgresql://...]
"""

from __future__ import annotations

import argparse
import base64
import functools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SLUG = "bench-export"


def _settings(db_url: str, instance: str) -> dict:
    return {"TENANTRY_ENV": "test", "DATABASE_URL": db_url, "TENANTRY_INSTANCE_DIR": instance,
            "TENANTRY_SECRET_KEY": "bench-" + "x" * 40, "REDIS_URL": "", "TENANTRY_STORAGE": "local",
            "TENANTRY_KEY_PROVIDER": "local", "TENANTRY_MAIL": "file"}


def _app(db_url: str, instance: str):
    from tenantry import create_app

    return create_app(_settings(db_url, instance))


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# --- set-up ------------------------------------------------------------------------------


def setup(db_url: str, migrate_url: str | None, instance: str, contacts: int, activities: int) -> None:
    import flask_migrate
    import sqlalchemy as sa

    from tenantry.platform import clock
    from tenantry.platform.crypto import fields, keyring
    from tenantry.platform.db import db
    from tenantry.platform.identity.models import Membership, User
    from tenantry.platform.tenancy import Tenant, all_tenants, tenant_context
    from tenantry.tenants.crm.models import Activity, Contact

    if migrate_url:
        os.environ["TENANTRY_MIGRATE_DATABASE_URL"] = migrate_url
    app = _app(db_url, instance)
    with app.app_context():
        flask_migrate.upgrade()
        with all_tenants():
            old = db.session.execute(sa.select(Tenant).where(Tenant.slug == SLUG)).scalar_one_or_none()
        if old is not None:
            print(f"tenant {SLUG} exists already: reusing it", flush=True)
            return
        owner = User(email=f"owner-{uuid.uuid4().hex[:8]}@bench.example", name="Bench Owner")
        db.session.add(owner)
        tenant = Tenant(slug=SLUG, name="Bench export", country="CZ")
        db.session.add(tenant)
        db.session.flush()
        # One key look-up for the whole seeding: fields.encrypt would otherwise ask the
        # database for the active key of every value (the export itself does the same).
        keyring.active_data_key = functools.lru_cache(maxsize=None)(keyring.active_data_key)
        now = clock.now()
        started = time.perf_counter()
        with tenant_context(tenant):
            db.session.add(Membership(tenant_id=tenant.id, user_id=owner.id, role="owner"))
            db.session.flush()
            ids = []
            for start in range(0, contacts, 5000):
                rows = []
                for i in range(start, min(contacts, start + 5000)):
                    cid = uuid.uuid4()
                    ids.append(cid)
                    enc = functools.partial(fields.encrypt, tenant_id=tenant.id, table="contacts", row_id=cid)
                    rows.append({"id": cid, "tenant_id": tenant.id, "created_at": now, "updated_at": now,
                                 "first_name": enc("Jana", column="first_name"),
                                 "last_name": enc(f"Nováková {i}", column="last_name"),
                                 "emails": enc(json.dumps([f"jana{i}@example.com"]), column="emails"),
                                 "phones": enc(json.dumps(["+420601234567"]), column="phones")})
                db.session.execute(sa.insert(Contact.__table__), rows)
            for start in range(0, activities, 5000):
                rows = []
                for i in range(start, min(activities, start + 5000)):
                    aid = uuid.uuid4()
                    rows.append({"id": aid, "tenant_id": tenant.id, "kind": "call", "done": False, "created_at": now,
                                 "contact_id": ids[i % len(ids)],
                                 "note": fields.encrypt(f"Called about the renewal, attempt {i}",
                                                        tenant_id=tenant.id, table="activities", column="note",
                                                        row_id=aid)})
                db.session.execute(sa.insert(Activity.__table__), rows)
        db.session.commit()
        print(f"seeded {contacts} contacts and {activities} activities in {time.perf_counter() - started:.1f} s",
              flush=True)


# --- the two runs (each in its own process) ------------------------------------------------


def run_baseline(db_url: str, instance: str) -> dict:
    import sqlalchemy as sa

    from tenantry.platform.db import db
    from tenantry.platform.tenancy import Tenant, all_tenants, tenant_context
    from tenantry.tenants.crm.models import Activity, Contact

    app = _app(db_url, instance)
    with app.app_context():
        with all_tenants():
            tenant = db.session.execute(sa.select(Tenant).where(Tenant.slug == SLUG)).scalar_one()
        started = time.perf_counter()
        count = 0
        with tenant_context(tenant), tempfile.TemporaryFile() as out:
            for model in (Contact, Activity):
                columns = [c for c in model.__table__.columns]
                stmt = sa.select(*columns).where(model.tenant_id == tenant.id)
                out.write(b"[")
                for row in db.session.execute(stmt, execution_options={"yield_per": 2000}):
                    item = {k: (base64.b64encode(v).decode() if isinstance(v, bytes) else
                                (str(v) if v is not None and not isinstance(v, int | bool) else v))
                            for k, v in row._mapping.items()}
                    out.write((b",\n" if count else b"\n") + json.dumps(item).encode())
                    count += 1
                out.write(b"\n]\n")
            size = out.tell()
        seconds = time.perf_counter() - started
    return {"records": count, "seconds": seconds, "bytes": size, "peak_rss_mb": _peak_rss_mb()}


def run_export(db_url: str, instance: str) -> dict:
    import sqlalchemy as sa

    from tenantry.platform import jobs
    from tenantry.platform.db import db
    from tenantry.platform.tenancy import Tenant, all_tenants, tenant_context
    from tenantry.tenants.lifecycle import export

    app = _app(db_url, instance)
    with app.app_context():
        with all_tenants():
            tenant = db.session.execute(sa.select(Tenant).where(Tenant.slug == SLUG)).scalar_one()
            tenant_id = tenant.id
        with tenant_context(tenant):
            export_id = export.request().id
        db.session.commit()
        jobs.discard_pending()  # run it here, timed, exactly as a worker would
        started = time.perf_counter()
        jobs.run("tenantry.tenants.lifecycle.export:run", str(tenant_id), {"export_id": str(export_id)})
        seconds = time.perf_counter() - started
        with tenant_context(db.session.get(Tenant, tenant_id)):
            done = export.get(export_id)
            counts = done.row_counts
            assert done.status == "done", done.status
            size = done.size_bytes
    return {"records": counts["contacts"] + counts["activities"], "all_records": sum(counts.values()),
            "seconds": seconds, "bytes": size, "peak_rss_mb": _peak_rss_mb()}


def _child(kind: str, db_url: str, instance: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, __file__, "--child", kind, "--database-url", db_url,
                          "--instance", instance], env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{kind} run failed:\n{out.stdout}\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--activities", type=int, default=None, help="default: twice the contacts")
    parser.add_argument("--database-url", help="default: SQLite in a temporary directory")
    parser.add_argument("--migrate-url", help="schema owner's URL for the migration (PostgreSQL)")
    parser.add_argument("--postgres", action="store_true",
                        help="use TENANTRY_TEST_DATABASE_URL / TENANTRY_TEST_MIGRATE_DATABASE_URL (scripts/test.sh)")
    parser.add_argument("--instance", help=argparse.SUPPRESS)
    parser.add_argument("--child", choices=("baseline", "export"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        result = (run_baseline if args.child == "baseline" else run_export)(args.database_url, args.instance)
        print(json.dumps(result))
        return

    workdir = tempfile.mkdtemp(prefix="tenantry-bench-export-")
    instance = args.instance or os.path.join(workdir, "instance")
    db_url, migrate_url = args.database_url, args.migrate_url
    if args.postgres:
        db_url = os.environ["TENANTRY_TEST_DATABASE_URL"]
        migrate_url = os.environ["TENANTRY_TEST_MIGRATE_DATABASE_URL"]
    db_url = db_url or f"sqlite:///{workdir}/bench.sqlite3"
    activities = args.activities if args.activities is not None else 2 * args.contacts
    setup(db_url, migrate_url, instance, args.contacts, activities)

    baseline = _child("baseline", db_url, instance)
    exported = _child("export", db_url, instance)
    base_rps = baseline["records"] / baseline["seconds"]
    export_rps = exported["records"] / exported["seconds"]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True, check=False).stdout.strip()
    kind = db_url.split(":", 1)[0]
    print(f"database: {kind}  rows: {args.contacts} contacts + {activities} activities  commit: {commit}")
    print(f"baseline SELECT -> JSON: {baseline['records']} records in {baseline['seconds']:.1f} s = "
          f"{base_rps:,.0f} records/s, peak RSS {baseline['peak_rss_mb']:.0f} MB")
    print(f"full export (sealed ZIP): {exported['records']} records in {exported['seconds']:.1f} s = "
          f"{export_rps:,.0f} records/s, peak RSS {exported['peak_rss_mb']:.0f} MB, "
          f"{exported['bytes'] / 1e6:.1f} MB ZIP")
    ratio = export_rps / base_rps
    print(f"ratio export/baseline: {ratio:.2f} (target >= 0.5: {'met' if ratio >= 0.5 else 'NOT met'}); "
          f"export peak RSS {exported['peak_rss_mb']:.0f} MB (target < 200 MB: "
          f"{'met' if exported['peak_rss_mb'] < 200 else 'NOT met'})")


if __name__ == "__main__":
    main()
