"""Password hashing (argon2id) and the password policy checks."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

ABSOLUTE_MIN_LENGTH = 8
MAX_LENGTH = 256
_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    if not stored_hash:
        # Spend the same time as a real check so that unknown accounts do not answer faster.
        _hasher.hash(password)
        return False
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)


def problems(password: str, *, min_length: int, user_inputs: list[str] | None = None) -> list[str]:
    """Why this password is not acceptable, as sentences for the form; empty when it is fine."""
    min_length = max(min_length, ABSOLUTE_MIN_LENGTH)
    if len(password) < min_length:
        return [f"Use at least {min_length} characters."]
    if len(password) > MAX_LENGTH:
        return [f"Use at most {MAX_LENGTH} characters."]
    # zxcvbn knows the most common passwords and their l33t and keyboard variants; a score
    # below 3 means a password guessable within about 10^8 attempts.
    result = zxcvbn(password[:100], user_inputs=[u for u in (user_inputs or []) if u])
    if _is_common(result) or result["score"] < 3:
        hint = result.get("feedback", {}).get("warning") or "It is too easy to guess."
        return [f"This password is too common or too easy to guess. {hint}".strip()]
    return []


def _is_common(result: dict) -> bool:
    seq = result.get("sequence") or []
    return len(seq) == 1 and seq[0].get("pattern") == "dictionary" and seq[0].get("dictionary_name") == "passwords"
