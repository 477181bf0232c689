"""Field encryption binds each ciphertext to tenant, table, column and row; blind indexes
find normalised values without the plaintext being stored."""

from __future__ import annotations

import pytest

from tenantry.platform.crypto import fields, keyring
from tenantry.platform.crypto.fields import FieldDecryptError, blind_index, decrypt, encrypt, name_indexes
from tenantry.platform.db import db
from tenantry.platform.tenancy import tenant_context


def _at(tenant, table="contacts", column="email", row_id=7):
    return {"tenant_id": tenant.id, "table": table, "column": column, "row_id": row_id}


@pytest.mark.obligation("TT-aes256")
def test_round_trip_of_text_bytes_and_none(two_tenants):
    acme, _ = two_tenants
    with tenant_context(acme):
        blob = encrypt("jana@example.cz", **_at(acme))
        assert b"jana" not in blob
        assert decrypt(blob, **_at(acme)) == "jana@example.cz"
        assert decrypt(encrypt(b"\x00\xff", **_at(acme)), **_at(acme)) == b"\x00\xff"
        assert encrypt(None, **_at(acme)) is None and decrypt(None, **_at(acme)) is None
        assert encrypt("same", **_at(acme)) != encrypt("same", **_at(acme))  # fresh nonce each time
        assert fields.key_version(blob) == 1


@pytest.mark.obligation("DPA-B.integrity", "TT-aes256")
@pytest.mark.parametrize("row_id", [7, "row with \"quotes\" and spaces"], ids=["plain-id", "id-needing-json"])
def test_a_row_opened_at_once_reads_as_its_columns_one_by_one_and_still_binds_each(two_tenants, row_id):
    acme, _ = two_tenants
    with tenant_context(acme):
        blobs = {column: encrypt(f"value of {column}", **_at(acme, column=column, row_id=row_id))
                 for column in ("email", "phone", "naïve column")}
        blobs["notes"] = None
        opened = fields.decrypt_row(blobs, tenant_id=acme.id, table="contacts", row_id=row_id)
        assert opened == {column: decrypt(blob, **_at(acme, column=column, row_id=row_id))
                          for column, blob in blobs.items()}
        assert opened["phone"] == "value of phone" and opened["notes"] is None
        # Swapping two columns' values within the row is caught like any other move.
        swapped = {"email": blobs["phone"], "phone": blobs["email"]}
        with pytest.raises(FieldDecryptError, match="contacts.email of row"):
            fields.decrypt_row(swapped, tenant_id=acme.id, table="contacts", row_id=row_id)



@pytest.mark.obligation("DPA-B.integrity", "TT-aes256")
def test_one_reader_for_a_page_refuses_a_moved_or_altered_value_after_its_key_is_warm(two_tenants):
    acme, _ = two_tenants
    with tenant_context(acme):
        reader = fields.Reader(acme.id)
        rows = {row_id: {column: encrypt(f"{column} {row_id}", **_at(acme, column=column, row_id=row_id))
                         for column in ("email", "phone")} for row_id in (1, 2)}
        assert reader.open_row(rows[1], "contacts", 1) == {"email": "email 1", "phone": "phone 1"}
        # The key is cached in the reader now: the values below go the short way, and are refused there.
        with pytest.raises(FieldDecryptError, match="contacts.email of row 2: does not decrypt here"):
            reader.open_row({"email": rows[1]["email"]}, "contacts", 2)
        with pytest.raises(FieldDecryptError, match="contacts.phone of row 2: does not decrypt here"):
            reader.open_row({"email": rows[2]["email"], "phone": rows[2]["email"]}, "contacts", 2)
        altered = bytearray(rows[2]["phone"])
        altered[-1] ^= 1
        with pytest.raises(FieldDecryptError, match="does not decrypt here"):
            reader.open_row({"phone": bytes(altered)}, "contacts", 2)
        with pytest.raises(FieldDecryptError, match="truncated"):
            reader.open_row({"phone": rows[2]["phone"][:fields.HEADER_SIZE]}, "contacts", 2)
        unknown_kind = bytearray(rows[2]["phone"])
        unknown_kind[1] = 9
        with pytest.raises(FieldDecryptError, match="unknown ciphertext format 1/9"):
            reader.open_row({"phone": bytes(unknown_kind)}, "contacts", 2)
        assert reader.open_row(rows[2], "contacts", 2) == {"email": "email 2", "phone": "phone 2"}

def test_a_row_id_is_required_so_a_value_is_always_bound_to_its_row(two_tenants):
    acme, _ = two_tenants
    with tenant_context(acme), pytest.raises(ValueError, match="row id"):
        encrypt("x", **_at(acme, row_id=None))


@pytest.mark.obligation("DPA-B.integrity", "TT-aes256")
@pytest.mark.parametrize("moved_to", [
    {"row_id": 8}, {"column": "phone"}, {"table": "companies"},
], ids=["another-row", "another-column", "another-table"])
def test_a_ciphertext_copied_elsewhere_in_the_tenant_fails_with_a_clear_error(two_tenants, moved_to):
    acme, _ = two_tenants
    with tenant_context(acme):
        blob = encrypt("jana@example.cz", **_at(acme))
        target = {**_at(acme), **moved_to}
        with pytest.raises(FieldDecryptError) as info:
            decrypt(blob, **target)
    err = info.value
    assert (err.table, err.column, err.row_id) == (target["table"], target["column"], target["row_id"])
    assert f"{target['table']}.{target['column']} of row {target['row_id']}" in str(err)
    assert "copied from another row, column or tenant" in str(err)


@pytest.mark.obligation("DPA-B.integrity", "TT-aes256")
def test_a_ciphertext_copied_to_another_tenant_fails_with_a_clear_error(two_tenants):
    acme, globex = two_tenants
    with tenant_context(acme):
        blob = encrypt("jana@example.cz", **_at(acme))
    with tenant_context(globex), pytest.raises(FieldDecryptError, match="contacts.email of row 7: does not decrypt"):
        decrypt(blob, **_at(globex))


@pytest.mark.obligation("DPA-B.integrity")
def test_an_altered_or_truncated_ciphertext_fails(two_tenants):
    acme, _ = two_tenants
    with tenant_context(acme):
        blob = encrypt("jana@example.cz", **_at(acme))
        for i in (0 + 2, 10, len(blob) - 1):  # key version, nonce, tag
            altered = bytearray(blob)
            altered[i] ^= 1
            with pytest.raises(FieldDecryptError):
                decrypt(bytes(altered), **_at(acme))
        with pytest.raises(FieldDecryptError, match="truncated or not encrypted"):
            decrypt(b"jana@example.cz", **_at(acme))
        with pytest.raises(FieldDecryptError, match="unknown ciphertext format"):
            decrypt(b"\x09" + blob[1:], **_at(acme))


def test_name_tokens_fold_case_and_accents():
    assert fields.name_tokens("Jana Nováková") == ["jana", "novakova"]
    assert fields.name_tokens("  ŽOFIE  Dvořáková-Łukasiewicz ") == ["zofie", "dvorakova", "lukasiewicz"]
    assert fields.name_tokens("Müller Müller") == ["muller"]
    assert fields.name_tokens("") == []


@pytest.mark.obligation("DPA-B.pseudonymisation")
def test_blind_indexes_match_normalised_values_only_within_the_tenant(two_tenants):
    acme, globex = two_tenants
    with tenant_context(acme):
        novak = name_indexes("Petr Novák", tenant_id=acme.id)
        assert blind_index("name", "novak", tenant_id=acme.id) in novak
        assert blind_index("name", "NOVÁK", tenant_id=acme.id) in novak
        assert blind_index("name", "petr", tenant_id=acme.id) in novak
        assert blind_index("name", "novakova", tenant_id=acme.id) not in novak
        email = blind_index("email", " Jana.Novakova@Example.CZ ", tenant_id=acme.id)
        assert email == blind_index("email", "jana.novakova@example.cz", tenant_id=acme.id)
        assert blind_index("phone", "+420 601-234 567", tenant_id=acme.id) == blind_index(
            "phone", "+420601234567", tenant_id=acme.id)
        assert blind_index("phone", "00420601234567", tenant_id=acme.id) == blind_index(
            "phone", "+420601234567", tenant_id=acme.id)
        assert blind_index("company_id", "274 01 944", tenant_id=acme.id) == blind_index(
            "company_id", "27401944", tenant_id=acme.id)
        # Kinds use separate keys: the same text as e-mail and as name does not collide.
        assert blind_index("email", "novak", tenant_id=acme.id) != blind_index("name", "novak", tenant_id=acme.id)
        # The index reveals nothing of the value.
        assert "jana" not in email and len(email) == 64
    with tenant_context(globex):
        assert blind_index("email", "jana.novakova@example.cz", tenant_id=globex.id) != email


def test_blind_index_refuses_what_it_cannot_normalise(two_tenants):
    acme, _ = two_tenants
    with tenant_context(acme):
        with pytest.raises(ValueError, match="E.164"):
            blind_index("phone", "601 234 567", tenant_id=acme.id)
        with pytest.raises(ValueError, match="one word"):
            blind_index("name", "Jana Nováková", tenant_id=acme.id)
        with pytest.raises(ValueError, match="unknown blind index kind"):
            blind_index("iban", "CZ65", tenant_id=acme.id)


@pytest.mark.obligation("DPA-B.pseudonymisation")
def test_blind_indexes_survive_a_key_rotation(two_tenants):
    acme, _ = two_tenants
    with tenant_context(acme):
        before = blind_index("email", "jana@example.cz", tenant_id=acme.id)
    keyring.rotate(acme.id)
    db.session.commit()
    keyring.forget_cached_keys()
    with tenant_context(acme):
        assert blind_index("email", "jana@example.cz", tenant_id=acme.id) == before
        assert fields.key_version(encrypt("x", **_at(acme))) == 2
