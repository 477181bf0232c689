"""CSV import of contacts and companies through the web UI: encodings, delimiters, header
mapping, the preview's row-by-row errors (the forms' own validation), duplicates, all or
nothing, valid rows only with the rejected ones handed back, and no plaintext left behind."""

from __future__ import annotations

import csv
import io
import re
import time
import uuid

import pytest
import sqlalchemy as sa

from tenantry.platform import storage
from tenantry.platform.audit import AuditEvent
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, all_tenants, tenant_context
from tenantry.tenants.crm import companies, contacts, csv_import
from tenantry.tenants.crm.csv_import import CsvImport, ImportFileError
from tenantry.tenants.crm.models import Company, Contact, SearchIndex
from tests.identity.support import count, in_app, login_password, new_member, text

VALID_ICO = "25596641"


@pytest.fixture
def person(web_app, acme):
    return new_member(web_app, acme, "member")


@pytest.fixture
def member(web_app, person):
    client = web_app.test_client()
    assert login_password(client, person.email).status_code == 302
    return client


def upload(client, data: bytes, kind: str = "contacts", filename: str = "people.csv"):
    return client.post(f"/t/acme/crm/{kind}/import", data={"file": (io.BytesIO(data), filename)},
                       content_type="multipart/form-data")


def preview(client, data: bytes, kind: str = "contacts"):
    response = upload(client, data, kind)
    assert response.status_code == 302, text(response)[:2000]
    path = response.headers["Location"]
    page = client.get(path)
    assert page.status_code == 200
    return path, text(page)


def file_error(response) -> str:
    found = re.findall(r'<p class="error" id="file-err">(.*?)</p>', text(response), re.S)
    return re.sub(r"<[^>]+>", "", found[0]).replace("Error: ", "").strip() if found else ""


def names(app, tenant_id) -> list[str]:
    with in_app(app, commit=False), tenant_context(db.session.get(Tenant, tenant_id)):
        rows = db.session.execute(sa.select(Contact)).scalars().all()
        return sorted(contacts.display_name(c.plain()) for c in rows)


def stored_objects(app, tenant_id) -> list[str]:
    with app.app_context():
        return list(storage.storage().list(f"tenants/{tenant_id}/imports/"))


CONTACT_ROWS = [["First name", "Surname", "E-mails", "Phones", "Company", "Position", "Tags"],
                ["Jana", "Nováková", "jana@example.com", "601 234 567", "", "CFO", "vip, fair"],
                ["Petr", "Novák", "petr@example.com", "+420 777 111 222, 00421 905 123 456", "", "", ""]]


def as_csv(rows, delimiter: str = ",") -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


CONTACTS_CSV = as_csv(CONTACT_ROWS)


def test_an_empty_file_is_refused_with_a_clear_message(web_app, member, acme):
    for data in (b"", b"\n\n  \n", "\ufeff".encode()):
        response = upload(member, data)
        assert response.status_code == 422
        assert file_error(response) == "The file is empty."
    header_only = upload(member, b"First name,Surname\n")
    assert header_only.status_code == 422 and "no rows" in file_error(header_only)
    assert count(web_app, CsvImport) == 0 and count(web_app, Contact) == 0


def test_no_file_and_an_unknown_header_are_refused(web_app, member):
    response = member.post("/t/acme/crm/contacts/import", data={}, content_type="multipart/form-data")
    assert response.status_code == 422 and file_error(response) == "Choose a CSV file."
    unknown = upload(member, b"colour,size\nred,XL\n")
    assert unknown.status_code == 422 and "Expected headers such as" in file_error(unknown)


def test_a_file_that_is_neither_utf8_nor_windows_1250_is_refused(web_app, member):
    # UTF-16 (what "Unicode text" in Excel saves) has NUL bytes; 0x81 and 0x98 are undefined in
    # Windows-1250 and invalid as UTF-8.
    for data in ("First name,Surname\nJana,Nováková\n".encode("utf-16"), b"First name,Surname\nJ\x81na,N\x98\n"):
        response = upload(member, data)
        assert response.status_code == 422
        assert "CSV UTF-8" in file_error(response)
    assert count(web_app, CsvImport) == 0


def test_a_file_over_the_size_limit_is_refused(web_app, member, monkeypatch):
    from tenantry.tenants.crm import csv_import

    monkeypatch.setattr(csv_import, "MAX_BYTES", 100)
    response = upload(member, CONTACTS_CSV.encode() * 3)
    assert response.status_code == 422 and "larger than" in file_error(response)


@pytest.mark.parametrize("encoded", [
    pytest.param(CONTACTS_CSV.encode("utf-8"), id="utf8"),
    pytest.param(b"\xef\xbb\xbf" + CONTACTS_CSV.encode("utf-8"), id="utf8-bom"),
    pytest.param(as_csv(CONTACT_ROWS, ";").encode("cp1250"), id="cp1250-semicolons"),
    pytest.param(as_csv(CONTACT_ROWS, "\t").encode("utf-8"), id="tabs"),
])
def test_encodings_and_delimiters_import_the_same_contacts(web_app, member, acme, encoded):
    path, page = preview(member, encoded)
    assert "2 rows: 2 valid, 0 with errors" in page
    response = member.post(path + "/commit", data={"mode": "all"})
    assert response.status_code == 302
    assert names(web_app, acme.id) == ["Jana Nováková", "Petr Novák"]
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        by_name = {contacts.display_name(c.plain()): c.plain() for c in db.session.execute(sa.select(Contact)).scalars()}
    # The same normalisation as the form: phones as E.164 with CZ as the default region.
    assert by_name["Jana Nováková"]["phones"] == ["+420601234567"]
    assert by_name["Jana Nováková"]["tags"] == ["vip", "fair"]
    assert by_name["Petr Novák"]["phones"] == ["+420777111222", "+421905123456"]
    # Searchable through the blind indexes, like a contact typed in.
    assert re.findall(r">Jana Nováková<", text(member.get("/t/acme/crm/contacts", query_string={"q": "novakova"})))
    assert re.findall(r">Petr Novák<", text(member.get("/t/acme/crm/contacts", query_string={"q": "+421905123456"})))


def test_headers_map_case_and_accent_insensitively_with_aliases(web_app, member, acme):
    data = "JMÉNO;PŘÍJMENÍ;e-mail;Telefon;Pozice;Něco jiného\nIva;Malá;iva@example.com;;Ředitelka;x\n"
    path, page = preview(member, data.encode("cp1250"))
    assert "1 valid, 0 with errors" in page and "Columns not imported: Něco jiného" in page
    assert member.post(path + "/commit", data={"mode": "all"}).status_code == 302
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        plain = db.session.execute(sa.select(Contact)).scalar_one().plain()
    assert (plain["first_name"], plain["last_name"], plain["emails"], plain["position"]) == (
        "Iva", "Malá", ["iva@example.com"], "Ředitelka")


def test_the_preview_lists_errors_row_by_row_with_the_forms_messages(web_app, member):
    data = ("First name,Surname,E-mails,Phones,Company\n"
            "Jana,Nováková,jana@example.com,,\n"
            "Bad,Mail,not-an-address,,\n"
            ",,,,\n"  # an empty line is skipped, not an error
            "Bad,Phone,,12,\n"
            ",,nobody@example.com,,\n"
            "No,Firm,,,Ghost s.r.o.\n")
    _path, page = preview(member, data.encode())
    assert "5 rows: 1 valid, 4 with errors" in page
    rows = dict(re.findall(r'<tr><td>(\d+)</td>\s*<td class="wrap">(.*?)</tr>', page, re.S))
    assert "Not a valid e-mail address: not-an-address" in rows["3"]
    # The row's own cells follow its errors, so a row without a name can still be told apart.
    assert "<td>nobody@example.com</td>" in rows["6"]
    assert "Import only the valid row<" in page and "Import all 5 rows<" in page
    assert "Not a valid phone number: 12" in rows["5"]
    assert "Enter a first name or a surname." in rows["6"]
    assert "no company named “Ghost s.r.o.”" in rows["7"]
    assert count(web_app, Contact) == 0


@pytest.mark.obligation("DPA-B.integrity")
def test_import_all_writes_nothing_when_one_row_is_bad(web_app, member, acme):
    rows = [f"Person{i},Tester,p{i}@example.com" for i in range(50)]
    rows[37] = "Person37,Tester,broken@"
    data = ("First name,Surname,E-mail\n" + "\n".join(rows) + "\n").encode()
    path, page = preview(member, data)
    assert "49 valid, 1 with errors" in page
    assert re.search(r'<button type="submit" class="btn btn-primary"[^>]*disabled', page)
    response = member.post(path + "/commit", data={"mode": "all"})
    assert response.status_code == 422
    assert "1 row(s) have errors: nothing was imported" in text(response)
    assert (count(web_app, Contact), count(web_app, SearchIndex)) == (0, 0)
    with in_app(web_app, commit=False), all_tenants():
        assert db.session.execute(sa.select(CsvImport.status)).scalar_one() == "previewed"
        assert not db.session.execute(sa.select(AuditEvent).where(AuditEvent.action == "crm.import")).first()


def test_import_only_valid_rows_returns_the_rejected_ones_as_csv(web_app, member, acme, person):
    data = ("First name,Surname,E-mail,Notes\n"
            "Jana,Nováková,jana@example.com,ok\n"
            "Bad,Mail,not-an-address,=HYPERLINK(\"http://evil\")\n"
            "Petr,Novák,petr@example.com,ok\n").encode()
    path, _ = preview(member, data)
    response = member.post(path + "/commit", data={"mode": "valid"})
    assert response.status_code == 302
    page = text(member.get(path))
    assert "Download the rejected rows" in page
    assert names(web_app, acme.id) == ["Jana Nováková", "Petr Novák"]

    download = member.get(path + "/rejected.csv")
    assert download.status_code == 200 and download.mimetype == "text/csv"
    rejected = list(csv.reader(io.StringIO(download.get_data(as_text=True).lstrip("\ufeff"))))
    assert rejected[0] == ["Error", "First name", "Surname", "E-mail", "Notes"]
    assert rejected[1][1:4] == ["Bad", "Mail", "not-an-address"]
    assert rejected[1][4] == "'=HYPERLINK(\"http://evil\")"  # handed back defused
    assert "Not a valid e-mail address" in rejected[1][0]
    assert len(rejected) == 2

    with in_app(web_app, commit=False), all_tenants():
        event = db.session.execute(sa.select(AuditEvent).where(AuditEvent.action == "crm.import")).scalar_one()
        assert event.details == {"entity": "contact", "mode": "valid-only", "rows": 3, "imported": 2, "rejected": 1}
        assert event.actor_id == str(person.id) or str(event.actor_id) == str(person.id)
    # The upload itself is gone; only the (encrypted) rejected rows remain until they expire.
    assert [k.rsplit("/", 1)[1] for k in stored_objects(web_app, acme.id)] == [
        f"{path.rsplit('/', 1)[1]}-rejected.sealed"]


def test_duplicate_emails_within_the_file_and_against_existing_contacts(web_app, member, acme):
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        contacts.create(contacts.ContactData(first_name="Old", last_name="Timer", emails=["old@example.com"]))
    data = (b"First name,Surname,E-mails\n"
            b"A,One,new@example.com\n"
            b"B,Two,NEW@Example.com\n"       # the same address, normalised
            b"C,Three,Old@example.com\n"     # already a contact
            b"D,Four,\"d@example.com, x@example.com\"\n")
    path, page = preview(member, data)
    assert "4 rows: 2 valid, 2 with errors" in page
    assert "the same e-mail address as row 2" in page
    assert "a contact with this e-mail address exists already" in page
    assert member.post(path + "/commit", data={"mode": "valid"}).status_code == 302
    assert names(web_app, acme.id) == ["A One", "D Four", "Old Timer"]


def test_companies_import_with_checksums_and_duplicate_company_ids(web_app, member, acme):
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        companies.create(companies.CompanyData(name="Existing a.s.", country="CZ", company_number="27082440"))
    data = ("Název;IČO;DIČ;IBAN;Země;Web\n"
            f"Železárny s.r.o.;{VALID_ICO};CZ{VALID_ICO};CZ65 0800 0000 1920 0014 5399;;example.cz\n"
            "Bad IČO s.r.o.;25596642;;;CZ;\n"
            "Bad IBAN s.r.o.;;;CZ65 0800 0000 1920 0014 5398;CZ;\n"
            "Again a.s.;27082440;;;CZ;\n"
            "British Ltd;SC 123456;;;gb;\n").encode("cp1250")
    path, page = preview(member, data, kind="companies")
    assert "5 rows: 2 valid, 3 with errors" in page
    assert "check digit" in page and "IBAN is not valid" in page and "a company with this company or VAT ID exists" in page
    assert member.post(path + "/commit", data={"mode": "valid"}).status_code == 302
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        found = {c.reveal("name"): (c.country, c.plain()) for c in db.session.execute(sa.select(Company)).scalars()}
    assert found["Železárny s.r.o."][1]["iban"] == "CZ65 0800 0000 1920 0014 5399"
    assert found["Železárny s.r.o."][1]["website"] == "https://example.cz"
    assert found["British Ltd"][0] == "GB"
    assert set(found) == {"Existing a.s.", "Železárny s.r.o.", "British Ltd"}


def test_a_czech_vat_id_and_the_same_ico_are_one_company_in_an_import(web_app, member, acme):
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        companies.create(companies.CompanyData(name="Existing a.s.", country="CZ", vat_id="CZ27082440"))
    data = ("Name,Company ID,VAT ID,Country\n"
            "Existing again a.s.,27082440,,CZ\n"
            f"Železárny s.r.o.,,CZ{VALID_ICO},CZ\n"
            f"Železárny Nový Bor,{VALID_ICO},,CZ\n").encode()
    path, page = preview(member, data, kind="companies")
    assert "3 rows: 1 valid, 2 with errors" in page
    assert "a company with this company or VAT ID exists already" in page
    assert "the same company or VAT ID as row 3" in page


def test_contacts_are_linked_to_companies_by_name(web_app, member, acme):
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        company_id = companies.create(companies.CompanyData(name="Železárny s.r.o.", country="CZ")).id
    path, page = preview(member, "Surname,Company\nDvořák,zelezarny S.R.O.\n".encode())
    assert "1 valid" in page
    member.post(path + "/commit", data={"mode": "all"})
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        assert db.session.execute(sa.select(Contact.company_id)).scalar_one() == company_id


def test_the_upload_is_kept_encrypted_and_deleted_when_discarded(web_app, member, acme):
    canary = "Canary" + uuid.uuid4().hex[:10]
    path, _ = preview(member, f"First name,Surname\n{canary},Person\n".encode())
    keys = stored_objects(web_app, acme.id)
    assert len(keys) == 1 and keys[0].startswith(f"tenants/{acme.id}/imports/")
    with web_app.app_context():
        blob = storage.storage().get(keys[0])
    assert canary.encode() not in blob and b"Person" not in blob
    assert member.post(path + "/discard").status_code == 302
    assert stored_objects(web_app, acme.id) == []
    assert "no longer kept" in text(member.get(path))
    assert member.post(path + "/commit", data={"mode": "all"}).status_code == 422
    assert count(web_app, Contact) == 0


def test_uploads_expire_in_the_sweep(web_app, member, acme, time_machine):
    from datetime import timedelta

    from tenantry.platform import clock, cron

    preview(member, b"First name,Surname\nA,B\n")
    with in_app(web_app):
        assert cron.sweep(clock.now() + timedelta(hours=1))["crm-import-files"] == 0
        assert cron.sweep(clock.now() + timedelta(hours=25))["crm-import-files"] == 1
        assert cron.sweep(clock.now() + timedelta(hours=26))["crm-import-files"] == 0
    assert stored_objects(web_app, acme.id) == []
    with in_app(web_app, commit=False), all_tenants():
        assert db.session.execute(sa.select(CsvImport.status)).scalar_one() == "expired"


def test_someone_elses_import_and_a_viewer_are_refused(web_app, member, acme):
    path, _ = preview(member, b"First name,Surname\nA,B\n")
    other = new_member(web_app, acme, "member")
    client = web_app.test_client()
    login_password(client, other.email)
    assert client.get(path).status_code == 404
    assert client.post(path + "/commit", data={"mode": "all"}).status_code == 404
    viewer = new_member(web_app, acme, "viewer")
    client = web_app.test_client()
    login_password(client, viewer.email)
    assert client.get("/t/acme/crm/contacts/import").status_code == 403
    assert upload(client, b"First name,Surname\nA,B\n").status_code == 403
    assert "Import CSV" not in text(client.get("/t/acme/crm/contacts"))


def test_ten_thousand_rows_import_in_one_go(web_app, member, acme, capsys):
    lines = ["First name,Surname,E-mails,Phones,Tags"]
    lines += [f"Jméno{i},Příjmení{i % 97},person{i}@example.com,+420 601 {i // 1000:03d} {i % 1000:03d},t{i % 5}"
              for i in range(10_000)]
    data = ("\n".join(lines) + "\n").encode()
    started = time.perf_counter()
    path, page = preview(member, data)
    previewed = time.perf_counter()
    assert "10000 rows: 10000 valid, 0 with errors" in page
    assert member.post(path + "/commit", data={"mode": "all"}).status_code == 302
    done = time.perf_counter()
    assert count(web_app, Contact) == 10_000
    with capsys.disabled():
        print(f"\n10,000-row import: upload+check {previewed - started:.1f}s, commit (re-check + write) "
              f"{done - previewed:.1f}s")
    hits = re.findall(r'<a href="/t/acme/crm/contacts/[0-9a-f-]{36}">(.*?)</a>',
                      text(member.get("/t/acme/crm/contacts", query_string={"q": "person9999@example.com"})))
    assert hits == ["Jméno9999 Příjmení8"]


# --- files a spreadsheet or a hand edit got subtly wrong: every value lands where it belongs,
# or the preview says why it cannot; nothing is dropped without a word.


def _rows(page: str) -> dict[str, str]:
    return dict(re.findall(r'<tr><td>(\d+)</td>\s*<td class="wrap">(.*?)</tr>', page, re.S))


def test_a_value_cut_by_an_unquoted_comma_is_an_error_not_a_shorter_note(web_app, member, acme):
    data = ("First name,Surname,E-mails,Notes\n"
            "Jan,Novák,jan@example.com,Hello, world\n"
            "Eva,Malá,eva@example.com,fine,,\n"  # empty trailing cells, as Excel writes them
            "Iva,Nová,iva@example.com,\"quoted, as it should\"\n").encode()
    path, page = preview(member, data)
    assert "3 rows: 2 valid, 1 with errors" in page
    assert "This row has 5 values but the header names 4 columns (“world” is in no column)" in _rows(page)["2"]
    assert member.post(path + "/commit", data={"mode": "valid"}).status_code == 302
    assert names(web_app, acme.id) == ["Eva Malá", "Iva Nová"]


def test_data_under_a_column_without_a_header_is_reported_as_not_imported(web_app, member):
    _path, page = preview(member, b"First name,Surname,,Notes\nJan,Novak,42,hi\nEva,Mala,,\n")
    assert "Columns not imported: column 3 (no header)" in page
    _path, page = preview(member, b"First name,Surname,,Notes\nJan,Novak,,hi\n")
    assert "Columns not imported" not in page  # an empty column is nothing to report


def test_an_unclosed_quote_refuses_the_file_instead_of_swallowing_the_rest(web_app, member):
    response = upload(member, b'First name,Surname,Notes\nJan,Novak,"oops\nPetr,Novy,x\nIva,Mala,y\n')
    assert response.status_code == 422
    assert "Row 2 opens a quoted value" in file_error(response) and "never closed" in file_error(response)
    assert count(web_app, CsvImport) == 0
    # A stray quote inside a value is read as a spreadsheet reads it.
    _path, page = preview(member, b'First name,Surname,Notes\nJan,Novak,5" screen\n')
    assert "1 row: 1 valid" in page


def test_a_line_that_is_not_utf8_in_a_utf8_file_is_named(web_app, member):
    data = "First name,Surname\nJana,Nováková\nPetr,Dvořák\n".encode() + b"Ota,Mal\xe1\n"
    response = upload(member, data)
    assert response.status_code == 422
    assert file_error(response).startswith("Line 4 is not UTF-8 text, the rest of the file is")
    assert count(web_app, CsvImport) == 0
    # Windows-1250 throughout is still read as such.
    _path, page = preview(member, "First name,Surname\nJana,Nováková\nPetr,Dvořák\n".encode("cp1250"))
    assert "2 rows: 2 valid" in page and "Nováková" in page and "Dvořák" in page


def test_excel_sep_line_a_dos_end_of_file_and_a_very_long_cell(web_app, member):
    _path, page = preview(member, b"sep=;\r\nFirst name;Surname\r\nJan;Novak\r\n")
    assert "1 row: 1 valid" in page and "<td>2</td>" in page  # the header is still row 1
    _path, page = preview(member, b"First name,Surname\r\nJan,Novak\r\n\x1a")
    assert "1 row: 1 valid" in page
    # Longer than the csv module's default cell limit: the form's own limit names the field.
    _path, page = preview(member, b"First name,Surname,Notes\nJan,Novak," + b"x" * 200_000 + b"\n")
    assert "Notes: Field cannot be longer than" in page


def test_rejected_rows_keep_every_value_under_its_own_column(web_app, member):
    data = (b"First name,Surname,E-mail,Notes,Position\n"
            b"Ok,Row,ok@example.com,n,p\n"
            b"Bad,Short,not-an-address\n"
            b"Bad,Long,also-bad,n,p,EXTRA1\n")
    path, _ = preview(member, data)
    assert member.post(path + "/commit", data={"mode": "valid"}).status_code == 302
    download = member.get(path + "/rejected.csv").get_data(as_text=True).lstrip("\ufeff")
    header, short, long = list(csv.reader(io.StringIO(download)))
    assert header == ["Error", "First name", "Surname", "E-mail", "Notes", "Position"]
    assert short[1:] == ["Bad", "Short", "not-an-address"] and "e-mail" in short[0]
    assert long[1:] == ["Bad", "Long", "also-bad", "n", "p", "EXTRA1"] and "in no column" in long[0]
    # Re-uploaded as it is, the error column is left out rather than read as data.
    _path, page = preview(member, download.encode())
    assert "Columns not imported: Error" in page


def test_an_upload_committed_meanwhile_is_not_written_twice(web_app, member, acme, person):
    path, _ = preview(member, b"First name,Surname\nJan,Novak\n")
    import_id = path.rsplit("/", 1)[1]
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        imp = csv_import.get(uuid.UUID(import_id))
        assert imp.status == "previewed"
        # Another request commits it between this one's read and its write.
        table = CsvImport.__table__
        db.session.execute(sa.update(table).where(table.c.id == imp.id).values(status="imported"))
        try:
            csv_import.commit(imp, only_valid=False, actor=person)
        except ImportFileError as exc:
            assert "meanwhile" in str(exc)
        else:
            raise AssertionError("committed twice")
        assert db.session.execute(sa.select(sa.func.count()).select_from(Contact)).scalar_one() == 0


@pytest.mark.parametrize(("label", "key", "field"), [("Role", "seniority", "label"), ("Mobile", "mobile_no", "label"),
                                                     ("Handset", "mobile", "key"), ("Error", "error_text", "label")])
def test_a_custom_field_cannot_take_a_name_the_import_reads_as_a_contact_column(web_app, acme, label, key, field):
    from tenantry.tenants.crm import custom_fields

    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        with pytest.raises(custom_fields.DefinitionError) as refused:
            custom_fields.create(custom_fields.DefinitionData(label=label, key=key, type="text", options=[],
                                                              required=False, special_category=False))
        assert refused.value.field == field and "names a contact's own column" in str(refused.value)
        custom_fields.create(custom_fields.DefinitionData(label="Seniority", key="seniority", type="text", options=[],
                                                          required=False, special_category=False))


def test_tags_split_on_semicolons_and_new_lines_as_well_as_commas(web_app, member, acme):
    path, _ = preview(member, b'First name,Surname,Tags\nJan,Novak,"vip; fair\nprague, VIP"\n')
    assert member.post(path + "/commit", data={"mode": "all"}).status_code == 302
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        (contact,) = db.session.execute(sa.select(Contact)).scalars().all()
        assert contact.plain()["tags"] == ["vip", "fair", "prague"]


@pytest.mark.parametrize(("label", "key", "field", "message"), [
    ("Uroven", "uroven2", "label", "would read “Uroven” as the field “Úroveň”"),
    ("Level", "uroven", "key", "Another custom field already has this key."),
    ("Level", "u_roven", "key", "would read “u_roven” as the field “Úroveň”"),
    ("???", "marks", "label", "A label needs a letter or a digit"),
])
def test_two_custom_fields_never_read_alike_in_an_import(web_app, acme, label, key, field, message):
    from tenantry.tenants.crm import custom_fields

    def define(label, key, **kw):
        return custom_fields.create(custom_fields.DefinitionData(**{
            "label": label, "key": key, "type": "text", "options": [], "required": False, "special_category": False,
            **kw}))

    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        define("Úroveň", "uroven")
        with pytest.raises(custom_fields.DefinitionError) as refused:
            define(label, key)
        assert refused.value.field == field and message in str(refused.value)
        with pytest.raises(custom_fields.DefinitionError) as twins:
            define("Tier", "tier", type="choice", options=["Gold", "gold"])
        assert twins.value.field == "options" and "differ only in case" in str(twins.value)


def test_a_custom_field_changed_after_the_preview_stops_the_import(web_app, member, acme):
    from tenantry.tenants.crm import custom_fields

    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        tier = custom_fields.create(custom_fields.DefinitionData(
            label="Tier", key="tier", type="choice", options=["Gold", "Silver"], required=False,
            special_category=False))
        tier_id = tier.id
    path, _ = preview(member, "First name,Surname,Tier\nJan,Novák,Silver\n".encode())
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        custom_fields.update(custom_fields.get(tier_id), custom_fields.DefinitionData(
            label="Tier", key="tier", type="choice", options=["Gold"], required=False, special_category=False))
    refused = member.post(path + "/commit", data={"mode": "all"}, follow_redirects=True)
    assert "The custom fields changed since the preview" in text(refused)
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        assert db.session.execute(sa.select(sa.func.count()).select_from(Contact)).scalar_one() == 0


def test_the_rejected_rows_come_back_in_the_file_s_own_delimiter(web_app, member, acme):
    data = "Jméno;Příjmení;E-mail\nJana;Nováková;jana@example.com\nBad;Mail;not-an-address\n".encode()
    path, _ = preview(member, data)
    assert member.post(path + "/commit", data={"mode": "valid"}).status_code == 302
    download = member.get(path + "/rejected.csv").get_data(as_text=True).lstrip("\ufeff")
    assert download.splitlines()[0] == "Error;Jméno;Příjmení;E-mail"  # as Czech Excel wrote it, and reads it
    rejected = list(csv.reader(io.StringIO(download), delimiter=";"))
    assert rejected[1][1:] == ["Bad", "Mail", "not-an-address"]
    again, _ = preview(member, download.encode())  # and it imports again as it is, once fixed
    assert "Not a valid e-mail address" in text(member.get(again))
