"""Rotating a tenant's key: the new version writes at once, a job moves every value onto it
in batches with its progress in the database, a rotation killed half-way finishes when
started again, and the old version is retired once nothing uses it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tenantry.platform import clock, cron, jobs
from tenantry.platform.crypto import fields, keyring, rotation
from tenantry.platform.db import db
from tenantry.platform.tenancy import tenant_context
from tests.platform.crypto.conftest import key_versions_in_use, read_notes, write_notes


def _rotating(notes, tenant, count: int, **kw):
    """`count` notes written, then a rotation started whose job is left for the test to run:
    their {id: body}, and the rotation's id."""
    expected = write_notes(notes, tenant, count, **kw)
    rotation_id = rotation.rotate(tenant).id
    db.session.commit()
    jobs.discard_pending()
    return expected, rotation_id


def _statuses(tenant):
    return [(r.version, r.status) for r in keyring.versions(tenant.id)]


@pytest.mark.obligation("TT-aes256", "DPA-B.safe-store")
def test_rotation_re_encrypts_every_value_and_retires_the_old_version(two_tenants, notes):
    acme, globex = two_tenants
    expected = write_notes(notes, acme, 25)
    theirs = write_notes(notes, globex, 5)
    started = rotation.rotate(acme)
    total = started.rows_total
    db.session.commit()
    # Active at once, before any value has moved.
    assert _statuses(acme) == [(1, "retiring"), (2, "active")]
    with tenant_context(acme):
        assert fields.key_version(fields.encrypt("x", tenant_id=acme.id, table="t", column="c", row_id=1)) == 2
    assert total == 25
    assert jobs.drain() == 1
    db.session.remove()
    assert key_versions_in_use(notes, acme) == {2}
    assert read_notes(notes, acme) == expected
    assert _statuses(acme)[0] == (1, "retired")
    done = rotation.current(acme.id)
    assert (done.status, done.rows_done, done.percent, done.values_reencrypted) == ("done", 25, 100, 50)
    # Another tenant's values and keys are not touched.
    assert key_versions_in_use(notes, globex) == {1}
    assert read_notes(notes, globex) == theirs
    assert _statuses(globex) == [(1, "active")]


@pytest.mark.obligation("TT-aes256", "DPA-B.integrity")
def test_a_rotation_killed_half_way_and_started_again_finishes_with_every_value_readable(
        two_tenants, notes, monkeypatch):
    acme, _ = two_tenants
    expected, rotation_id = _rotating(notes, acme, 47)

    real_encrypt = fields.encrypt
    calls = {"n": 0}

    def dies_after_some_values(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 45:  # mid-way through the third batch of 10 rows (two values a row)
            raise SystemExit("worker killed")
        return real_encrypt(*args, **kwargs)

    monkeypatch.setattr(fields, "encrypt", dies_after_some_values)
    with tenant_context(acme), pytest.raises(SystemExit):
        rotation.reencrypt(rotation_id, batch_size=10)
    db.session.rollback()
    db.session.remove()
    monkeypatch.setattr(fields, "encrypt", real_encrypt)

    half = rotation.current(acme.id)
    assert (half.status, half.rows_done, half.cursor_row) == ("running", 20, "20")
    assert key_versions_in_use(notes, acme) == {1, 2}  # the third batch rolled back whole
    assert _statuses(acme) == [(1, "retiring"), (2, "active")]
    assert read_notes(notes, acme) == expected

    assert rotation.resume(acme, batch_size=10) == "done"
    db.session.remove()
    assert key_versions_in_use(notes, acme) == {2}
    assert read_notes(notes, acme) == expected
    assert _statuses(acme) == [(1, "retired"), (2, "active")]
    finished = rotation.current(acme.id)
    assert (finished.status, finished.rows_done, finished.values_reencrypted) == ("done", 47, 94)


def test_values_written_behind_the_cursor_with_the_old_key_are_caught_before_retiring(
        two_tenants, notes, monkeypatch):
    acme, _ = two_tenants
    expected, rotation_id = _rotating(notes, acme, 6, start=10)
    v1 = keyring.data_key(acme.id, 1)
    real_commit, real_active = rotation._commit, keyring.active_data_key

    def late_writer_commits_too(rot):
        real_commit(rot)
        if 0 not in expected:
            # A transaction that read v1 as active before the rotation commits now, at row 0,
            # behind the cursor.
            with monkeypatch.context() as mp:
                mp.setattr(keyring, "active_data_key", lambda tid: (1, v1))
                expected.update(write_notes(notes, acme, 1, start=0))
            assert keyring.active_data_key is real_active

    monkeypatch.setattr(rotation, "_commit", late_writer_commits_too)
    with tenant_context(acme):
        assert rotation.reencrypt(rotation_id, batch_size=2) == "done"
    db.session.remove()
    assert key_versions_in_use(notes, acme) == {2}
    assert read_notes(notes, acme) == expected
    assert _statuses(acme) == [(1, "retired"), (2, "active")]


@pytest.mark.obligation("DPA-B.integrity")
def test_a_value_saved_while_its_row_is_re_encrypted_is_kept_not_overwritten(two_tenants, notes, monkeypatch):
    acme, _ = two_tenants
    expected, rotation_id = _rotating(notes, acme, 5)
    real_decrypt = fields.decrypt
    saved = []

    def someone_saves_row_3_meanwhile(blob, **where):
        plain = real_decrypt(blob, **where)
        if where["row_id"] == 3 and where["column"] == "body" and not saved:
            # Between the job's read of row 3 and its write, a person saves a new body (on
            # the active key, as every write is).
            saved.append("Nová poznámka, uložená během rotace")
            db.session.execute(notes.update().where(notes.c.tenant_id == acme.id, notes.c.id == 3).values(
                body=fields.encrypt(saved[0], tenant_id=acme.id, table=notes.name, column="body", row_id=3)))
        return plain

    monkeypatch.setattr(fields, "decrypt", someone_saves_row_3_meanwhile)
    with tenant_context(acme):
        assert rotation.reencrypt(rotation_id, batch_size=2) == "done"
    monkeypatch.setattr(fields, "decrypt", real_decrypt)
    db.session.remove()
    assert saved
    assert read_notes(notes, acme) == {**expected, 3: saved[0]}
    assert key_versions_in_use(notes, acme) == {2}
    assert _statuses(acme) == [(1, "retired"), (2, "active")]


def test_rotating_again_during_a_rotation_supersedes_it_and_moves_everything(two_tenants, notes):
    acme, _ = two_tenants
    expected = write_notes(notes, acme, 6)
    first = rotation.rotate(acme).id
    db.session.commit()
    jobs.discard_pending()
    rotation.rotate(acme)
    db.session.commit()
    assert jobs.drain() == 1
    db.session.remove()
    assert rotation.reencrypt(first) == "superseded"
    assert key_versions_in_use(notes, acme) == {3}
    assert read_notes(notes, acme) == expected
    assert _statuses(acme) == [(1, "retired"), (2, "retired"), (3, "active")]


def test_the_sweep_requeues_a_rotation_that_went_quiet(two_tenants, notes, app_ctx, time_machine):
    acme, _ = two_tenants
    expected = write_notes(notes, acme, 3)
    rotation.rotate(acme)
    db.session.commit()
    jobs.discard_pending()  # the worker died with the job
    assert cron.sweep(clock.now() + timedelta(minutes=1))["key-rotations"] == 0
    results = cron.sweep(clock.now() + rotation.STALE_AFTER + timedelta(minutes=1))
    assert results["key-rotations"] == 1
    assert jobs.drain() == 1
    db.session.remove()
    assert rotation.current(acme.id).status == "done"
    assert read_notes(notes, acme) == expected


@pytest.mark.obligation("TT-aes256")
def test_the_cli_rotates_reports_progress_and_status(two_tenants, notes, app_ctx):
    acme, _ = two_tenants
    expected = write_notes(notes, acme, 4)
    db.session.remove()
    runner = app_ctx.app.test_cli_runner()
    out = runner.invoke(args=["tenantry", "keys", "rotate", "acme"])
    assert out.exit_code == 0, out.output
    assert "acme: data key v2 is active" in out.output
    assert "data key v1: retired" in out.output
    assert "rotation to v2: done, 4/4 rows (100%), 8 values re-encrypted" in out.output
    status = runner.invoke(args=["tenantry", "keys", "status", "acme"])
    assert "data key v2: active (local)" in status.output
    assert runner.invoke(args=["tenantry", "keys", "rotate", "nobody"]).exit_code != 0
    db.session.remove()
    assert read_notes(notes, acme) == expected
    assert key_versions_in_use(notes, acme) == {2}
