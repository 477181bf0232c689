"""Re-wrapping every key under a new master key (real files) or KMS key, without downtime;
and the aws-kms provider against a KMS endpoint on loopback (moto in server mode)."""

from __future__ import annotations

import os
import uuid

import boto3
import pytest
import sqlalchemy as sa

from tenantry.platform.crypto import keyring, rewrap, sealing
from tenantry.platform.crypto.keyring import TenantKey
from tenantry.platform.crypto.providers import KeyProviderError, KmsKeyProvider, LocalKeyProvider
from tenantry.platform.db import db
from tenantry.platform.tenancy import all_tenants
from tests.factories import make_tenant
from tests.platform.crypto.conftest import read_notes, write_notes


def _new_key_file(path) -> str:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, os.urandom(32))
    os.close(fd)
    return str(path)


def _wrapped(tenant_id) -> dict:
    with all_tenants():
        return {(r.purpose, r.version): (r.wrapped, r.provider) for r in db.session.execute(
            sa.select(TenantKey).where(TenantKey.tenant_id == tenant_id)).scalars()}


@pytest.mark.obligation("DPA-B.safe-store", "TT-aes256")
def test_a_master_key_change_without_downtime_then_everything_decrypts(
        make_app, tmp_path, database, two_tenants, notes):
    acme, globex = two_tenants
    expected = write_notes(notes, acme, 3)
    theirs = write_notes(notes, globex, 2)
    sealed = sealing.seal("JBSWY3DPEHPK3PXP", "users.totp:1")
    db.session.commit()
    old_file = str(tmp_path / "instance" / "master.key")
    new_file = _new_key_file(tmp_path / "new-master.key")
    before = _wrapped(acme.id)
    db.session.remove()

    # Step 1: processes restart with the new key, still able to open keys under the old one.
    during = make_app(TENANTRY_MASTER_KEY_FILE=new_file, TENANTRY_PREVIOUS_MASTER_KEY_FILE=old_file)
    with during.app_context():
        keyring.forget_cached_keys()
        assert read_notes(notes, acme) == expected
        late = make_tenant("initech")  # keys made now are wrapped under the new key only
        db.session.commit()
        late_id = late.id
        # Step 2: re-wrap, from the CLI.
        out = during.test_cli_runner().invoke(args=["tenantry", "keys", "rewrap", "--from-master-key", old_file])
        assert out.exit_code == 0, out.output
        assert "re-wrapped 4 tenant keys and 1 platform keys under local; 2 were already under it" in out.output
        # Running it again after an interruption does only what is left: nothing.
        again = during.test_cli_runner().invoke(args=["tenantry", "keys", "rewrap", "--from-master-key", old_file])
        assert "re-wrapped 0 tenant keys and 0 platform keys" in again.output
        after = _wrapped(acme.id)
        assert set(after) == set(before) and all(after[k][0] != before[k][0] for k in before)
    assert late_id

    # Step 3: the old key is gone from the configuration (and from disk); everything opens.
    os.remove(old_file)
    keyring.forget_cached_keys()
    sealing.forget_cached_keys()
    later = make_app(TENANTRY_MASTER_KEY_FILE=new_file)
    with later.app_context():
        assert read_notes(notes, acme) == expected
        assert read_notes(notes, globex) == theirs
        assert sealing.unseal_text(sealed, "users.totp:1") == "JBSWY3DPEHPK3PXP"
        old = LocalKeyProvider.__new__(LocalKeyProvider)  # the removed key cannot open them any more
        old._key = os.urandom(32)
        wrapped, _provider = _wrapped(acme.id)[("data", 1)]
        with pytest.raises(KeyProviderError):
            old.unwrap(wrapped, keyring.context(acme.id, "data", 1))


def test_rewrap_with_the_wrong_old_key_changes_nothing_and_says_why(make_app, tmp_path, two_tenants):
    acme, _ = two_tenants
    before = _wrapped(acme.id)
    db.session.remove()
    wrong = _new_key_file(tmp_path / "wrong.key")
    other = make_app(TENANTRY_MASTER_KEY_FILE=_new_key_file(tmp_path / "new.key"))
    with other.app_context():
        out = other.test_cli_runner().invoke(args=["tenantry", "keys", "rewrap", "--from-master-key", wrong])
        assert out.exit_code != 0
        assert "does not open" in out.output
        assert _wrapped(acme.id) == before
        missing = other.test_cli_runner().invoke(
            args=["tenantry", "keys", "rewrap", "--from-master-key", str(tmp_path / "nope.key")])
        assert missing.exit_code != 0 and "does not exist" in missing.output


# --- aws-kms against moto on loopback --------------------------------------------------------


@pytest.fixture
def kms(s3_endpoint):
    client = boto3.client("kms", endpoint_url=s3_endpoint, region_name="us-east-1")
    key_id = client.create_key(Description=f"tenantry test {uuid.uuid4()}")["KeyMetadata"]["KeyId"]
    return client, key_id


@pytest.mark.obligation("DPA-B.safe-store", "TT-aes256")
def test_kms_provider_wraps_with_the_tenant_as_encryption_context(kms):
    client, key_id = kms
    provider = KmsKeyProvider(key_id, client=client)
    data_key = os.urandom(32)
    ctx = keyring.context(uuid.uuid4(), "data", 1)
    wrapped = provider.wrap(data_key, ctx)
    assert data_key not in wrapped
    assert provider.unwrap(wrapped, ctx) == data_key
    with pytest.raises(KeyProviderError):
        provider.unwrap(wrapped, {**ctx, "tenant": str(uuid.uuid4())})
    with pytest.raises(KeyProviderError):
        provider.unwrap(wrapped, {**ctx, "version": "2"})


@pytest.mark.obligation("DPA-B.safe-store", "TT-aes256")
def test_tenant_keys_under_kms_and_a_move_from_local_to_kms_and_to_another_kms_key(
        app_ctx, kms, two_tenants, notes):
    client, key_id = kms
    acme, _ = two_tenants
    expected = write_notes(notes, acme, 3)
    local = app_ctx.app.extensions["tenantry.key_provider"]
    target = KmsKeyProvider(key_id, client=client)

    counts = rewrap.rewrap_all(local, target)
    assert counts["tenant_keys"] == 4
    app_ctx.app.extensions["tenantry.key_provider"] = target
    keyring.forget_cached_keys()
    assert {p for _w, p in _wrapped(acme.id).values()} == {"aws-kms"}
    assert read_notes(notes, acme) == expected
    with pytest.raises(KeyProviderError):  # the local master key no longer opens them
        local.unwrap(_wrapped(acme.id)[("data", 1)][0], keyring.context(acme.id, "data", 1))

    # A new tenant under KMS gets KMS-wrapped keys at creation.
    initech = make_tenant("initech")
    db.session.commit()
    assert {p for _w, p in _wrapped(initech.id).values()} == {"aws-kms"}

    # A second KMS key: the CLI reads with --from-kms-key and wraps under the configured one.
    second = client.create_key(Description="second")["KeyMetadata"]["KeyId"]
    app_ctx.app.extensions["tenantry.key_provider"] = KmsKeyProvider(second, client=client)
    db.session.remove()
    out = app_ctx.app.test_cli_runner().invoke(args=["tenantry", "keys", "rewrap", "--from-kms-key", key_id])
    assert out.exit_code == 0, out.output
    keyring.forget_cached_keys()
    assert read_notes(notes, acme) == expected
    client.disable_key(KeyId=key_id)  # the first key is no longer needed by anything
    keyring.forget_cached_keys()
    assert read_notes(notes, acme) == expected
    # Each tenant's keys are under a KMS key of its own, not under the configured one.
    own = client.describe_key(KeyId=f"{KmsKeyProvider.ALIAS_PREFIX}{acme.id}")["KeyMetadata"]
    wrapped = _wrapped(acme.id)[("data", 1)][0]
    assert client.decrypt(CiphertextBlob=wrapped, EncryptionContext=keyring.context(acme.id, "data", 1))[
        "KeyId"] == own["Arn"]
    assert own["KeyId"] not in (key_id, second)


@pytest.mark.obligation("DPA-4.10", "TT-retention")
def test_destroying_a_tenants_keys_under_kms_disables_its_kms_key_and_schedules_its_deletion(app_ctx, kms):
    client, key_id = kms
    app_ctx.app.extensions["tenantry.key_provider"] = KmsKeyProvider(key_id, client=client)
    keyring.forget_cached_keys()
    gone, stays = make_tenant("gone"), make_tenant("stays")
    db.session.commit()
    alias = f"{KmsKeyProvider.ALIAS_PREFIX}{gone.id}"
    own = client.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"]
    copied = _wrapped(gone.id)[("data", 1)][0]  # as a database snapshot would keep it

    assert keyring.destroy(gone.id) >= 2
    db.session.commit()
    meta = client.describe_key(KeyId=own)["KeyMetadata"]
    assert meta["KeyState"] == "PendingDeletion" and meta["DeletionDate"]
    assert own not in {a.get("TargetKeyId") for a in client.list_aliases()["Aliases"]}
    # AWS refuses Decrypt under a disabled or pending-deletion key, so the snapshot's copy opens
    # nowhere; moto does not model that refusal, so the key's state is what is checked here.
    assert client.describe_key(KeyId=own)["KeyMetadata"]["Enabled"] is False and copied
    # The configured key and the other tenant's own key are untouched.
    assert client.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    assert client.describe_key(KeyId=f"{KmsKeyProvider.ALIAS_PREFIX}{stays.id}")["KeyMetadata"]["KeyState"] == "Enabled"
    keyring.forget_cached_keys()
    assert keyring.data_key(stays.id, 1)


def test_kms_that_does_not_answer_is_unavailable_not_a_refusal(kms, monkeypatch):
    """An outage says nothing about a key: KeyProviderUnavailable (a 503), while a refusal of
    KMS's stays a plain KeyProviderError."""
    from tenantry.platform.crypto.providers import KeyProviderUnavailable
    from tests.conftest import free_port

    client, key_id = kms
    ctx = keyring.context(uuid.uuid4(), "data", 1)
    wrapped = KmsKeyProvider(key_id, client=client).wrap(os.urandom(32), ctx)
    with pytest.raises(KeyProviderError) as refused:
        KmsKeyProvider(key_id, client=client).unwrap(wrapped, {**ctx, "version": "2"})
    assert not isinstance(refused.value, KeyProviderUnavailable)

    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    monkeypatch.setenv("AWS_ENDPOINT_URL_KMS", closed)  # the provider builds its own client, as in production
    down = KmsKeyProvider(key_id, region="us-east-1")
    with pytest.raises(KeyProviderUnavailable, match="KMS did not answer"):
        down.unwrap(wrapped, ctx)
    with pytest.raises(KeyProviderUnavailable):
        down.wrap(os.urandom(32), keyring.context(uuid.uuid4(), "data", 1))


def test_a_page_while_the_key_service_does_not_answer_is_a_503_that_says_so(make_app):
    from tenantry.platform.crypto.providers import KeyProviderUnavailable
    from tenantry.platform.tenancy import Tenant, tenant_context
    from tenantry.tenants.crm import contacts
    from tests.identity.support import new_tenant, sign_in

    app = make_app(WTF_CSRF_ENABLED=False)
    tenant = new_tenant(app, "acme")
    with app.app_context():
        with tenant_context(db.session.get(Tenant, tenant.id)):
            contact_id = contacts.create(contacts.ContactData(first_name="Jana")).id
        db.session.commit()
    client = app.test_client()
    sign_in(client, tenant.owner)

    class Down:
        name = "aws-kms"

        def unwrap(self, wrapped, context):
            raise KeyProviderUnavailable("KMS did not answer: connection refused")

    app.extensions["tenantry.key_provider"] = Down()
    keyring.forget_cached_keys()
    response = client.get(f"/t/acme/crm/contacts/{contact_id}")
    assert response.status_code == 503 and response.headers["Retry-After"] == "60"
    assert "The encryption key service does not answer right now; nothing was lost." in response.get_data(as_text=True)
