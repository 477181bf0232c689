"""Fixtures for the whole suite: a clean database per test, the app, and real services.

The database kind comes from TENANTRY_TEST_DB (`sqlite`, the default, or `postgresql`).
`make test` (scripts/test.sh) runs the suite once on each and provides the services:

  TENANTRY_TEST_DATABASE_URL          PostgreSQL as the application role (tenantry_app)
  TENANTRY_TEST_MIGRATE_DATABASE_URL  PostgreSQL as the schema owner (tenantry_owner, CREATEDB)
  TENANTRY_TEST_REDIS_URL             a redis-server; each xdist worker uses its own db number
  TENANTRY_TEST_S3_ENDPOINT           a moto S3 server

Run pytest directly and redis-server / moto_server are started here when installed. A
service that is missing skips the tests that need it, with the reason; with CI=true it fails
them instead, so nothing is skipped silently in CI.

Each xdist worker migrates one database (SQLite: a template file, copied per test;
PostgreSQL: its own database, emptied and re-seeded per test), so every test starts from the
migrated schema with the seeded rows (agreement version 1) and nothing else.

Fixtures: db_kind, database, make_app, app, client, app_ctx, outbox, redis_url, rq_worker,
smtp_server, s3_endpoint, live_server, browser_page.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

pytest_plugins = ["tests.obligations_plugin"]

ROOT = Path(__file__).resolve().parents[1]
CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
WORKER_INDEX = int(WORKER[2:]) if re.fullmatch(r"gw\d+", WORKER) else 0
CHROMIUM = os.environ.get("TENANTRY_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = ROOT / "test-artifacts"

# Settings read the environment: a developer's own must not leak into tests, and no test may
# reach real AWS. Every app below gets its configuration explicitly.
for _name in list(os.environ):
    if _name in {"DATABASE_URL", "REDIS_URL", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"} or (
        _name.startswith("TENANTRY_") and not _name.startswith(("TENANTRY_TEST_", "TENANTRY_OBLIGATIONS_"))
    ):
        del os.environ[_name]
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_REGION="us-east-1",
)


def unavailable(reason: str) -> None:
    """A service the test needs is missing: skip with the reason, or fail under CI."""
    if CI:
        pytest.fail(f"{reason} (CI=true: a missing dependency fails the run)", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen | None = None, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode} while starting")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _bin(name: str) -> str | None:
    """A console script of the virtualenv running the tests, else one on PATH."""
    here = Path(sys.executable).parent / name
    return str(here) if here.exists() else shutil.which(name)


# --- pytest hooks --------------------------------------------------------------------------


def pytest_report_header(config) -> list[str]:
    kind = os.environ.get("TENANTRY_TEST_DB", "sqlite")
    services = [
        f"database={kind}",
        f"redis={os.environ.get('TENANTRY_TEST_REDIS_URL') or 'started per worker if installed'}",
        f"s3={os.environ.get('TENANTRY_TEST_S3_ENDPOINT') or 'moto started per worker'}",
        f"CI={'yes' if CI else 'no'}",
    ]
    return ["tenantry: " + ", ".join(services)]


def pytest_collection_modifyitems(config, items) -> None:
    on_postgres = os.environ.get("TENANTRY_TEST_DB", "sqlite") == "postgresql"
    skip_pg = pytest.mark.skip(reason="PostgreSQL only (TENANTRY_TEST_DB=postgresql; make test runs it)")
    for item in items:
        names = getattr(item, "fixturenames", ())
        if "redis_url" in names and not item.get_closest_marker("redis"):
            item.add_marker(pytest.mark.redis)
        if "browser_page" in names and not item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.browser)
        if item.get_closest_marker("postgres_only") and not on_postgres:
            item.add_marker(skip_pg)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)  # lets fixtures see whether the test failed
    return report


# --- the database --------------------------------------------------------------------------


def _alembic_env(owner_url: str | None):
    """migrations/env.py migrates as the schema owner when TENANTRY_MIGRATE_DATABASE_URL is set."""

    @contextlib.contextmanager
    def scope():
        old = os.environ.pop("TENANTRY_MIGRATE_DATABASE_URL", None)
        if owner_url:
            os.environ["TENANTRY_MIGRATE_DATABASE_URL"] = owner_url
        try:
            yield
        finally:
            os.environ.pop("TENANTRY_MIGRATE_DATABASE_URL", None)
            if old is not None:
                os.environ["TENANTRY_MIGRATE_DATABASE_URL"] = old

    return scope()


def dispose(app) -> None:
    from tenantry.platform.db import db

    with app.app_context():
        db.session.remove()
        for engine in db.engines.values():
            engine.dispose()


def migrate(url: str, owner_url: str | None, instance_dir: Path, revision: str = "head",
            direction: str = "upgrade") -> None:
    """`flask db upgrade` (or downgrade) on `url`, as the owner on PostgreSQL."""
    import flask_migrate

    from tenantry import create_app

    app = create_app(
        {
            "TENANTRY_ENV": "test",
            "DATABASE_URL": url,
            "TENANTRY_INSTANCE_DIR": str(instance_dir),
            "TENANTRY_SECRET_KEY": secrets.token_urlsafe(40),
            "REDIS_URL": "",
        }
    )
    try:
        with _alembic_env(owner_url), app.app_context():
            getattr(flask_migrate, direction)(revision=revision)
    finally:
        dispose(app)


def with_database(url: str, name: str) -> str:
    return sa.make_url(url).set(database=name).render_as_string(hide_password=False)


def pg_url(url: str) -> str:
    """postgresql:// as written in environments, with the psycopg 3 driver for SQLAlchemy."""
    u = sa.make_url(url)
    return u.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


@dataclass
class Database:
    """One test's database. `url` is what the app connects with (tenantry_app on PostgreSQL);
    `owner_url` is the schema owner's (None on SQLite)."""

    kind: str
    url: str
    owner_url: str | None = None

    def engine(self, owner: bool = False) -> sa.Engine:
        """A short-lived engine outside the app, e.g. for raw SQL checks. Dispose it."""
        url = self.owner_url if owner and self.owner_url else self.url
        return sa.create_engine(pg_url(url) if self.kind == "postgresql" else url, poolclass=sa.pool.NullPool)


@dataclass
class _PostgresTemplate:
    app_url: str
    owner_url: str
    tables: list[sa.Table] = field(default_factory=list)
    seeds: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    owner_engine: sa.Engine | None = None

    def snapshot(self) -> None:
        """The rows the migrations seeded, to restore before each test."""
        self.owner_engine = sa.create_engine(pg_url(self.owner_url), pool_size=1, max_overflow=2)
        meta = sa.MetaData()
        meta.reflect(self.owner_engine)
        self.tables = [t for t in meta.sorted_tables if t.name != "alembic_version"]
        with self.owner_engine.begin() as conn:
            conn.execute(sa.text("SELECT set_config('tenantry.all_tenants', 'on', true)"))
            for table in self.tables:
                rows = [dict(r._mapping) for r in conn.execute(sa.select(table))]
                if rows:
                    self.seeds[table.name] = rows

    def reset(self) -> None:
        """Empty every table and put the seeded rows back, in one transaction.

        DELETE, children first, rather than TRUNCATE: on these small tables it takes ~3 ms
        instead of ~100 ms (TRUNCATE makes new files for every table). The owner is subject to the forced RLS policies too, hence
        all_tenants; a connection left open by the previous test fails this after 15 s.
        """
        assert self.owner_engine is not None
        start = ["SET LOCAL lock_timeout = '15s'", "SELECT set_config('tenantry.all_tenants', 'on', true)"]
        # Table names come from reflecting our own migrated schema, not from input.
        deletes = "; ".join(start + [f'DELETE FROM "{t.name}"' for t in reversed(self.tables)])  # noqa: S608
        truncate = "; ".join(start + ["TRUNCATE " + ", ".join(f'"{t.name}"' for t in self.tables) + " CASCADE"])
        try:
            self._refill(deletes)
        except sa.exc.IntegrityError:  # foreign keys in a cycle: no deletion order works
            self._refill(truncate)

    def _refill(self, empty_script: str) -> None:
        assert self.owner_engine is not None
        with self.owner_engine.begin() as conn:
            conn.exec_driver_sql(empty_script)
            for table in self.tables:
                if table.name in self.seeds:
                    conn.execute(table.insert(), self.seeds[table.name])


@pytest.fixture(scope="session")
def db_kind() -> str:
    """"sqlite" or "postgresql": which database this run uses (TENANTRY_TEST_DB)."""
    kind = os.environ.get("TENANTRY_TEST_DB", "sqlite")
    if kind not in {"sqlite", "postgresql"}:
        raise pytest.UsageError(f"TENANTRY_TEST_DB must be sqlite or postgresql, not {kind!r}")
    return kind


@pytest.fixture(scope="session")
def _database_template(db_kind, tmp_path_factory):
    base = tmp_path_factory.mktemp("db-template")
    if db_kind == "sqlite":
        path = base / "template.sqlite3"
        migrate(f"sqlite:///{path}", None, base / "instance")
        yield path
        return

    app_base = os.environ.get("TENANTRY_TEST_DATABASE_URL")
    owner_base = os.environ.get("TENANTRY_TEST_MIGRATE_DATABASE_URL")
    if not (app_base and owner_base):
        pytest.fail(
            "TENANTRY_TEST_DB=postgresql needs TENANTRY_TEST_DATABASE_URL (app role) and "
            "TENANTRY_TEST_MIGRATE_DATABASE_URL (owner role); `make test` sets them",
            pytrace=False,
        )
    name = f"tenantry_test_{WORKER}"
    admin = sa.create_engine(pg_url(owner_base), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    template = _PostgresTemplate(with_database(app_base, name), with_database(owner_base, name))
    migrate(template.app_url, template.owner_url, base / "instance")
    template.snapshot()
    yield template
    template.owner_engine.dispose()
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def database(db_kind, _database_template, tmp_path) -> Database:
    """A clean, migrated database for this test: the seeded rows and nothing else."""
    if db_kind == "sqlite":
        path = tmp_path / "tenantry.sqlite3"
        shutil.copyfile(_database_template, path)
        return Database("sqlite", f"sqlite:///{path}")
    _database_template.reset()
    return Database("postgresql", _database_template.app_url, _database_template.owner_url)


# --- the app -------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_leftover_state():
    """Tenant context and inline jobs are process-wide; one test must not hand them to the next."""
    yield
    from tenantry.platform import jobs, tenancy
    from tenantry.platform.crypto import sealing

    tenancy._current.set(None)
    tenancy._cross.set(False)
    jobs.discard_pending()
    sealing.forget_cached_keys()


@pytest.fixture
def make_app(database, tmp_path, monkeypatch):
    """make_app(config=None, **overrides) -> a Flask app on this test's database.

    Every app of one test shares the database, instance directory (keys, storage) and outbox
    (tmp_path/"outbox"). Defaults: TENANTRY_ENV=test, file mail, local storage and keys,
    inline jobs (REDIS_URL=""), base URL http://localhost, TESTING=True, CSRF on. String
    values override environment variables; UPPERCASE others go to Flask's config.
    """
    from tenantry import create_app
    from tenantry.platform import jobs
    from tenantry.platform.crypto import sealing

    apps = []
    secret_key = secrets.token_urlsafe(40)
    if database.owner_url:
        # `flask db ...` inside a test migrates this test's database, as the owner.
        monkeypatch.setenv("TENANTRY_MIGRATE_DATABASE_URL", database.owner_url)

    def factory(config: dict[str, Any] | None = None, **overrides: Any):
        settings: dict[str, Any] = {
            "TENANTRY_ENV": "test",
            "DATABASE_URL": database.url,
            "TENANTRY_INSTANCE_DIR": str(tmp_path / "instance"),
            "TENANTRY_OUTBOX_DIR": str(tmp_path / "outbox"),
            "TENANTRY_BASE_URL": "http://localhost",
            "TENANTRY_SECRET_KEY": secret_key,
            "TENANTRY_MAIL": "file",
            "TENANTRY_STORAGE": "local",
            "TENANTRY_KEY_PROVIDER": "local",
            "REDIS_URL": "",
            "TESTING": True,
        }
        settings.update(config or {})
        settings.update(overrides)
        sealing.forget_cached_keys()  # unwrapped keys are cached per process, not per app
        jobs.discard_pending()
        app = create_app(settings)
        app.extensions["tenantry.test_env"] = {k: v for k, v in settings.items() if isinstance(v, str)}
        apps.append(app)
        return app

    yield factory
    for app in apps:
        dispose(app)


@pytest.fixture
def app(make_app):
    """The app with the test defaults (see make_app); no application context is pushed."""
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def app_ctx(app):
    """Pushes the app's application context for the test; yields the AppContext."""
    with app.app_context() as ctx:
        yield ctx


class Outbox:
    """The .eml files the file mail backend wrote (tmp_path/"outbox", shared by make_app's apps)."""

    def __init__(self, path: Path):
        self.path = path

    def paths(self) -> list[Path]:
        return sorted(self.path.glob("*.eml")) if self.path.exists() else []

    def messages(self) -> list[EmailMessage]:
        parser = BytesParser(policy=policy.default)
        return [parser.parsebytes(p.read_bytes()) for p in self.paths()]  # type: ignore[misc]

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages() if address in str(m["To"])]

    def last(self) -> EmailMessage:
        messages = self.messages()
        assert messages, f"no e-mail in {self.path}"
        return messages[-1]

    def clear(self) -> None:
        for p in self.paths():
            p.unlink()

    def __len__(self) -> int:
        return len(self.paths())


@pytest.fixture
def outbox(tmp_path) -> Outbox:
    return Outbox(tmp_path / "outbox")


# --- Redis and RQ --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _redis_base(tmp_path_factory) -> Iterator[str | None]:
    url = os.environ.get("TENANTRY_TEST_REDIS_URL")
    if url:
        yield url.rstrip("/")
        return
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, proc)
        yield f"redis://127.0.0.1:{port}"
    finally:
        _stop(proc)


@pytest.fixture
def redis_url(_redis_base) -> str:
    """A real, empty Redis database for this test (one db number per xdist worker)."""
    if _redis_base is None:
        unavailable("redis-server is not installed (apt-get install redis-server)")
    from redis import Redis

    url = f"{_redis_base}/{1 + WORKER_INDEX % 15}"
    client = Redis.from_url(url)
    client.flushdb()
    client.close()
    return url


@pytest.fixture
def rq_worker(redis_url):
    """rq_worker(app, *queues) runs a real `rq worker --burst` (the worker class production runs) in a subprocess with `app`'s settings
    (same database, instance directory and Redis) until the queues are empty. Returns the
    CompletedProcess; a worker that exits non-zero fails the test with its output."""

    def run(app, *queues: str, timeout: float = 120) -> subprocess.CompletedProcess:
        env = dict(os.environ)
        env.update(app.extensions["tenantry.test_env"])
        if not env.get("REDIS_URL"):
            env["REDIS_URL"] = redis_url
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        env.pop("TENANTRY_MIGRATE_DATABASE_URL", None)
        cmd = [_bin("rq") or "rq", "worker", "--burst", "--worker-class", "tenantry.platform.rq_worker.Worker",
               "--url", env["REDIS_URL"], *(queues or ("mail", "exports", "maintenance"))]
        proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)
        if proc.returncode != 0:
            pytest.fail(f"rq worker exited with {proc.returncode}:\n{proc.stdout}\n{proc.stderr}", pytrace=False)
        return proc

    return run


# --- SMTP ----------------------------------------------------------------------------------


@dataclass
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


class SMTPServer:
    """A real aiosmtpd SMTP server on a loopback port, without STARTTLS or authentication.

    `messages` lists what it accepted; set `refuse` to an SMTP reply (e.g. "550 no such user")
    to refuse every message; stop() and start() take it down and bring it back on the same port.
    `config()` is the make_app settings that send mail to it.
    """

    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self.port = free_port()
        self.messages: list[ReceivedMail] = []
        self.refuse: str | None = None
        self._controller = None

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        if self.refuse:
            return self.refuse
        message = BytesParser(policy=policy.default).parsebytes(envelope.content)
        self.messages.append(ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), message))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        if self._controller is None:
            self._controller = Controller(self, hostname=self.host, port=self.port)
            self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    def config(self) -> dict[str, str]:
        return {
            "TENANTRY_MAIL": "smtp",
            "TENANTRY_SMTP_HOST": self.host,
            "TENANTRY_SMTP_PORT": str(self.port),
            "TENANTRY_SMTP_STARTTLS": "false",
            "TENANTRY_SMTP_TIMEOUT": "5",
        }


@pytest.fixture
def smtp_server() -> Iterator[SMTPServer]:
    server = SMTPServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


# --- S3 ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _s3_base() -> Iterator[str | None]:
    url = os.environ.get("TENANTRY_TEST_S3_ENDPOINT")
    if url:
        yield url
        return
    binary = _bin("moto_server")
    if binary is None:
        yield None
        return
    port = free_port()
    proc = subprocess.Popen(
        [binary, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_port(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(proc)


@pytest.fixture
def s3_endpoint(_s3_base) -> str:
    """The URL of a moto S3 server (credentials: the AWS_* "testing" values set above).
    Buckets are shared by all tests of the run: create one with a unique name."""
    if _s3_base is None:
        unavailable("moto_server is not installed (pip install 'moto[server]')")
    return _s3_base


# --- the browser ---------------------------------------------------------------------------


class LiveServer(str):
    """The base URL of the live server (a str), with the served app as `.app`."""

    app: Any

    def url(self, path: str = "/") -> str:
        return self.rstrip("/") + "/" + path.lstrip("/")


@pytest.fixture
def live_server(make_app) -> Iterator[LiveServer]:
    """The app served by werkzeug on a free loopback port in a thread; yields its base URL.
    The app's TENANTRY_BASE_URL is that URL; it is `live_server.app`."""
    from werkzeug.serving import make_server

    target: dict[str, Any] = {}
    server = make_server("127.0.0.1", 0, lambda env, start: target["app"](env, start), threaded=True)
    base = LiveServer(f"http://127.0.0.1:{server.server_port}")
    base.app = target["app"] = make_app(TENANTRY_BASE_URL=str(base))
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield base
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def _browser():
    if not os.access(CHROMIUM, os.X_OK):
        unavailable(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    # Same patience for assertions as for actions (browser_page's default timeout): CI is slow.
    expect.set_options(timeout=15_000)
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    except Exception:
        playwright.stop()
        raise
    yield browser
    browser.close()
    playwright.stop()


@pytest.fixture
def browser_page(_browser, request):
    """A Playwright page (sync API) in a fresh browser context of Debian's Chromium.
    When the test fails, a screenshot is saved in test-artifacts/."""
    context = _browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        yield page
    finally:
        failed = any(getattr(request.node, f"rep_{w}", None) and getattr(request.node, f"rep_{w}").failed
                     for w in ("setup", "call"))
        if failed:
            ARTIFACTS.mkdir(exist_ok=True)
            name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)[-180:]
            with contextlib.suppress(Exception):
                page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        context.close()
