"""Sealed platform secrets: AES-256-GCM under a data key that is stored only wrapped by the
master key, which lives in a file outside the database readable by its owner only."""

import os
import stat

import pytest
import sqlalchemy as sa

from tenantry.platform.crypto import sealing
from tenantry.platform.crypto.providers import KeyProviderError, LocalKeyProvider
from tenantry.platform.crypto.sealing import PlatformKey, SealError, seal, unseal, unseal_text
from tenantry.platform.db import db


def test_seal_and_unseal_round_trip(app_ctx):
    blob = seal("JBSWY3DPEHPK3PXP", "users.totp:42")
    assert b"JBSWY3DPEHPK3PXP" not in blob
    assert unseal_text(blob, "users.totp:42") == "JBSWY3DPEHPK3PXP"
    assert unseal(seal(b"\x00\xff", "bytes"), "bytes") == b"\x00\xff"


def test_sealing_twice_gives_different_ciphertexts(app_ctx):
    assert seal("same", "p") != seal("same", "p")


def test_a_sealed_value_moved_to_another_purpose_does_not_open(app_ctx):
    blob = seal("secret of user 42", "users.totp:42")
    with pytest.raises(SealError, match="altered or moved"):
        unseal(blob, "users.totp:43")


def test_an_altered_sealed_value_does_not_open(app_ctx):
    blob = bytearray(seal("secret", "p"))
    blob[-1] ^= 1
    with pytest.raises(SealError):
        unseal(bytes(blob), "p")
    with pytest.raises(SealError, match="truncated"):
        unseal(b"short", "p")


@pytest.mark.obligation("DPA-B.safe-store", "TT-aes256")
def test_the_data_key_is_stored_only_wrapped_and_is_256_bits(app_ctx):
    seal("x", "p")
    db.session.commit()
    row = db.session.execute(sa.select(PlatformKey)).scalar_one()
    provider = sealing.provider()
    assert row.provider == "local"
    plain = provider.unwrap(row.wrapped, {"platform-key": row.name, "version": str(row.version)})
    assert len(plain) == 32  # AES-256
    assert plain not in row.wrapped
    # The wrapped key opens only under the master key, which is not in the database.
    other = LocalKeyProvider(app_ctx.app.instance_path + "/other.key")
    with pytest.raises(KeyProviderError):
        other.unwrap(row.wrapped, {"platform-key": row.name, "version": str(row.version)})


@pytest.mark.obligation("DPA-B.safe-store", "TT-aes256")
def test_master_key_file_is_created_with_mode_0600(app, tmp_path):
    key_file = tmp_path / "instance" / "master.key"
    assert key_file.exists()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(key_file.read_bytes()) == 32


@pytest.mark.obligation("DPA-B.safe-store", "TT-aes256")
@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644], ids=oct)
def test_a_master_key_readable_by_others_is_refused(make_app, tmp_path, mode):
    make_app()  # creates instance/master.key
    key_file = tmp_path / "instance" / "master.key"
    os.chmod(key_file, mode)
    with pytest.raises(KeyProviderError, match="readable by others"):
        make_app()


def test_a_master_key_of_the_wrong_length_is_refused(tmp_path):
    key_file = tmp_path / "master.key"
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"too short")
    os.close(fd)
    with pytest.raises(KeyProviderError, match="32 bytes"):
        LocalKeyProvider(key_file)


def test_values_still_open_after_the_key_cache_is_cleared(app_ctx):
    blob = seal("keep me", "p")
    db.session.commit()
    sealing.forget_cached_keys()
    assert unseal_text(blob, "p") == "keep me"


def test_a_data_key_created_in_a_rolled_back_transaction_is_not_reused(app_ctx):
    """The first seal creates the data key; if that transaction rolls back, the key is gone,
    and what is sealed later must be sealed under the key that is actually stored."""
    seal("abandoned", "p")
    db.session.rollback()
    blob = seal("kept", "p")
    db.session.commit()
    sealing.forget_cached_keys()  # as in another process, or five minutes later
    assert unseal_text(blob, "p") == "kept"


def test_a_missing_key_version_is_a_seal_error(app_ctx):
    blob = seal("x", "p")
    db.session.rollback()  # the key row never reached the database
    sealing.forget_cached_keys()
    with pytest.raises(SealError, match="gone"):
        unseal(blob, "p")
