"""Field encryption under the tenant's data key, and blind indexes for exact-match search.

A ciphertext is `header || AES-256-GCM(value)`. The header (format, value kind, key version,
nonce) is authenticated together with the tenant, table, column and row the value belongs
to, so a ciphertext copied to another row, column or tenant, or altered in any byte, fails
to decrypt with `FieldDecryptError` instead of yielding someone else's data.

Blind indexes are HMAC-SHA256 of a normalised value under a key derived (HKDF) from the
tenant's index secret, one derived key per kind of value. The index secret does not rotate
with the data key, so search survives a rotation; it differs per tenant, so equal values of
two tenants do not match.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import re
import secrets
import struct
import unicodedata
import uuid
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from email_validator import EmailNotValidError, validate_email

from tenantry.platform.crypto import keyring

FORMAT = 1
_HEADER = struct.Struct(">BBI12s")  # format, kind, key version, nonce
_BYTES, _TEXT = 0, 1
HEADER_SIZE = _HEADER.size
# Where the key version sits (big-endian) in a ciphertext: SQL counts values per version by it
# without decrypting anything (usage.py).
VERSION_OFFSET, VERSION_SIZE = 2, 4
_TAG = 16


class FieldDecryptError(RuntimeError):
    """A stored value does not open where it is: moved, altered, or its key is gone."""

    def __init__(self, message: str, *, table: str, column: str, row_id: Any):
        super().__init__(f"{table}.{column} of row {row_id}: {message}")
        self.table, self.column, self.row_id = table, column, row_id


# Characters json.dumps writes as they are: a list of strings made only of these is spelled
# '["a","b",...]' exactly, so the common case (uuids, table and column names) skips json.dumps,
# which cost a page of 400 values several milliseconds (bench/crm.py, issue 3).
_PLAIN_JSON = re.compile(r"[A-Za-z0-9_.:\-]*")


def _aad(header: bytes, tenant_id, table: str, column: str, row_id) -> bytes:
    parts = [str(tenant_id), table, column, str(row_id)]
    if all(_PLAIN_JSON.fullmatch(part) for part in parts):
        return header + ('["' + '","'.join(parts) + '"]').encode()
    return header + json.dumps(parts, separators=(",", ":")).encode()


def encrypt(value: str | bytes | None, *, tenant_id: uuid.UUID, table: str, column: str, row_id: Any) -> bytes | None:
    """Encrypt under the tenant's active data key. None stays None (an empty optional field)."""
    if value is None:
        return None
    if row_id is None:
        raise ValueError(f"{table}.{column}: the row id must be known before encrypting (bind it to the row)")
    version, key = keyring.active_data_key(tenant_id)
    return _encrypt_with(AESGCM(key), version, value, tenant_id, table, column, row_id)


def _encrypt_with(aes: AESGCM, version: int, value: str | bytes, tenant_id, table: str, column: str, row_id) -> bytes:
    kind, data = (_TEXT, value.encode()) if isinstance(value, str) else (_BYTES, bytes(value))
    nonce = secrets.token_bytes(12)
    header = _HEADER.pack(FORMAT, kind, version, nonce)
    return header + aes.encrypt(nonce, data, _aad(header, tenant_id, table, column, row_id))


def key_version(blob: bytes) -> int:
    """The data key version a ciphertext was written with (read from its header)."""
    if not blob or len(blob) < HEADER_SIZE + _TAG:
        raise ValueError("not a field ciphertext")
    return _HEADER.unpack(blob[:HEADER_SIZE])[2]


def decrypt(blob: bytes | None, *, tenant_id: uuid.UUID, table: str, column: str, row_id: Any) -> str | bytes | None:
    return _open(blob, lambda version: AESGCM(keyring.data_key(tenant_id, version)), tenant_id, table, column, row_id)


def decrypt_row(blobs: dict[str, bytes | None], *, tenant_id: uuid.UUID, table: str,
                row_id: Any) -> dict[str, str | bytes | None]:
    """Several columns of one row, each as `decrypt` would give it; the key of each version is
    looked up once for the row, not once per column (a page of 50 contacts opens 400 values)."""
    return Reader(tenant_id).open_row(blobs, table, row_id)


_MOVED = "does not decrypt here: the ciphertext was altered or copied from another row, column or tenant"


def _open(blob, aes_for, tenant_id, table: str, column: str, row_id, aad=_aad) -> str | bytes | None:
    """Decrypt one value; `aes_for(version)` gives the cipher of that key version."""
    if blob is None:
        return None
    where = {"table": table, "column": column, "row_id": row_id}
    blob = bytes(blob)
    if len(blob) < HEADER_SIZE + _TAG:
        raise FieldDecryptError("the stored value is truncated or not encrypted", **where)
    fmt, kind, version, nonce = _HEADER.unpack(blob[:HEADER_SIZE])
    if fmt != FORMAT or kind not in (_BYTES, _TEXT):
        raise FieldDecryptError(f"unknown ciphertext format {fmt}/{kind}", **where)
    try:
        aes = aes_for(version)
    except keyring.KeyringError as exc:
        raise FieldDecryptError(f"key v{version} is not available to this tenant ({exc})", **where) from exc
    try:
        data = aes.decrypt(nonce, blob[HEADER_SIZE:], aad(blob[:HEADER_SIZE], tenant_id, table, column, row_id))
    except InvalidTag as exc:
        raise FieldDecryptError(_MOVED, **where) from exc
    return data.decode() if kind == _TEXT else data


# --- blind indexes -------------------------------------------------------------------------

KINDS = ("email", "phone", "company_id", "name", "tag", "custom")

_SPACES = re.compile(r"\s+")
_PHONE_PUNCT = re.compile(r"[\s\-./()]")
_E164 = re.compile(r"^\+[1-9]\d{1,14}$")
_WORDS = re.compile(r"[^\W_]+")
# Words joined by an apostrophe or dots ("O'Brien", "s.r.o."), which people also type run
# together ("obrien", "sro"): a name is indexed under that form too.
_JOINED = re.compile(r"[^\W_]+(?:['’.][^\W_]+)+")
_JOINERS = re.compile(r"['’.]")
# Letters that NFKD does not split into a base letter and a mark.
_FOLD = str.maketrans({"ł": "l", "đ": "d", "ø": "o", "ħ": "h", "ı": "i", "æ": "ae", "œ": "oe", "þ": "th"})


def normalise_email(value: str) -> str:
    """As the CRM stores an address (email-validator's normal form: composed accents, the
    domain in Unicode, not punycode), lowercased: a search typed either way finds it."""
    value = value.strip()
    if value.isascii() and "xn--" not in value.lower():
        return value.lower()  # nothing to compose or decode: the usual case, and the cheap one
    value = unicodedata.normalize("NFC", value)
    try:
        value = validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError:
        pass  # a search for something that is no whole address: matched as typed
    return value.lower()


def normalise_phone(value: str) -> str:
    """Phones are stored as E.164 by the CRM's validation; here only punctuation is tolerated."""
    cleaned = _PHONE_PUNCT.sub("", value.strip())
    if cleaned.startswith("00"):
        cleaned = "+" + cleaned[2:]
    if not _E164.match(cleaned):
        raise ValueError(f"not an E.164 phone number: {value!r}")
    return cleaned


def normalise_company_id(value: str) -> str:
    return _SPACES.sub("", value).upper()


def fold(text: str) -> str:
    """Lowercase without accents: "Nováková" -> "novakova"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return stripped.translate(_FOLD)


def name_tokens(value: str, *, joined: bool = False) -> list[str]:
    """The distinct words of a name, folded: "Jana Nováková" -> ["jana", "novakova"]. `joined`
    (a name being indexed, not a query): with its joined words run together too, "O'Brien" ->
    ["o", "brien", "obrien"], so that "obrien" finds it; a query keeps to the words it types, so
    "O'Brien" still finds a name indexed before the joined form was."""
    folded = fold(value)
    seen: dict[str, None] = {}
    for word in _WORDS.findall(folded):
        seen.setdefault(word, None)
    if joined:
        for run in _JOINED.findall(folded):
            seen.setdefault(_JOINERS.sub("", run), None)
    return list(seen)


def normalise_name_word(value: str) -> str:
    tokens = name_tokens(value)
    if len(tokens) != 1:
        raise ValueError("a name blind index takes one word; use name_indexes() for a whole name")
    return tokens[0]


def normalise_tag(value: str) -> str:
    """A whole tag, matched as people type it: "  VIP  client" and "vip client" are one tag."""
    normal = _SPACES.sub(" ", fold(value)).strip()
    if not normal:
        raise ValueError("an empty tag has no blind index")
    return normal


def normalise_custom(value: str) -> str:
    """A custom field's value behind its field's id ("<field id>:<value>", crm/custom_fields.py),
    matched whole, ignoring case, accents and spacing, like a tag."""
    field_id, sep, rest = value.partition(":")
    if not sep or not rest.strip():
        raise ValueError("a custom value's blind index takes '<field id>:<value>'")
    return f"{field_id.lower()}:{_SPACES.sub(' ', fold(rest)).strip()}"


_NORMALISERS = {
    "email": normalise_email,
    "phone": normalise_phone,
    "company_id": normalise_company_id,
    "name": normalise_name_word,
    "tag": normalise_tag,
    "custom": normalise_custom,
}


def normalise(kind: str, value: str) -> str:
    try:
        return _NORMALISERS[kind](value)
    except KeyError:
        raise ValueError(f"unknown blind index kind {kind!r}; one of {KINDS}") from None


def _index_key(tenant_id: uuid.UUID, kind: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"tenantry blind index v1:" + kind.encode()
    ).derive(keyring.index_secret(tenant_id))


def blind_index(kind: str, value: str, *, tenant_id: uuid.UUID) -> str:
    """HMAC-SHA256 (hex) of the normalised value; for "name", pass one word (see name_indexes)."""
    normal = normalise(kind, value)
    return hmac.new(_index_key(tenant_id, kind), normal.encode(), hashlib.sha256).hexdigest()


def name_indexes(value: str, *, tenant_id: uuid.UUID, joined: bool = False) -> list[str]:
    """One blind index per word of a name, so any single word finds it (`joined`: name_tokens)."""
    key = _index_key(tenant_id, "name")
    return [hmac.new(key, token.encode(), hashlib.sha256).hexdigest() for token in name_tokens(value, joined=joined)]


@functools.lru_cache(maxsize=4096)
def _aad_prefix(tenant: str, table: str, column: str) -> bytes | None:
    """`_aad`'s bytes up to the row id, or None when a part needs JSON escaping."""
    if all(_PLAIN_JSON.fullmatch(part) for part in (tenant, table, column)):
        return ('["' + tenant + '","' + table + '","' + column + '","').encode()
    return None


class Reader:
    """`decrypt` with each key version of the tenant looked up once, and the associated data
    built from a cached tenant/table/column part. Plaintexts are exactly the module's. Keep
    one for one page or one batch job: it does not notice a key destroyed meanwhile."""

    def __init__(self, tenant_id: uuid.UUID):
        self.tenant_id, self._tenant = tenant_id, str(tenant_id)
        self._readers: dict[int, AESGCM] = {}
        self._prefixes: dict[tuple[str, str], bytes | None] = {}
        self._row_prefix_cache: dict[tuple[str, tuple[str, ...]], tuple[bytes | None, ...]] = {}

    def _reader(self, version: int) -> AESGCM:
        aes = self._readers.get(version)
        if aes is None:
            aes = self._readers[version] = AESGCM(keyring.data_key(self.tenant_id, version))
        return aes

    def _prefix(self, table: str, column: str) -> bytes | None:
        try:
            return self._prefixes[table, column]
        except KeyError:
            prefix = self._prefixes[table, column] = _aad_prefix(self._tenant, table, column)
            return prefix

    def _aad(self, header: bytes, tenant_id, table: str, column: str, row_id) -> bytes:
        # A full export opens millions of values, a page of contacts hundreds; a row id that is
        # not plain JSON takes the general path.
        prefix = self._prefix(table, column)
        row = str(row_id)
        if prefix is None or not _PLAIN_JSON.fullmatch(row):
            return _aad(header, tenant_id, table, column, row_id)
        return header + prefix + row.encode() + b'"]'

    def decrypt(self, blob: bytes | None, table: str, column: str, row_id: Any) -> str | bytes | None:
        return _open(blob, self._reader, self.tenant_id, table, column, row_id, self._aad)

    def open_row(self, blobs: dict[str, bytes | None], table: str, row_id: Any) -> dict[str, str | bytes | None]:
        """Several columns of one row, as `decrypt` gives each (see open_values)."""
        columns = tuple(blobs)
        return dict(zip(columns, self.open_values(table, columns, tuple(blobs.values()), row_id), strict=True))

    def open_values(self, table: str, columns: tuple[str, ...], blobs, row_id: Any) -> list[str | bytes | None]:
        """`blobs`, the values of `columns` of one row, each as `decrypt` gives it. The row's part
        of the associated data is built once and each column's part is cached: a page of 50
        contacts opens 400 values, and the calls around each AES-GCM open cost more than the
        open itself (bench/crm.py, issue 3)."""
        row = str(row_id)
        prefixes = self._row_prefixes(table, columns) if _PLAIN_JSON.fullmatch(row) else None
        if prefixes is None:  # a part that needs JSON escaping: the general path
            return [self.decrypt(blob, table, column, row_id) for column, blob in zip(columns, blobs, strict=True)]
        tail = row.encode() + b'"]'
        readers = self._readers
        opened: list[str | bytes | None] = []
        for column, blob, prefix in zip(columns, blobs, prefixes, strict=True):
            if blob is None:
                opened.append(None)
                continue
            if type(blob) is not bytes:  # a driver's memoryview: the AAD below is built by concatenation
                blob = bytes(blob)
            header = blob[:HEADER_SIZE]
            aes = None
            if prefix is not None and len(blob) >= HEADER_SIZE + _TAG:
                fmt, kind, version, nonce = _HEADER.unpack(header)
                if fmt == FORMAT and (kind == _TEXT or kind == _BYTES):
                    aes = readers.get(version)
            if aes is None:  # first use of a key version, or something wrong: decrypt says what
                opened.append(self.decrypt(blob, table, column, row_id))
                continue
            try:
                data = aes.decrypt(nonce, blob[HEADER_SIZE:], header + prefix + tail)
            except InvalidTag as exc:
                raise FieldDecryptError(_MOVED, table=table, column=column, row_id=row_id) from exc
            opened.append(data.decode() if kind == _TEXT else data)
        return opened

    def _row_prefixes(self, table: str, columns: tuple[str, ...]) -> tuple[bytes | None, ...]:
        try:
            return self._row_prefix_cache[table, columns]
        except KeyError:
            prefixes = tuple(self._prefix(table, column) for column in columns)
            self._row_prefix_cache[table, columns] = prefixes
            return prefixes


class TenantCipher(Reader):
    """`encrypt`, `decrypt`, `blind_index` and `name_indexes` with the tenant's keys looked up once.

    For bulk work such as a 10,000-row import, a full export or a data subject search, where
    fetching a key and deriving the index key for every single value would cost more than the
    cryptography itself. The ciphertexts, plaintexts and digests are exactly those of the module
    functions. Keep one only for the duration of one batch job: a key rotated meanwhile is not
    noticed for writing (older versions still open).
    """

    def __init__(self, tenant_id: uuid.UUID):
        super().__init__(tenant_id)
        self.version, key = keyring.active_data_key(tenant_id)
        self._aes = self._readers[self.version] = AESGCM(key)
        self._index_keys: dict[str, bytes] = {}

    def encrypt(self, value: str | bytes | None, *, table: str, column: str, row_id: Any) -> bytes | None:
        if value is None:
            return None
        if row_id is None:
            raise ValueError(f"{table}.{column}: the row id must be known before encrypting (bind it to the row)")
        return _encrypt_with(self._aes, self.version, value, self.tenant_id, table, column, row_id)

    def _index_key(self, kind: str) -> bytes:
        if kind not in self._index_keys:
            self._index_keys[kind] = _index_key(self.tenant_id, kind)
        return self._index_keys[kind]

    def blind_index(self, kind: str, value: str) -> str:
        normal = normalise(kind, value)
        return hmac.new(self._index_key(kind), normal.encode(), hashlib.sha256).hexdigest()

    def name_indexes(self, value: str) -> list[str]:
        """A name's digests as a row is indexed under them (its joined words too)."""
        key = self._index_key("name")
        return [hmac.new(key, token.encode(), hashlib.sha256).hexdigest()
                for token in name_tokens(value, joined=True)]
