"""Settings from TENANTRY_* environment variables.

Development (the `make run` default) needs nothing: it keeps everything in the instance
directory. Production refuses to start while a secret or a real component is missing.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path


class ConfigError(RuntimeError):
    pass


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(env: dict, name: str, default: int) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, not {raw!r}") from exc


def _read_or_create_secret(path: Path) -> str:
    """A development secret kept in the instance directory, created once with mode 0600."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value


@dataclass
class Settings:
    env: str = "development"
    instance_dir: Path = field(default_factory=lambda: Path("instance").resolve())
    database_url: str = ""
    redis_url: str = ""
    secret_key: str = ""
    base_url: str = "http://127.0.0.1:5000"
    key_provider: str = "local"
    master_key_file: Path | None = None
    previous_master_key_file: Path | None = None
    audit_signing_key_file: Path | None = None
    kms_key_id: str = ""
    aws_region: str = ""
    storage: str = "local"
    storage_dir: Path | None = None
    s3_bucket: str = ""
    s3_prefix: str = ""
    s3_endpoint_url: str = ""
    mail: str = "file"
    outbox_dir: Path | None = None
    mail_from: str = "Tenantry <no-reply@tenantry.localhost>"
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = True
    smtp_ssl: bool = False
    smtp_timeout: int = 10
    dpo_email: str = "dpo@tenantry.localhost"
    session_idle_minutes: int = 30
    session_max_hours: int = 12
    ratelimit_login: str = "10 per minute;50 per hour"
    trust_proxy: bool = False
    backup_retention_days: int = 30

    @property
    def production(self) -> bool:
        return self.env == "production"

    @classmethod
    def from_env(cls, env: dict | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        mode = env.get("TENANTRY_ENV", "development").strip().lower()
        if mode not in {"development", "production", "test"}:
            raise ConfigError(f"TENANTRY_ENV must be development, production or test, not {mode!r}")
        instance = Path(env.get("TENANTRY_INSTANCE_DIR") or "instance").resolve()
        s = cls(env=mode, instance_dir=instance)
        s.database_url = env.get("DATABASE_URL") or f"sqlite:///{instance / 'tenantry.sqlite3'}"
        if s.database_url.startswith("postgres://"):
            s.database_url = "postgresql://" + s.database_url[len("postgres://"):]
        if s.database_url.startswith("postgresql://"):
            s.database_url = "postgresql+psycopg://" + s.database_url[len("postgresql://"):]
        s.redis_url = env.get("REDIS_URL", "")
        s.base_url = (env.get("TENANTRY_BASE_URL") or s.base_url).rstrip("/")
        s.key_provider = env.get("TENANTRY_KEY_PROVIDER", "local")
        s.master_key_file = Path(env.get("TENANTRY_MASTER_KEY_FILE") or instance / "master.key")
        previous_key = env.get("TENANTRY_PREVIOUS_MASTER_KEY_FILE")
        s.previous_master_key_file = Path(previous_key) if previous_key else None
        s.audit_signing_key_file = Path(env.get("TENANTRY_AUDIT_SIGNING_KEY_FILE") or instance / "audit_signing.key")
        s.kms_key_id = env.get("TENANTRY_KMS_KEY_ID", "")
        s.aws_region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or ""
        s.storage = env.get("TENANTRY_STORAGE", "local")
        s.storage_dir = Path(env.get("TENANTRY_STORAGE_DIR") or instance / "storage")
        s.s3_bucket = env.get("TENANTRY_S3_BUCKET", "")
        s.s3_prefix = env.get("TENANTRY_S3_PREFIX", "")
        s.s3_endpoint_url = env.get("TENANTRY_S3_ENDPOINT_URL", "")
        s.mail = env.get("TENANTRY_MAIL", "file")
        s.outbox_dir = Path(env.get("TENANTRY_OUTBOX_DIR") or instance / "outbox")
        s.mail_from = env.get("TENANTRY_MAIL_FROM") or s.mail_from
        s.smtp_host = env.get("TENANTRY_SMTP_HOST", "")
        s.smtp_port = _int(env, "TENANTRY_SMTP_PORT", 587)
        s.smtp_username = env.get("TENANTRY_SMTP_USERNAME", "")
        s.smtp_password = env.get("TENANTRY_SMTP_PASSWORD", "")
        s.smtp_starttls = _bool(env.get("TENANTRY_SMTP_STARTTLS"), True)
        s.smtp_ssl = _bool(env.get("TENANTRY_SMTP_SSL"), False)
        s.smtp_timeout = _int(env, "TENANTRY_SMTP_TIMEOUT", 10)
        s.dpo_email = env.get("TENANTRY_DPO_EMAIL") or s.dpo_email
        s.session_idle_minutes = _int(env, "TENANTRY_SESSION_IDLE_MINUTES", 30)
        s.session_max_hours = _int(env, "TENANTRY_SESSION_MAX_HOURS", 12)
        s.ratelimit_login = env.get("TENANTRY_RATELIMIT_LOGIN") or s.ratelimit_login
        s.trust_proxy = _bool(env.get("TENANTRY_TRUST_PROXY"), False)
        s.backup_retention_days = _int(env, "TENANTRY_BACKUP_RETENTION_DAYS", 30)
        s.secret_key = env.get("TENANTRY_SECRET_KEY", "")
        s.validate()
        if not s.secret_key:
            s.secret_key = _read_or_create_secret(instance / "secret_key")
        return s

    def validate(self) -> None:
        choices = {"key_provider": {"local", "aws-kms"}, "storage": {"local", "s3"}, "mail": {"file", "smtp"}}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} must be one of {sorted(allowed)}, not {getattr(self, name)!r}")
        if self.storage == "s3" and not self.s3_bucket:
            raise ConfigError("TENANTRY_STORAGE=s3 needs TENANTRY_S3_BUCKET")
        if self.key_provider == "aws-kms" and not self.kms_key_id:
            raise ConfigError("TENANTRY_KEY_PROVIDER=aws-kms needs TENANTRY_KMS_KEY_ID")
        if self.mail == "smtp" and not self.smtp_host:
            raise ConfigError("TENANTRY_MAIL=smtp needs TENANTRY_SMTP_HOST")
        if self.session_idle_minutes < 1 or self.session_max_hours < 1:
            raise ConfigError("session limits must be positive")
        if self.backup_retention_days < 1:
            raise ConfigError("TENANTRY_BACKUP_RETENTION_DAYS must be at least 1")
        if not self.production:
            return
        missing = []
        if len(self.secret_key) < 32:
            missing.append("TENANTRY_SECRET_KEY (at least 32 characters)")
        if not self.database_url.startswith("postgresql"):
            missing.append("DATABASE_URL (PostgreSQL)")
        if not self.redis_url:
            missing.append("REDIS_URL")
        if not self.base_url.startswith("https://"):
            missing.append("TENANTRY_BASE_URL (https://...)")
        if self.mail != "smtp":
            missing.append("TENANTRY_MAIL=smtp with TENANTRY_SMTP_HOST")
        if self.storage != "s3":
            missing.append("TENANTRY_STORAGE=s3 with TENANTRY_S3_BUCKET")
        if self.key_provider != "aws-kms":
            missing.append("TENANTRY_KEY_PROVIDER=aws-kms with TENANTRY_KMS_KEY_ID")
        if missing:
            raise ConfigError("production refuses to start without: " + ", ".join(missing))
