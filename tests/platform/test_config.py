"""Settings: production refuses to start without its secrets and real components; bad values
are refused by name; development makes its own secret key, readable by the owner only."""

import stat

import pytest

from tenantry import create_app
from tenantry.platform.config import ConfigError, Settings

PRODUCTION = {
    "TENANTRY_ENV": "production",
    "TENANTRY_SECRET_KEY": "s" * 48,
    "DATABASE_URL": "postgresql://tenantry_app:pw@db.internal/tenantry",
    "REDIS_URL": "redis://redis.internal:6379/0",
    "TENANTRY_BASE_URL": "https://crm.example.com",
    "TENANTRY_MAIL": "smtp",
    "TENANTRY_SMTP_HOST": "smtp.example.com",
    "TENANTRY_STORAGE": "s3",
    "TENANTRY_S3_BUCKET": "tenantry-prod",
    "TENANTRY_KEY_PROVIDER": "aws-kms",
    "TENANTRY_KMS_KEY_ID": "alias/tenantry",
}


def production(tmp_path, **changes):
    env = dict(PRODUCTION, TENANTRY_INSTANCE_DIR=str(tmp_path / "instance"))
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def test_complete_production_settings_are_accepted(tmp_path):
    s = Settings.from_env(production(tmp_path))
    assert s.production
    assert s.database_url == "postgresql+psycopg://tenantry_app:pw@db.internal/tenantry"
    assert s.secret_key == "s" * 48
    assert not (tmp_path / "instance").exists()  # production keeps nothing on local disk


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"TENANTRY_SECRET_KEY": None}, "TENANTRY_SECRET_KEY"),
        ({"TENANTRY_SECRET_KEY": "too-short"}, "TENANTRY_SECRET_KEY"),
        ({"DATABASE_URL": None}, "DATABASE_URL"),
        ({"DATABASE_URL": "sqlite:////srv/tenantry.sqlite3"}, "DATABASE_URL"),
        ({"REDIS_URL": None}, "REDIS_URL"),
        ({"TENANTRY_BASE_URL": None}, "TENANTRY_BASE_URL"),
        ({"TENANTRY_BASE_URL": "http://crm.example.com"}, "TENANTRY_BASE_URL"),
        ({"TENANTRY_MAIL": None, "TENANTRY_SMTP_HOST": None}, "TENANTRY_MAIL=smtp"),
        ({"TENANTRY_STORAGE": None, "TENANTRY_S3_BUCKET": None}, "TENANTRY_STORAGE=s3"),
        ({"TENANTRY_KEY_PROVIDER": None, "TENANTRY_KMS_KEY_ID": None}, "TENANTRY_KEY_PROVIDER=aws-kms"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_production_refuses_to_start_without_each_requirement(tmp_path, changes, named):
    with pytest.raises(ConfigError) as raised:
        Settings.from_env(production(tmp_path, **changes))
    message = str(raised.value)
    assert "production refuses to start" in message
    missing = message.split("without: ", 1)[1].split(", ")
    assert len(missing) == 1 and missing[0].startswith(named)  # only what is missing is named
    assert not (tmp_path / "instance" / "secret_key").exists()


def test_production_names_every_missing_requirement_at_once(tmp_path):
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"TENANTRY_ENV": "production", "TENANTRY_INSTANCE_DIR": str(tmp_path)})
    message = str(raised.value)
    for name in ("TENANTRY_SECRET_KEY", "DATABASE_URL", "REDIS_URL", "TENANTRY_BASE_URL", "TENANTRY_MAIL=smtp",
                 "TENANTRY_STORAGE=s3", "TENANTRY_KEY_PROVIDER=aws-kms"):
        assert name in message


def test_create_app_refuses_production_without_secrets(tmp_path):
    with pytest.raises(ConfigError, match="TENANTRY_SECRET_KEY"):
        create_app(production(tmp_path, TENANTRY_SECRET_KEY=None))


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"TENANTRY_ENV": "staging"}, "TENANTRY_ENV"),
        ({"TENANTRY_SMTP_PORT": "twenty-five"}, "TENANTRY_SMTP_PORT"),
        ({"TENANTRY_SESSION_IDLE_MINUTES": "soon"}, "TENANTRY_SESSION_IDLE_MINUTES"),
        ({"TENANTRY_SESSION_MAX_HOURS": "0"}, "session limits"),
        ({"TENANTRY_STORAGE": "ftp"}, "storage"),
        ({"TENANTRY_MAIL": "pigeon"}, "mail"),
        ({"TENANTRY_KEY_PROVIDER": "vault"}, "key_provider"),
        ({"TENANTRY_STORAGE": "s3"}, "TENANTRY_S3_BUCKET"),
        ({"TENANTRY_MAIL": "smtp"}, "TENANTRY_SMTP_HOST"),
        ({"TENANTRY_KEY_PROVIDER": "aws-kms"}, "TENANTRY_KMS_KEY_ID"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_bad_values_are_refused_by_name(tmp_path, env, named):
    with pytest.raises(ConfigError, match=named):
        Settings.from_env({"TENANTRY_INSTANCE_DIR": str(tmp_path), **env})


def test_development_needs_nothing_and_keeps_everything_in_the_instance_directory(tmp_path):
    s = Settings.from_env({"TENANTRY_INSTANCE_DIR": str(tmp_path / "instance")})
    assert s.env == "development"
    assert s.database_url == f"sqlite:///{tmp_path / 'instance' / 'tenantry.sqlite3'}"
    assert (s.mail, s.storage, s.key_provider, s.redis_url) == ("file", "local", "local", "")
    assert s.master_key_file == tmp_path / "instance" / "master.key"


def test_development_creates_its_secret_key_once_with_mode_0600(tmp_path):
    instance = tmp_path / "instance"
    first = Settings.from_env({"TENANTRY_INSTANCE_DIR": str(instance)})
    key_file = instance / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(first.secret_key) >= 32
    assert key_file.read_text() == first.secret_key
    again = Settings.from_env({"TENANTRY_INSTANCE_DIR": str(instance)})
    assert again.secret_key == first.secret_key


def test_string_config_overrides_the_environment_and_uppercase_goes_to_flask(tmp_path, monkeypatch):
    monkeypatch.setenv("TENANTRY_BASE_URL", "http://from-environment.example")
    app = create_app({
        "TENANTRY_INSTANCE_DIR": str(tmp_path),
        "TENANTRY_BASE_URL": "http://from-config.example",
        "TESTING": True,
        "lowercase_ignored": True,
    })
    assert app.extensions["tenantry.settings"].base_url == "http://from-config.example"
    assert app.config["TESTING"] is True
    assert "lowercase_ignored" not in app.config
