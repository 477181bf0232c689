"""Object storage: the local directory and S3 (against a moto S3 server over HTTP) keep the
same contract, so the embedded default behaves like production."""

import io
import stat
import uuid

import boto3
import pytest

from tenantry.platform import storage as storage_module
from tenantry.platform.storage import LocalStorage, S3Storage, StorageError

INVALID_KEYS = ["../x", "/abs", "a//b", "a/../b", "a/./b", "./x", "a/", "", "a\\b"]


def _s3_client(endpoint: str):
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return LocalStorage(tmp_path / "storage")
    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = f"tenantry-test-{uuid.uuid4().hex[:12]}"
    client = _s3_client(endpoint)
    client.create_bucket(Bucket=bucket)
    return S3Storage(bucket, prefix="/env/prod/", client=client)


def test_put_and_get_bytes(store):
    store.put("tenants/t1/exports/e1.zip", b"\x00binary\xffdata")
    assert store.get("tenants/t1/exports/e1.zip") == b"\x00binary\xffdata"


def test_put_a_stream_and_open_it(store):
    payload = bytes(range(256)) * 8192  # 2 MiB, more than one copy chunk
    store.put("tenants/t1/backups/b1.bin", io.BytesIO(payload))
    with_handle = store.open("tenants/t1/backups/b1.bin")
    try:
        assert with_handle.read() == payload
    finally:
        with_handle.close()


def test_put_replaces_an_existing_object(store):
    store.put("k/v", b"first")
    store.put("k/v", b"second")
    assert store.get("k/v") == b"second"
    assert list(store.list("k/")) == ["k/v"]


def test_exists(store):
    assert not store.exists("tenants/t1/none")
    store.put("tenants/t1/some", b"1")
    assert store.exists("tenants/t1/some")


def test_missing_object_raises_storage_error(store):
    with pytest.raises(StorageError, match="no object"):
        store.get("tenants/t1/missing")
    with pytest.raises(StorageError, match="no object"):
        store.open("tenants/t1/missing")


def test_list_by_prefix(store):
    for key in ("tenants/a/1", "tenants/a/sub/2", "tenants/ab/3", "tenants/b/4", "other/5"):
        store.put(key, key.encode())
    assert sorted(store.list("tenants/a/")) == ["tenants/a/1", "tenants/a/sub/2"]
    assert sorted(store.list("tenants/a")) == ["tenants/a/1", "tenants/a/sub/2", "tenants/ab/3"]
    assert sorted(store.list()) == ["other/5", "tenants/a/1", "tenants/a/sub/2", "tenants/ab/3", "tenants/b/4"]
    assert list(store.list("nothing/")) == []


def test_delete(store):
    store.put("tenants/a/1", b"1")
    store.delete("tenants/a/1")
    assert not store.exists("tenants/a/1")
    store.delete("tenants/a/1")  # deleting what is gone is not an error


def test_delete_prefix_removes_exactly_that_prefix(store):
    for i in range(5):
        store.put(f"tenants/a/exports/{i}", b"x")
    store.put("tenants/ab/keep", b"x")
    store.put("tenants/b/keep", b"x")
    assert store.delete_prefix("tenants/a/") == 5
    assert sorted(store.list()) == ["tenants/ab/keep", "tenants/b/keep"]
    assert store.delete_prefix("tenants/a/") == 0


@pytest.mark.parametrize("key", INVALID_KEYS)
def test_invalid_keys_are_refused(store, key):
    for call in (lambda: store.put(key, b"x"), lambda: store.get(key), lambda: store.open(key),
                 lambda: store.exists(key), lambda: store.delete(key)):
        with pytest.raises(StorageError, match="invalid storage key"):
            call()
    assert list(store.list()) == []


def test_local_files_are_private_and_never_half_written(tmp_path):
    store = LocalStorage(tmp_path / "storage")
    store.put("a/b", b"data")
    path = tmp_path / "storage" / "a" / "b"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    class Broken(io.RawIOBase):
        def readable(self):
            return True

        def readinto(self, buffer):
            raise OSError("disk went away")

    with pytest.raises(OSError, match="disk went away"):
        store.put("a/c", Broken())
    assert sorted(store.list()) == ["a/b"]
    assert [p.name for p in path.parent.iterdir()] == ["b"]  # no partial file left


def test_s3_prefix_keeps_tenants_objects_under_it(s3_endpoint):
    client = _s3_client(s3_endpoint)
    bucket = f"tenantry-test-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    S3Storage(bucket, prefix="env/prod", client=client).put("tenants/a/1", b"x")
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["env/prod/tenants/a/1"]


def test_settings_choose_s3(make_app, s3_endpoint):
    bucket = f"tenantry-test-{uuid.uuid4().hex[:12]}"
    _s3_client(s3_endpoint).create_bucket(Bucket=bucket)
    app = make_app(TENANTRY_STORAGE="s3", TENANTRY_S3_BUCKET=bucket, TENANTRY_S3_ENDPOINT_URL=s3_endpoint,
                   AWS_REGION="us-east-1")
    with app.app_context():
        store = storage_module.storage()
        assert isinstance(store, S3Storage)
        store.put("hello", b"world")
        assert store.get("hello") == b"world"


def test_settings_default_to_the_instance_directory(app, tmp_path):
    with app.app_context():
        store = storage_module.storage()
        assert isinstance(store, LocalStorage)
        assert store.root == tmp_path / "instance" / "storage"


def _closed_endpoint() -> str:
    from tests.conftest import free_port

    return f"http://127.0.0.1:{free_port()}"  # nothing listens there


def test_s3_that_does_not_answer_is_storage_unavailable():
    from tenantry.platform.storage import StorageUnavailable

    store = S3Storage("tenantry-test", endpoint_url=_closed_endpoint(), region="us-east-1")
    for call in (lambda: store.put("k", b"x"), lambda: store.open("k"), lambda: store.get("k"),
                 lambda: store.exists("k"), lambda: store.delete("k"), lambda: list(store.list("k/"))):
        with pytest.raises(StorageUnavailable, match="did not answer"):
            call()


def test_a_download_while_s3_does_not_answer_is_a_503_that_says_so(make_app):
    """The export's file is in S3; S3 is down: the page says to try later, never a 500."""
    from tenantry.platform import jobs
    from tenantry.platform.db import db
    from tenantry.platform.tenancy import Tenant, tenant_context
    from tenantry.tenants.lifecycle import export
    from tests.identity.support import new_tenant, sign_in

    up = make_app()
    tenant = new_tenant(up, "acme")
    with up.app_context():
        with tenant_context(db.session.get(Tenant, tenant.id)):
            export_id = export.request().id
        db.session.commit()
        jobs.drain()
    down = make_app(TENANTRY_STORAGE="s3", TENANTRY_S3_BUCKET="tenantry-test",
                    TENANTRY_S3_ENDPOINT_URL=_closed_endpoint(), AWS_REGION="us-east-1", WTF_CSRF_ENABLED=False)
    client = down.test_client()
    sign_in(client, tenant.owner)
    response = client.get(f"/t/acme/exports/{export_id}/download")
    assert response.status_code == 503 and response.headers["Retry-After"] == "60"
    assert "File storage does not answer right now; nothing was lost." in response.get_data(as_text=True)
