"""What does the audit trail cost the API's reads? [issue 4, DPA-B.logging]

Seeds one tenant with N contacts (default 5,000) through `fields.TenantCipher`, creates an
API client with scope crm:read, then starts gunicorn on loopback from this same checkout,
serving two modes:

  audited  the app as it is: every list or detail read records its `crm.contact.listed/viewed`
           event. With Redis (the default under scripts/test.sh) the event goes to the audit
           inbox, and an `rq worker` beside gunicorn writes the inbox into the chain in batches,
           on the same cores, so that work is measured too. Without Redis (--no-redis) it is
           chained (one statement: head row UPDATE under its lock, SHA-256, INSERT) and
           committed with the view's transaction;
  no-op    the same code with `tenantry.platform.audit.record`, `record_read` and the batch
           flush `write_batch` replaced by no-ops.

By default one server serves both, and each request picks its mode by the X-Bench-Audit
header (`install_switch`): the same processes, connection pools and caches measure both
modes. With --two-servers each mode gets its own gunicorn (BENCH_AUDIT_MODE, read by
`wsgi_app()` below, which is what gunicorn loads); two servers differed by more than
auditing costs, in either direction, from run to run. --batch-off (two servers) adds a
third with the request's read batch switched off, an experiment for the pages.

Rounds alternate between the two (ABBA order, so neither always goes first) for both
`GET /api/v1/contacts?limit=50` and `GET /api/v1/contacts/<id>`, each round a few client
threads for a few seconds after a warm-up. Prints requests/second of both, the ratio
audited / no-op per endpoint (target >= 0.9), latencies, CPU milliseconds per request by
process (bench/cpu.py: what a ratio is made of), database, row counts and commit,
and writes the same as JSON to bench/results/.

  scripts/test.sh with-services .venv/bin/python bench/audit.py            # PostgreSQL (app role)
  .venv/bin/python bench/audit.py --database-url postgresql://... --migrate-url postgresql://...
  .venv/bin/python bench/audit.py --breakdown     # where one audited request spends its time (cProfile)
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"
from bench.cpu import CpuMeter, median_per_request  # noqa: E402  (after the path set-up above)
from bench.rq_worker import RqWorker  # noqa: E402

SLUG = "bench-audit"
MODE_ENV = "BENCH_AUDIT_MODE"
MODE_HEADER = "X-Bench-Audit"
LIST_PATH = "/api/v1/contacts?limit=50"
NO_LIMIT = "100000000 per minute"


# --- the app gunicorn loads ------------------------------------------------------------------


def install_noop_audit() -> None:
    """Auditing swapped for a no-op: no event is built, batched, chained or written."""
    from tenantry.platform import audit

    def record(*_args, **_kwargs):
        return None

    def record_read(*_args, **_kwargs):
        return None

    def write_batch(_events, **_options):
        return None

    audit.record = record
    audit.record_read = record_read
    audit.write_batch = write_batch


def install_switch(app) -> None:
    """One server for both modes: each request picks audited or no-op by its MODE_HEADER, so
    the two are measured on the very same processes, connection pools and caches (two servers
    differed by more than auditing costs, in either direction, from run to run)."""
    from flask import request

    from tenantry.platform import audit

    real = {name: getattr(audit, name) for name in ("record", "record_read", "write_batch")}
    install_noop_audit()
    noop = {name: getattr(audit, name) for name in real}

    def choose_mode():
        for name, fn in (noop if request.headers.get(MODE_HEADER) == "noop" else real).items():
            setattr(audit, name, fn)

    app.before_request_funcs.setdefault(None, []).insert(0, choose_mode)


def wsgi_app():
    """gunicorn "bench.audit:wsgi_app()": the app, in the mode BENCH_AUDIT_MODE names."""
    mode = os.environ.get(MODE_ENV, "audited")
    if mode == "noop":
        install_noop_audit()
    from tenantry import create_app

    app = create_app()
    if mode == "batch-off":
        app.extensions["tenantry.audit_batching"] = False
    if mode == "switch":
        install_switch(app)
    return app


# --- settings and set-up ---------------------------------------------------------------------


def _env(db_url: str, instance: str, redis_url: str) -> dict[str, str]:
    return {"TENANTRY_ENV": "test", "DATABASE_URL": db_url, "TENANTRY_INSTANCE_DIR": instance,
            "TENANTRY_SECRET_KEY": "bench-audit-" + "x" * 40, "REDIS_URL": redis_url,
            "TENANTRY_STORAGE": "local", "TENANTRY_KEY_PROVIDER": "local", "TENANTRY_MAIL": "file",
            "TENANTRY_API_RATE_LIMIT": NO_LIMIT, "TENANTRY_API_TOKEN_RATE_LIMIT": NO_LIMIT}


def setup(env: dict[str, str], migrate_url: str | None, contacts: int) -> dict:
    """Migrate, seed the tenant once (reused when it exists), and create a fresh crm:read client."""
    os.environ.update(env)
    if migrate_url:
        os.environ["TENANTRY_MIGRATE_DATABASE_URL"] = migrate_url
    import flask_migrate
    import sqlalchemy as sa

    from tenantry import create_app
    from tenantry.platform import clock
    from tenantry.platform.crypto import fields
    from tenantry.platform.db import db
    from tenantry.platform.identity.models import Membership, User
    from tenantry.platform.tenancy import Tenant, all_tenants, tenant_context
    from tenantry.tenants.api import clients
    from tenantry.tenants.crm.models import Contact

    app = create_app()
    with app.app_context():
        flask_migrate.upgrade(directory=str(ROOT / "migrations"))
        with all_tenants():
            tenant = db.session.execute(sa.select(Tenant).where(Tenant.slug == SLUG)).scalar_one_or_none()
        if tenant is None:
            owner = User(email=f"owner-{uuid.uuid4().hex[:8]}@bench.example", name="Bench Owner")
            tenant = Tenant(slug=SLUG, name="Bench audit", country="CZ")
            db.session.add_all([owner, tenant])
            db.session.flush()
            with tenant_context(tenant):
                db.session.add(Membership(tenant_id=tenant.id, user_id=owner.id, role="owner"))
                db.session.flush()
        started = time.perf_counter()
        with tenant_context(tenant):
            have = db.session.execute(sa.select(sa.func.count()).select_from(Contact)).scalar_one()
            cipher = fields.TenantCipher(tenant.id)
            now = clock.now()
            for start in range(have, contacts, 1000):
                rows = []
                for i in range(start, min(contacts, start + 1000)):
                    cid = uuid.uuid4()

                    def enc(value, column, cid=cid):
                        return cipher.encrypt(value, table="contacts", column=column, row_id=cid)

                    rows.append({"id": cid, "tenant_id": tenant.id, "created_at": now, "updated_at": now,
                                 "first_name": enc("Jana", "first_name"), "last_name": enc(f"Nováková {i}", "last_name"),
                                 "emails": enc(json.dumps([f"jana{i}@example.com"]), "emails"),
                                 "phones": enc(json.dumps(["+420601234567"]), "phones"),
                                 "position": enc("CFO", "position"), "tags": enc(json.dumps(["vip"]), "tags")})
                db.session.execute(sa.insert(Contact.__table__), rows)
            seeded = max(0, contacts - have)
            ids = [str(i) for i in db.session.execute(sa.select(Contact.id).order_by(Contact.created_at, Contact.id)
                                                      .limit(contacts)).scalars()]
            created = clients.create(f"bench {datetime.now(UTC):%H%M%S}", ["crm:read"])
            credentials = {"client_id": created.client.client_id, "client_secret": created.client_secret}
        db.session.commit()
        info = {"tenant_id": str(tenant.id), "contacts_seeded_now": seeded, "contact_ids": ids,
                "seed_seconds": round(time.perf_counter() - started, 2), **credentials,
                "dialect": db.engine.dialect.name, "server_version": _server_version(db)}
    return info


def _server_version(db) -> str:
    import sqlalchemy as sa

    if db.engine.dialect.name == "postgresql":
        return db.session.execute(sa.text("SHOW server_version")).scalar_one()
    return db.engine.dialect.name


def row_counts(env: dict[str, str], tenant_id: str) -> dict[str, int]:
    """Counted through the schema owner or app role as configured; the app role sees the tenant's rows."""
    import sqlalchemy as sa

    from tenantry import create_app
    from tenantry.platform.audit import AuditEvent
    from tenantry.platform.db import db
    from tenantry.platform.tenancy import Tenant, tenant_context
    from tenantry.tenants.crm.models import Contact

    os.environ.update(env)
    app = create_app()
    with app.app_context():
        tenant = db.session.get(Tenant, uuid.UUID(tenant_id))
        with tenant_context(tenant):
            contacts = db.session.execute(sa.select(sa.func.count()).select_from(Contact)).scalar_one()
            events = db.session.execute(sa.select(sa.func.count()).select_from(AuditEvent)
                                        .where(AuditEvent.tenant_id == tenant.id)).scalar_one()
        db.session.rollback()
    return {"contacts": contacts, "tenant_audit_events": events}


# --- servers ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, name: str, env: dict[str, str], workers: int, log_dir: Path):
        self.name, self.port = name, _free_port()
        self.log = open(log_dir / f"gunicorn-{name}.log", "w")  # closed in stop()
        full_env = dict(os.environ, **env, PYTHONPATH=str(ROOT))
        full_env[MODE_ENV] = name
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        self.proc = subprocess.Popen(
            [gunicorn, "bench.audit:wsgi_app()", "--chdir", str(ROOT), "--bind", f"127.0.0.1:{self.port}",
             "--workers", str(workers), "--worker-tmp-dir", "/dev/shm", "--timeout", "120"],  # noqa: S108  (as the image)
            env=full_env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"gunicorn {self.name} exited; see {self.log.name}")
            try:
                status, _ = request(self.port, "GET", "/api/v1/openapi.json")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"gunicorn {self.name} did not answer within {timeout} s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


def request(port: int, method: str, path: str, headers: dict | None = None, body: str | None = None,
            conn: http.client.HTTPConnection | None = None) -> tuple[int, bytes]:
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        if own:
            conn.close()


def token(port: int, info: dict) -> str:
    raw = base64.b64encode(f"{info['client_id']}:{info['client_secret']}".encode()).decode()
    status, body = request(port, "POST", "/oauth/token", {
        "Authorization": f"Basic {raw}", "Content-Type": "application/x-www-form-urlencoded"},
        "grant_type=client_credentials&scope=crm%3Aread")
    if status != 200:
        raise SystemExit(f"no token from port {port}: {status} {body[:300]!r}")
    return json.loads(body)["access_token"]


# --- load ------------------------------------------------------------------------------------


def load(port: int, bearer: str, paths, threads: int, seconds: float, extra: dict | None = None) -> dict:
    """`threads` clients, each sending requests one after the other for `seconds`."""
    stop_at = time.perf_counter() + seconds
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors = [0] * threads
    sample: list[str] = []
    headers = {"Authorization": f"Bearer {bearer}", **(extra or {})}

    def client(n: int) -> None:
        rng = random.Random(n)  # noqa: S311
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.perf_counter() < stop_at:
            path = paths(rng)
            t0 = time.perf_counter()
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                body = response.read()
                ok = response.status == 200
                if not ok and not sample:
                    sample.append(f"{response.status} {body[:200]!r}")
                if response.will_close:
                    conn.close()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                ok = False
                if not sample:
                    sample.append(repr(exc))
            if ok:
                latencies[n].append(time.perf_counter() - t0)
            else:
                errors[n] += 1
        conn.close()

    started = time.perf_counter()
    pool = [threading.Thread(target=client, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - started
    flat = sorted(x for per in latencies for x in per)
    return {"requests": len(flat), "errors": sum(errors), "error_sample": sample[0] if sample else None, "seconds": elapsed, "rps": len(flat) / elapsed,
            "p50_ms": 1000 * flat[len(flat) // 2] if flat else None,
            "p95_ms": 1000 * flat[int(len(flat) * 0.95)] if flat else None}


def run(args) -> None:
    db_url = args.database_url or os.environ.get("TENANTRY_TEST_DATABASE_URL")
    migrate_url = args.migrate_url or os.environ.get("TENANTRY_TEST_MIGRATE_DATABASE_URL")
    RESULTS.mkdir(parents=True, exist_ok=True)
    instance = str(RESULTS / "audit-instance")  # the master key outlives a run, as the tenant may
    if not db_url:
        tmp = tempfile.mkdtemp(prefix="bench-audit-")
        instance = tmp
        db_url = f"sqlite:///{tmp}/bench.sqlite3"
        print("no PostgreSQL (TENANTRY_TEST_DATABASE_URL): SQLite in a temporary directory; its numbers say little",
              flush=True)
    redis_url = "" if args.no_redis else os.environ.get("TENANTRY_TEST_REDIS_URL", "")
    env = _env(db_url, instance, redis_url)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                            check=False).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True,
                                check=False).stdout.strip())
    info = setup(env, migrate_url, args.contacts)
    ids = info.pop("contact_ids")
    print(f"database {info['dialect']} {info['server_version']}, tenant {SLUG}: {len(ids)} contacts "
          f"({info['contacts_seeded_now']} seeded now in {info['seed_seconds']} s); jobs "
          f"{'via Redis, with an rq worker beside gunicorn (it drains the audit inbox)' if redis_url else 'inline'}; "
          f"commit {commit}{' (dirty tree)' if dirty else ''}", flush=True)
    if args.breakdown:
        breakdown(env, info, ids, args)
        return

    modes = ("audited", "noop", "batch-off") if args.batch_off else ("audited", "noop")
    two_servers = args.two_servers or args.batch_off
    if two_servers:
        servers = {name: Server(name, env, args.workers, RESULTS) for name in modes}
        targets = {name: (servers[name], {}) for name in modes}
    else:
        servers = {"switch": Server("switch", env, args.workers, RESULTS)}
        targets = {name: (servers["switch"], {MODE_HEADER: name}) for name in modes}
    worker = RqWorker(env, ROOT, RESULTS / "rq-worker.log", redis_url) if redis_url else None
    inbox_left = 0
    try:
        for server in servers.values():
            server.wait()
        tokens = {name: token(s.port, info) for name, s in servers.items()}
        meter = CpuMeter({f"gunicorn {name}" if two_servers else "gunicorn": s.proc.pid for name, s in servers.items()}
                         | ({"rq worker": worker.proc.pid} if worker else {}))
        endpoints = {"list": lambda rng: LIST_PATH,
                     "detail": lambda rng: f"/api/v1/contacts/{rng.choice(ids)}"}

        def measure(name: str, paths, seconds: float) -> dict:
            server, extra = targets[name]
            before = meter.sample()
            result = load(server.port, tokens[server.name], paths, args.threads, seconds, extra)
            result["cpu_ms_per_request"] = meter.per_request(before, result["requests"])
            return result

        for name, (server, _) in targets.items():  # warm-up: every worker connects, loads keys, fills caches
            for endpoint, paths in endpoints.items():
                warm = measure(name, paths, args.warmup)
                if warm["errors"] or not warm["requests"]:
                    raise SystemExit(f"{name} {endpoint}: {warm['errors']} errors in the warm-up, e.g. "
                                     f"{warm['error_sample']}; see {server.log.name}")
        rounds: dict[str, dict[str, list[dict]]] = {e: {m: [] for m in modes} for e in endpoints}
        for r in range(args.rounds):
            order = modes if r % 2 == 0 else modes[::-1]
            for endpoint, paths in endpoints.items():
                for name in order:
                    result = measure(name, paths, args.seconds)
                    rounds[endpoint][name].append(result)
                    print(f"round {r + 1}/{args.rounds} {endpoint:6} {name:9} {result['rps']:7.1f} req/s  "
                          f"p50 {result['p50_ms'] or 0:6.1f} ms  p95 {result['p95_ms'] or 0:6.1f} ms  "
                          f"errors {result['errors']}"
                          + (f"  inbox {worker.inbox()}" if worker else ""), flush=True)
        inbox_left = worker.drained() if worker else 0
    finally:
        for server in servers.values():
            server.stop()
        if worker:
            worker.stop()

    counts = row_counts(env, info["tenant_id"])
    summary = {}
    print()
    print(f"GET {LIST_PATH} and GET /api/v1/contacts/<id>, {args.threads} client threads, gunicorn "
          f"{args.workers} sync workers {'per server' if two_servers else 'serving both modes (chosen per request)'}, "
          f"{args.rounds} rounds x {args.seconds} s each")
    for endpoint, by_mode in rounds.items():
        total = {m: sum(x["requests"] for x in rs) / sum(x["seconds"] for x in rs) for m, rs in by_mode.items()}
        p50 = {m: statistics.median([x["p50_ms"] for x in rs if x["p50_ms"]] or [0]) for m, rs in by_mode.items()}
        summary[endpoint] = {"rps": total, "p50_ms": p50,
                             "errors": {m: sum(x["errors"] for x in rs) for m, rs in by_mode.items()}}
        for mode in modes:
            if mode == "noop":
                continue
            per_round = [a["rps"] / n["rps"] for a, n in zip(by_mode[mode], by_mode["noop"], strict=True) if n["rps"]]
            ratio = total[mode] / total["noop"] if total["noop"] else float("nan")
            median = statistics.median(per_round) if per_round else float("nan")
            summary[endpoint][f"ratio_{mode}"] = ratio
            summary[endpoint][f"ratio_{mode}_per_round"] = per_round
            verdict = "meets" if ratio >= 0.9 else "BELOW"
            print(f"  {endpoint:6} {mode:9}: {total[mode]:7.1f} req/s vs no-op {total['noop']:7.1f} req/s, "
                  f"ratio {ratio:.3f} (median of rounds {median:.3f}; {verdict} the 0.9 target); "
                  f"p50 {p50[mode]:.1f} vs {p50['noop']:.1f} ms")
        cpu = {m: median_per_request(rs) for m, rs in by_mode.items()}
        summary[endpoint]["cpu_ms_per_request"] = cpu
        for mode in modes:
            if cpu[mode]:
                print(f"  {endpoint:6} {mode:9}  CPU ms per request (median of rounds): {sum(cpu[mode].values()):.2f} = "
                      + ", ".join(f"{group} {ms:.2f}" for group, ms in cpu[mode].items()))
    print(f"  rows after the run: {counts['contacts']} contacts, {counts['tenant_audit_events']} audit events "
          f"of the tenant ({inbox_left} still in the Redis inbox); database {info['dialect']} "
          f"{info['server_version']} as the application role; "
          f"commit {commit}{' (dirty tree)' if dirty else ''}")
    out = RESULTS / f"audit-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps({
        "commit": commit, "dirty_tree": dirty, "database": f"{info['dialect']} {info['server_version']}",
        "redis": bool(redis_url), "contacts": len(ids), "row_counts_after": counts, "inbox_left": inbox_left,
        "threads": args.threads, "workers": args.workers, "rounds": args.rounds, "seconds": args.seconds,
        "summary": summary, "rounds_detail": rounds}, indent=2, default=str))
    print(f"  written to {out.relative_to(ROOT)}")


# --- where one request spends its time ------------------------------------------------------


def breakdown(env: dict[str, str], info: dict, ids: list[str], args) -> None:
    """In this process, with Flask's test client: per-request time, app CPU and SQL statements of
    list and detail requests audited, with the read batch off, and with the no-op, interleaved;
    the time spent in the read batch (audit.write_batch); a cProfile of audited detail requests."""
    import cProfile
    import io
    import pstats

    import sqlalchemy as sa

    from tenantry import create_app
    from tenantry.platform import audit

    os.environ.update(env)
    app = create_app()
    client = app.test_client()
    raw = base64.b64encode(f"{info['client_id']}:{info['client_secret']}".encode()).decode()
    got = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                      headers={"Authorization": f"Basic {raw}"})
    headers = {"Authorization": f"Bearer {got.get_json()['access_token']}"}
    real = {name: getattr(audit, name) for name in ("record", "record_read", "write_batch")}
    spent = {"write_batch": 0.0, "statements": 0}

    def timed_write_batch(events, **options):
        t0 = time.perf_counter()
        try:
            return real["write_batch"](events, **options)
        finally:
            spent["write_batch"] += time.perf_counter() - t0

    def count_statement(*_args):
        spent["statements"] += 1

    sa.event.listen(sa.Engine, "before_cursor_execute", count_statement)

    def mode(name: str) -> None:
        for attr, fn in real.items():
            setattr(audit, attr, fn)
        audit.write_batch = timed_write_batch
        app.extensions["tenantry.audit_batching"] = name != "batch-off"
        if name == "noop":
            install_noop_audit()

    rng = random.Random(1)  # noqa: S311
    paths = {"list": lambda: LIST_PATH, "detail": lambda: f"/api/v1/contacts/{rng.choice(ids)}"}
    modes = ("audited", "batch-off", "noop")

    cpu = {"s": 0.0}

    def timed(n: int, path) -> float:
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(n):
            assert client.get(path(), headers=headers).status_code == 200
        cpu["s"] = (time.process_time() - c0) / n
        return (time.perf_counter() - t0) / n

    n = args.breakdown_requests
    samples = {(e, m): [] for e in paths for m in modes}
    cpu_ms = {(e, m): [] for e in paths for m in modes}
    batch_ms, statements = {}, {}
    for p in paths.values():
        for m in modes:
            mode(m)
            timed(10, p)  # warm-up
    for r in range(args.rounds):
        for e, p in paths.items():
            for m in (modes if r % 2 == 0 else modes[::-1]):
                mode(m)
                spent["write_batch"], spent["statements"] = 0.0, 0
                samples[(e, m)].append(timed(n, p) * 1000)
                cpu_ms[(e, m)].append(cpu["s"] * 1000)
                batch_ms[(e, m)] = spent["write_batch"] / n * 1000
                statements[(e, m)] = spent["statements"] / n
    mode("audited")
    profiler = cProfile.Profile()
    profiler.enable()
    timed(n, paths["detail"])
    profiler.disable()
    sa.event.remove(sa.Engine, "before_cursor_execute", count_statement)
    for attr, fn in real.items():
        setattr(audit, attr, fn)

    lines = [f"in-process (Flask test client), {args.rounds} interleaved rounds of {n} requests, median ms/request:"]
    results = {}
    for e in paths:
        base = statistics.median(samples[(e, "noop")])
        for m in modes:
            ms = statistics.median(samples[(e, m)])
            app_cpu = statistics.median(cpu_ms[(e, m)])
            results[f"{e} {m}"] = {"ms": ms, "ratio": base / ms, "write_batch_ms": batch_ms[(e, m)],
                                   "sql_statements": statements[(e, m)], "app_cpu_ms": app_cpu}
            lines.append(f"  {e:6} {m:9} {ms:7.2f} ms (app CPU {app_cpu:6.2f} ms)  ratio vs no-op {base / ms:.3f}  "
                         f"read batch {batch_ms[(e, m)]:5.2f} ms  SQL statements {statements[(e, m)]:.1f}")
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(40)
    lines += ["", "cProfile of the audited detail requests (cumulative):", text.getvalue()]
    print("\n".join(lines))
    out = RESULTS / f"audit-breakdown-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.txt"
    out.write_text(json.dumps(results, indent=2) + "\n\n" + "\n".join(lines))
    print(f"written to {out.relative_to(ROOT)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=5000)
    parser.add_argument("--threads", type=int, default=4, help="client threads per round")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per server")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=1.0, help="length of one round")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up per server and endpoint")
    parser.add_argument("--database-url", help="default: TENANTRY_TEST_DATABASE_URL (scripts/test.sh), else SQLite")
    parser.add_argument("--migrate-url", help="default: TENANTRY_TEST_MIGRATE_DATABASE_URL")
    parser.add_argument("--no-redis", action="store_true", help="run jobs inline even when TENANTRY_TEST_REDIS_URL is set")
    parser.add_argument("--two-servers", action="store_true",
                        help="one gunicorn per mode instead of one serving both, the mode chosen per request")
    parser.add_argument("--batch-off", action="store_true",
                        help="also run a third server with the request's read batch switched off")
    parser.add_argument("--breakdown", action="store_true", help="profile requests in-process instead")
    parser.add_argument("--breakdown-requests", type=int, default=50, help="requests per mode and round")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
