"""What do tenancy, encryption and the audit trail cost the contacts API? [issue 3]

Seeds one tenant with N contacts (default 20,000) encrypted and blind-indexed exactly as the
CSV import writes them (fields.TenantCipher), and an unencrypted copy of the same rows for
bench/baseline_app.py in its own database of the same PostgreSQL cluster. Serves both with
gunicorn on loopback (same worker count), then measures, interleaved round by round with a
warm-up first, the throughput of

  list    GET  /api/v1/contacts?limit=50
  detail  GET  /api/v1/contacts/<id>          (a random seeded id)
  search  GET  /api/v1/contacts?q=<email>     (a random seeded e-mail)
  create  POST /api/v1/contacts

from a few client threads (one connection per request: gunicorn's sync workers close it).
Prints the ratio tenantry/baseline per endpoint (target >= 0.85), the absolute numbers, the
database, row counts and commit, and writes the lot to bench/results/crm-<time>.json.

A third app, bench/floor_app.py, runs beside them (unless --no-floor) in a third database: the
baseline plus the cheapest form of what the issue guarantees per request (fields encrypted,
blind-index search, a shared per-client rate limit, an audit event per access). Its ratio to the
baseline is the best any implementation of those guarantees could reach in this run; Tenantry's
ratio to it is the part of the gap that is Tenantry's own overhead.

Tenantry runs as the application role under row-level security, with an OAuth2 token from
/oauth/token for a client made by `flask tenantry api-clients create`. Its per-client API
rate limit (600/minute by default) is raised for the run (TENANTRY_API_RATE_LIMIT), the
limiter itself still runs. Jobs: with `--jobs redis` (the default when scripts/test.sh
started a Redis) requests enqueue their jobs on RQ and read events go to the audit inbox, as
in production, and an `rq worker` runs beside gunicorn on the same cores (it writes the inbox
into the chain: that work is measured too); `--jobs inline` runs jobs inside each request and
writes read events in it, as `make run` does.

The code run is a copy of the working tree taken at the start (other people's edits during
the run cannot change what is measured; --no-snapshot runs the live tree). --profile N also
times N in-process requests per endpoint under cProfile with their SQL statements counted
(bench/results/profile-<endpoint>.txt, and .prof for pstats).

  scripts/test.sh with-services .venv/bin/python bench/crm.py
  scripts/test.sh with-services .venv/bin/python bench/crm.py --seconds 3 --rounds 2 --jobs inline
  scripts/test.sh with-services .venv/bin/python bench/crm.py --profile 50
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
CODE = ROOT  # the tree that is run; a snapshot of ROOT unless --no-snapshot (see main)
VENV_BIN = Path(sys.executable).parent
SLUG = "bench-crm"
BASELINE_DB = "tenantry_bench_baseline"
FLOOR_DB = "tenantry_bench_floor"
TARGET = 0.85
ENDPOINTS = ("list", "detail", "search", "create")
FIRST = ("Jana", "Petr", "Eva", "Tomáš", "Lucie", "Martin", "Kateřina", "Jiří", "Anna", "Pavel")
LAST = ("Nováková", "Svoboda", "Dvořáková", "Černý", "Procházková", "Kučera", "Veselá", "Horák", "Němcová",
        "Marek")


def _app_settings(db_url: str, instance: str, redis_url: str) -> dict[str, str]:
    return {"TENANTRY_ENV": "test", "DATABASE_URL": db_url, "TENANTRY_INSTANCE_DIR": instance,
            "TENANTRY_SECRET_KEY": "bench-crm-" + "x" * 40, "REDIS_URL": redis_url, "TENANTRY_STORAGE": "local",
            "TENANTRY_KEY_PROVIDER": "local", "TENANTRY_MAIL": "file",
            "TENANTRY_API_RATE_LIMIT": "1000000 per minute", "TENANTRY_API_TOKEN_RATE_LIMIT": "1000 per minute"}


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def _psycopg_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _git(*args: str) -> str:
    return subprocess.run(["git", "--no-optional-locks", *args], cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()


# --- the data, the same for both -----------------------------------------------------------


def people(n: int) -> list[dict]:
    """Deterministic contacts, oldest first, one second apart."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rng = random.Random(3)
    out = []
    for i in range(n):
        first, last = FIRST[i % len(FIRST)], LAST[(i // len(FIRST)) % len(LAST)]
        out.append({
            "id": uuid.UUID(int=rng.getrandbits(128), version=4), "first_name": first, "last_name": last,
            "emails": [f"contact{i}@example.com"], "phones": [f"+420601{i:06d}"],
            "position": "Purchasing manager" if i % 3 == 0 else None,
            "tags": ["customer"] if i % 2 == 0 else [], "created_at": start + timedelta(seconds=i),
        })
    return out


# --- set-up ----------------------------------------------------------------------------------


def snapshot(into: Path, at_head: list[str]) -> Path:
    """A copy of the working tree (tracked and untracked, not ignored files) to run from, so
    that edits made in ROOT during the run cannot change the code being measured. Paths in
    `at_head` are taken as committed instead (a file someone is half-way through editing)."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True,
                            check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            target = into / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    for name in at_head:
        committed = subprocess.run(["git", "show", f"HEAD:{name}"], cwd=ROOT, capture_output=True, check=True).stdout
        (into / name).write_bytes(committed)
    return into


def _flask(env: dict[str, str], *args: str) -> str:
    out = subprocess.run([str(VENV_BIN / "flask"), "--app", "wsgi", *args], cwd=CODE,
                         env={**env, "PYTHONPATH": str(CODE)},
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"flask {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
    return out.stdout


def setup_tenantry(env: dict[str, str], migrate_url: str, rows: list[dict]) -> dict:
    import sqlalchemy as sa

    _flask({**env, "TENANTRY_MIGRATE_DATABASE_URL": migrate_url}, "db", "upgrade")

    from tenantry import create_app
    from tenantry.platform.crypto import fields
    from tenantry.platform.db import db
    from tenantry.platform.tenancy import Tenant, all_tenants, tenant_context
    from tenantry.tenants.crm.models import CONTACT, Contact, SearchIndex

    app = create_app({k: v for k, v in env.items() if k.startswith(("TENANTRY_", "DATABASE_URL", "REDIS_URL"))})
    with app.app_context():
        with all_tenants():
            tenant = db.session.execute(sa.select(Tenant).where(Tenant.slug == SLUG)).scalar_one_or_none()
        if tenant is None:
            _flask(env, "tenantry", "tenants", "create", SLUG, "--name", "Bench CRM", "--owner-email",
                   "owner@bench.example")
            with all_tenants():
                tenant = db.session.execute(sa.select(Tenant).where(Tenant.slug == SLUG)).scalar_one()
        with tenant_context(tenant):
            have = db.session.execute(sa.select(sa.func.count()).select_from(Contact)).scalar_one()
            started = time.perf_counter()
            if have == 0:
                # The CSV import's bulk path (csv_import.write): keys looked up once per batch job.
                cipher = fields.TenantCipher(tenant.id)
                tid = tenant.id
                for start in range(0, len(rows), 2000):
                    records, index = [], []
                    for p in rows[start:start + 2000]:
                        values = {"first_name": p["first_name"], "last_name": p["last_name"],
                                  "emails": json.dumps(p["emails"], ensure_ascii=False),
                                  "phones": json.dumps(p["phones"], ensure_ascii=False),
                                  "address": None, "position": p["position"], "notes": None,
                                  "tags": json.dumps(p["tags"], ensure_ascii=False) if p["tags"] else None}
                        record = {"id": p["id"], "tenant_id": tid, "company_id": None,
                                  "created_at": p["created_at"], "updated_at": p["created_at"]}
                        for column in Contact.ENCRYPTED:
                            record[column] = cipher.encrypt(values[column], table="contacts", column=column,
                                                            row_id=p["id"])
                        pairs = {("email", cipher.blind_index("email", e)) for e in p["emails"]}
                        pairs |= {("phone", cipher.blind_index("phone", ph)) for ph in p["phones"]}
                        for name in (p["first_name"], p["last_name"]):
                            pairs |= {("name", d) for d in cipher.name_indexes(name)}
                        records.append(record)
                        index.extend({"tenant_id": tid, "entity": CONTACT, "row_id": p["id"], "kind": kind,
                                      "digest": d} for kind, d in sorted(pairs))
                    db.session.execute(sa.insert(Contact.__table__), records)
                    db.session.execute(sa.insert(SearchIndex.__table__), index)
                db.session.commit()
                print(f"tenantry: seeded {len(rows)} contacts in {time.perf_counter() - started:.1f} s", flush=True)
            else:
                print(f"tenantry: tenant {SLUG} has {have} contacts already: reusing them", flush=True)
        tenant_id = str(tenant.id)
    client = json.loads(_flask(env, "tenantry", "api-clients", "create", SLUG, "--name", "bench",
                               "--scopes", "crm:read crm:write", "--json").strip().splitlines()[-1])
    return {"tenant_id": tenant_id, **client}


def _fresh_database(owner_url: str, name: str) -> str:
    import psycopg

    with psycopg.connect(_psycopg_url(owner_url), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    return _with_database(owner_url, name)


def setup_baseline(owner_url: str, rows: list[dict]) -> str:
    import sqlalchemy as sa

    url = _fresh_database(owner_url, BASELINE_DB)
    os.environ["BENCH_BASELINE_DATABASE_URL"] = url
    from bench import baseline_app

    app = baseline_app.create_app()
    started = time.perf_counter()
    with app.app_context():
        baseline_app.db.create_all()
        table = baseline_app.Contact.__table__
        for start in range(0, len(rows), 2000):
            db_rows = [{"id": p["id"], "first_name": p["first_name"], "last_name": p["last_name"],
                        "email": p["emails"][0].lower(), "emails": p["emails"], "phones": p["phones"],
                        "address": None, "company_id": None, "position": p["position"], "notes": None,
                        "tags": p["tags"], "created_at": p["created_at"], "updated_at": p["created_at"]}
                       for p in rows[start:start + 2000]]
            baseline_app.db.session.execute(sa.insert(table), db_rows)
        baseline_app.db.session.commit()
    print(f"baseline: seeded {len(rows)} contacts in {time.perf_counter() - started:.1f} s", flush=True)
    return url


def setup_floor(owner_url: str, rows: list[dict], settings: dict[str, str]) -> str:
    """bench/floor_app.py's database: the same rows, sealed and digested as the floor app writes them."""
    import sqlalchemy as sa

    url = _fresh_database(owner_url, FLOOR_DB)
    os.environ.update(settings, BENCH_FLOOR_DATABASE_URL=url)
    from bench import floor_app

    app = floor_app.create_app()
    sealer = floor_app.Sealer(bytes.fromhex(settings["BENCH_FLOOR_KEY"]))
    started = time.perf_counter()
    with app.app_context():
        floor_app.db.create_all()
        table = floor_app.Contact.__table__
        for start in range(0, len(rows), 2000):
            db_rows = [{"id": p["id"], "company_id": None, "created_at": p["created_at"],
                        "updated_at": p["created_at"], **floor_app.sealed_row(sealer, p["id"], p)}
                       for p in rows[start:start + 2000]]
            floor_app.db.session.execute(sa.insert(table), db_rows)
        floor_app.db.session.commit()
    print(f"floor: seeded {len(rows)} contacts in {time.perf_counter() - started:.1f} s", flush=True)
    return url


def analyze(url: str) -> None:
    import psycopg

    with psycopg.connect(_psycopg_url(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def facts(app_url: str, baseline_url: str, tenant_id: str) -> dict:
    import psycopg

    with psycopg.connect(_psycopg_url(app_url)) as conn:  # the application role, under RLS
        version = conn.execute("SHOW server_version").fetchone()[0]
        conn.execute("SELECT set_config('tenantry.tenant_id', %s, true)", (tenant_id,))
        tenantry_rows = conn.execute("SELECT count(*) FROM contacts").fetchone()[0]
        index_rows = conn.execute("SELECT count(*) FROM crm_search_index").fetchone()[0]
        audit_rows = conn.execute("SELECT count(*) FROM audit_events").fetchone()[0]
        role = conn.execute("SELECT current_user").fetchone()[0]
    with psycopg.connect(_psycopg_url(baseline_url)) as conn:
        baseline_rows = conn.execute("SELECT count(*) FROM contacts").fetchone()[0]
    return {"postgresql": version, "app_role": role, "tenantry_contacts": tenantry_rows,
            "tenantry_search_index_rows": index_rows, "tenantry_audit_events": audit_rows,
            "baseline_contacts": baseline_rows}


# --- servers -----------------------------------------------------------------------------------


class Server:
    def __init__(self, name: str, target: str, env: dict[str, str], workers: int, logdir: str):
        self.name, self.port = name, _free_port()
        self.log = open(os.path.join(logdir, f"{name}.log"), "w")  # noqa: SIM115  (closed in stop)
        self.proc = subprocess.Popen(
            [str(VENV_BIN / "gunicorn"), "--workers", str(workers), "--bind", f"127.0.0.1:{self.port}",
             "--chdir", str(CODE), "--timeout", "60", target],
            cwd=CODE, env={**env, "PYTHONPATH": str(CODE)}, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True)  # its own session: what bench/cpu.py counts as this server

    def wait(self) -> None:
        for _ in range(300):
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.name} exited while starting; see {self.log.name}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        raise SystemExit(f"{self.name} did not listen within 30 s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def request(port: int, method: str, path: str, headers: dict, body: bytes | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def tenantry_token(port: int, client: dict) -> str:
    basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
    status, body = request(port, "POST", "/oauth/token", {
        "Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
        b"grant_type=client_credentials&scope=crm%3Aread+crm%3Awrite")
    if status != 200:
        raise SystemExit(f"/oauth/token answered {status}: {body[:500]!r}")
    return json.loads(body)["access_token"]


# --- load ----------------------------------------------------------------------------------------


class Target:
    def __init__(self, name: str, port: int, token: str):
        self.name, self.port = name, port
        self.headers = {"Authorization": f"Bearer {token}", "Connection": "close"}


def make_call(endpoint: str, rows: list[dict], rng: random.Random, counter: list[int]):
    """(method, path, body, expected status) for the next request of `endpoint`."""
    if endpoint == "list":
        return "GET", "/api/v1/contacts?limit=50", None, 200
    if endpoint == "detail":
        return "GET", f"/api/v1/contacts/{rng.choice(rows)['id']}", None, 200
    if endpoint == "search":
        return "GET", f"/api/v1/contacts?q={quote(rng.choice(rows)['emails'][0])}", None, 200
    counter[0] += 1
    body = {"first_name": "Bench", "last_name": f"Created {counter[0]}",
            "email": f"created-{uuid.uuid4().hex[:12]}@example.com", "phone": "+420601234567",
            "position": "Buyer", "tags": ["bench"]}
    return "POST", "/api/v1/contacts", json.dumps(body).encode(), 201


def check(endpoint: str, status: int, body: bytes, expected: int) -> str | None:
    if status != expected:
        return f"{status}: {body[:300]!r}"
    if endpoint == "search" and len(json.loads(body)["items"]) != 1:
        return f"search found {len(json.loads(body)['items'])} rows, expected 1"
    if endpoint == "list" and len(json.loads(body)["items"]) != 50:
        return "list page is not 50 rows"
    return None


def load(target: Target, endpoint: str, rows: list[dict], *, seconds: float, threads: int,
         max_requests: int, seed: int) -> dict:
    """`threads` clients for `seconds` (and at most `max_requests` in all); returns the counts."""
    deadline_box: list[float] = []
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    issued = [0]
    go = threading.Barrier(threads + 1)

    def client(n: int) -> None:
        rng = random.Random(seed * 1000 + n)
        counter = [seed * 1_000_000 + n * 100_000]
        mine, bad = [], []
        go.wait()
        deadline = deadline_box[0]
        while time.perf_counter() < deadline:
            with lock:
                if issued[0] >= max_requests:
                    break
                issued[0] += 1
            method, path, body, expected = make_call(endpoint, rows, rng, counter)
            headers = dict(target.headers, **({"Content-Type": "application/json"} if body else {}))
            t0 = time.perf_counter()
            try:
                status, answer = request(target.port, method, path, headers, body)
                problem = check(endpoint, status, answer, expected)
            except (OSError, http.client.HTTPException) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            mine.append(time.perf_counter() - t0)
            if problem:
                bad.append(problem)
        with lock:
            latencies.extend(mine)
            errors.extend(bad)

    workers = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(threads)]
    for w in workers:
        w.start()
    started = time.perf_counter()
    deadline_box.append(started + seconds)
    go.wait()
    for w in workers:
        w.join(timeout=seconds + 120)
    elapsed = time.perf_counter() - started
    done = len(latencies)
    return {"requests": done, "seconds": elapsed, "rps": done / elapsed if elapsed else 0.0,
            "errors": len(errors), "first_error": errors[0] if errors else None,
            "p50_ms": statistics.median(latencies) * 1000 if latencies else None,
            "p95_ms": (statistics.quantiles(latencies, n=20)[-1] * 1000) if len(latencies) >= 20 else None}


def measure(targets: list[Target], rows: list[dict], args, meter) -> dict:
    runs: dict[str, dict[str, list[dict]]] = {e: {t.name: [] for t in targets} for e in ENDPOINTS}
    print(f"warm-up: {args.warmup:.0f} s per endpoint and app", flush=True)
    for endpoint in ENDPOINTS:
        for target in targets:
            warm = load(target, endpoint, rows, seconds=args.warmup, threads=args.threads,
                        max_requests=args.max_requests, seed=0)
            if warm["errors"]:
                raise SystemExit(f"{target.name} {endpoint}: {warm['errors']} errors in the warm-up, "
                                 f"first: {warm['first_error']}")
    for rnd in range(1, args.rounds + 1):
        for endpoint in ENDPOINTS:
            # Alternate who goes first, so a slow drift (autovacuum, cache) hits both alike.
            order = targets if (rnd + ENDPOINTS.index(endpoint)) % 2 else list(reversed(targets))
            for target in order:
                before = meter.sample()
                result = load(target, endpoint, rows, seconds=args.seconds, threads=args.threads,
                              max_requests=args.max_requests, seed=rnd)
                result["cpu_ms_per_request"] = meter.per_request(before, result["requests"])
                runs[endpoint][target.name].append(result)
                if result["errors"]:
                    raise SystemExit(f"{target.name} {endpoint}: {result['errors']} errors, first: "
                                     f"{result['first_error']}")
                print(f"  round {rnd} {endpoint:6} {target.name:8} {result['rps']:8.1f} req/s  "
                      f"p50 {result['p50_ms']:6.1f} ms  p95 {result['p95_ms'] or 0:6.1f} ms", flush=True)
    return runs


def summarise(runs: dict) -> dict:
    from bench.cpu import median_per_request  # importable once main has put the tree on the path

    out = {}
    for endpoint, by_app in runs.items():
        entry = {}
        for name, results in by_app.items():
            total = sum(r["requests"] for r in results)
            seconds = sum(r["seconds"] for r in results)
            entry[name] = {"requests": total, "rps": total / seconds,
                           "p50_ms": statistics.median(r["p50_ms"] for r in results),
                           "cpu_ms_per_request": median_per_request(results)}
        entry["ratio"] = entry["tenantry"]["rps"] / entry["baseline"]["rps"]
        entry["round_ratios"] = [t["rps"] / b["rps"] for t, b in zip(by_app["tenantry"], by_app["baseline"],
                                                                        strict=True)]
        if "floor" in by_app:
            # The best ratio the guarantees allow (bench/floor_app.py), and Tenantry against it.
            entry["floor_ratio"] = entry["floor"]["rps"] / entry["baseline"]["rps"]
            entry["of_floor"] = entry["tenantry"]["rps"] / entry["floor"]["rps"]
        out[endpoint] = entry
    return out


# --- profile: where one request's time goes ----------------------------------------------------


def profile(env: dict[str, str], client: dict, rows: list[dict], requests: int, out_dir: Path) -> dict:
    """Each endpoint `requests` times in this process through Flask's test client, under
    cProfile, counting the SQL statements per request by their first words."""
    import cProfile
    import io
    import pstats
    from collections import Counter

    import sqlalchemy as sa

    from tenantry import create_app

    app = create_app({k: v for k, v in env.items() if k.startswith(("TENANTRY_", "DATABASE_URL", "REDIS_URL"))})
    web = app.test_client()
    basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
    answer = web.post("/oauth/token", data={"grant_type": "client_credentials", "scope": "crm:read crm:write"},
                      headers={"Authorization": f"Basic {basic}"})
    headers = {"Authorization": f"Bearer {answer.get_json()['access_token']}"}
    statements: Counter = Counter()

    def count(_conn, _cursor, statement, *_args):
        words = statement.split()
        kind = " ".join(words[:2]) if words[:1] in (["SELECT"], ["INSERT"], ["UPDATE"]) else words[0]
        if kind.startswith("SELECT") and "FROM tenant_keys" in statement:
            kind = "SELECT tenant_keys"
        elif kind.startswith("SELECT") and "set_config" in statement:
            kind = "SELECT set_config"
        statements[kind] += 1

    with app.app_context():
        engine = app.extensions["sqlalchemy"].engine
    sa.event.listen(engine, "before_cursor_execute", count)
    # The row-level security settings go to the driver directly (tenancy._apply_pg_settings),
    # past SQLAlchemy's events: counted at the driver.
    import psycopg

    from tenantry.platform import tenancy

    driver_execute = psycopg.Connection.execute
    begin_with_settings = tenancy._begin_with_settings

    def settings_counted(conn, query, *args, **kwargs):
        if query is tenancy._SET_PG_DRIVER:
            statements["SELECT set_config"] += 1
        return driver_execute(conn, query, *args, **kwargs)

    def begin_counted(driver, wanted):
        statements["BEGIN; SELECT set_config"] += 1
        return begin_with_settings(driver, wanted)

    psycopg.Connection.execute = settings_counted
    tenancy._begin_with_settings = begin_counted
    report = {}
    rng = random.Random(7)
    counter = [0]
    try:
        for endpoint in ENDPOINTS:
            for _ in range(5):  # warm
                method, path, body, _expected = make_call(endpoint, rows, rng, counter)
                web.open(path, method=method, data=body, headers=headers, content_type="application/json")
            statements.clear()
            prof = cProfile.Profile()
            started = time.perf_counter()
            prof.enable()
            for _ in range(requests):
                method, path, body, expected = make_call(endpoint, rows, rng, counter)
                got = web.open(path, method=method, data=body, headers=headers, content_type="application/json")
                if got.status_code != expected:
                    raise SystemExit(f"profile {endpoint}: {got.status_code} {got.data[:300]!r}")
            prof.disable()
            ms = (time.perf_counter() - started) * 1000 / requests
            text = io.StringIO()
            pstats.Stats(prof, stream=text).sort_stats("cumulative").print_stats(40)
            (out_dir / f"profile-{endpoint}.txt").write_text(text.getvalue())
            prof.dump_stats(out_dir / f"profile-{endpoint}.prof")  # for pstats: callers, tottime
            per = {k: v / requests for k, v in statements.most_common()}
            report[endpoint] = {"ms_per_request_profiled": ms, "sql_per_request": per}
            print(f"profile {endpoint:6}: {ms:6.1f} ms/request under cProfile, SQL per request: "
                  + ", ".join(f"{k} {v:g}" for k, v in per.items()), flush=True)
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
        psycopg.Connection.execute = driver_execute
        tenancy._begin_with_settings = begin_with_settings
    return report


# --- main ----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers of each app")
    parser.add_argument("--threads", type=int, default=4, help="concurrent client threads")
    parser.add_argument("--seconds", type=float, default=5.0, help="per endpoint, app and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds per endpoint and app")
    parser.add_argument("--max-requests", type=int, default=50_000, help="bound of one measurement")
    parser.add_argument("--jobs", choices=("redis", "inline"), default=None,
                        help="default: redis when TENANTRY_TEST_REDIS_URL is set, else inline")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="also profile N in-process requests per endpoint (Flask test client, cProfile); "
                             "writes bench/results/profile-<endpoint>.txt and .prof")
    parser.add_argument("--no-floor", action="store_true",
                        help="leave out bench/floor_app.py (the baseline plus the cheapest form of the guarantees)")
    parser.add_argument("--no-snapshot", action="store_true",
                        help="run the live working tree instead of a copy taken at the start")
    parser.add_argument("--head-version", action="append", default=[], metavar="PATH",
                        help="in the snapshot, take PATH as committed at HEAD (repeatable)")
    parser.add_argument("--database-url", default=os.environ.get("TENANTRY_TEST_DATABASE_URL"),
                        help="the application role (default TENANTRY_TEST_DATABASE_URL)")
    parser.add_argument("--migrate-url", default=os.environ.get("TENANTRY_TEST_MIGRATE_DATABASE_URL"),
                        help="the schema owner (default TENANTRY_TEST_MIGRATE_DATABASE_URL)")
    args = parser.parse_args()
    if not (args.database_url and args.migrate_url and args.database_url.startswith("postgres")):
        raise SystemExit("PostgreSQL only: run under scripts/test.sh with-services, or give --database-url and "
                         "--migrate-url")
    redis_url = os.environ.get("TENANTRY_TEST_REDIS_URL", "")
    jobs = args.jobs or ("redis" if redis_url else "inline")
    if jobs == "redis" and not redis_url:
        raise SystemExit("--jobs redis needs TENANTRY_TEST_REDIS_URL (scripts/test.sh with-services)")

    global CODE
    workdir = tempfile.mkdtemp(prefix="tenantry-bench-crm-")
    CODE = ROOT if args.no_snapshot else snapshot(Path(workdir) / "tree", args.head_version)
    sys.path.insert(0, str(CODE))
    from bench.cpu import CpuMeter
    from bench.rq_worker import RqWorker

    instance = os.path.join(workdir, "instance")
    settings = _app_settings(args.database_url, instance, redis_url if jobs == "redis" else "")
    env = {**os.environ, **settings}
    env.pop("TENANTRY_MIGRATE_DATABASE_URL", None)
    rows = people(args.contacts)

    client = setup_tenantry(env, args.migrate_url, rows)
    baseline_url = setup_baseline(args.migrate_url, rows)
    floor = None
    if not args.no_floor:
        # The floor counts reads in Redis like Tenantry; with --jobs inline it still needs one.
        if not redis_url:
            raise SystemExit("the floor app needs Redis (scripts/test.sh with-services), or pass --no-floor")
        floor = {"BENCH_FLOOR_TOKEN": uuid.uuid4().hex, "BENCH_FLOOR_KEY": os.urandom(32).hex(),
                 "BENCH_FLOOR_REDIS_URL": redis_url}
        floor["BENCH_FLOOR_DATABASE_URL"] = setup_floor(args.migrate_url, rows, floor)
    for url in (args.migrate_url, baseline_url, *([floor["BENCH_FLOOR_DATABASE_URL"]] if floor else [])):
        analyze(url)
    baseline_token = uuid.uuid4().hex
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    profiled = profile(env, client, rows, args.profile, results) if args.profile else None

    servers = [Server("tenantry", "wsgi:app", env, args.workers, workdir),
               Server("baseline", "bench.baseline_app:app",
                      {**os.environ, "BENCH_BASELINE_DATABASE_URL": baseline_url,
                       "BENCH_BASELINE_TOKEN": baseline_token}, args.workers, workdir)]
    if floor:
        servers.append(Server("floor", "bench.floor_app:app", {**os.environ, **floor}, args.workers, workdir))
    worker = RqWorker(env, CODE, Path(workdir) / "rq-worker.log", redis_url) if jobs == "redis" else None
    inbox_left = 0
    try:
        for server in servers:
            server.wait()
        targets = [Target("tenantry", servers[0].port, tenantry_token(servers[0].port, client)),
                   Target("baseline", servers[1].port, baseline_token)]
        if floor:
            targets.append(Target("floor", servers[2].port, floor["BENCH_FLOOR_TOKEN"]))
        started, load_before = time.time(), os.getloadavg()
        meter = CpuMeter({f"{server.name} gunicorn": server.proc.pid for server in servers}
                         | ({"rq worker": worker.proc.pid} if worker else {}))
        runs = measure(targets, rows, args, meter)
        duration, load_after = time.time() - started, os.getloadavg()
        inbox_left = worker.drained() if worker else 0
    finally:
        for server in servers:
            server.stop()
        if worker:
            worker.stop()

    summary = summarise(runs)
    info = facts(args.database_url, baseline_url, client["tenant_id"])
    commit = _git("rev-parse", "HEAD")
    dirty = len([line for line in _git("status", "--porcelain").splitlines() if line.strip()])
    print()
    print(f"database: PostgreSQL {info['postgresql']} (tenantry as {info['app_role']}, row-level security on; "
          f"baseline in its own database {BASELINE_DB})")
    print(f"rows: tenantry {info['tenantry_contacts']} contacts ({args.contacts} seeded, the rest created by the "
          f"run), {info['tenantry_search_index_rows']} blind-index rows, {info['tenantry_audit_events']} audit "
          f"events ({inbox_left} read events left in the Redis inbox); baseline {info['baseline_contacts']} contacts")
    print(f"commit: {commit}{f' (working tree: {dirty} changed paths)' if dirty else ''}; code run: "
          + ("the live tree" if args.no_snapshot else "a snapshot of the working tree taken at the start"
             + (f", with {', '.join(args.head_version)} at HEAD" if args.head_version else "")))
    print(f"gunicorn: {args.workers} sync workers each; {args.threads} client threads; {args.rounds} rounds of "
          f"{args.seconds:.0f} s per endpoint and app after {args.warmup:.0f} s warm-up; jobs: {jobs}; "
          f"{os.cpu_count()} CPUs shared by clients, servers and PostgreSQL")
    load = f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after the measurement"
    busy = max(load_before[0], load_after[0]) > (os.cpu_count() or 1) * 1.5
    print(load + ("  WARNING: other work shares the machine; absolute numbers are low, ratios noisy" if busy else ""))
    print("paging index: both apps have one for the list's (created_at, id) order (Tenantry's migration 0020)")
    print()
    print(f"{'endpoint':8} {'tenantry req/s':>15} {'baseline req/s':>15} {'ratio':>7}  rounds       target")
    for endpoint in ENDPOINTS:
        e = summary[endpoint]
        rounds = " ".join(f"{r:.2f}" for r in e["round_ratios"])
        verdict = "met" if e["ratio"] >= TARGET else "NOT met"
        print(f"{endpoint:8} {e['tenantry']['rps']:15.1f} {e['baseline']['rps']:15.1f} {e['ratio']:7.2f}  "
              f"{rounds:12} >= {TARGET}: {verdict}")
    if floor:
        print("\nthe floor (bench/floor_app.py: the baseline plus the cheapest form of the guarantees):")
        print(f"{'endpoint':8} {'floor req/s':>15} {'floor/baseline':>15} {'tenantry/floor':>15}")
        for endpoint in ENDPOINTS:
            e = summary[endpoint]
            print(f"{endpoint:8} {e['floor']['rps']:15.1f} {e['floor_ratio']:15.2f} {e['of_floor']:15.2f}")
    print("\nCPU milliseconds per request, by process (median of rounds; bench/cpu.py):")
    for endpoint in ENDPOINTS:
        for name in ("tenantry", "baseline", *(["floor"] if floor else [])):
            cpu = {g: ms for g, ms in summary[endpoint][name]["cpu_ms_per_request"].items() if ms >= 0.005}
            if cpu:
                print(f"  {endpoint:8} {name:8} {sum(cpu.values()):6.2f} = "
                      + ", ".join(f"{g} {ms:.2f}" for g, ms in cpu.items()))

    path = results / f"crm-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps({
        "commit": commit, "dirty_paths": dirty, "loadavg": [load_before, load_after],
        "head_version": args.head_version, "facts": info, "jobs": jobs, "inbox_left": inbox_left, "duration_s": duration,
        "settings": {k: getattr(args, k) for k in ("contacts", "workers", "threads", "seconds", "rounds", "warmup")},
        "summary": summary, "runs": runs, "profile": profiled,
    }, indent=2, default=str))
    print(f"\nwritten to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
