"""Fixtures of the duties tests: the web app with CSRF off, its client, a frozen clock, and cheap
argon2id parameters (autouse)."""

from tests.identity.support import fast_password_hashing, frozen, web, web_app  # noqa: F401  (fixtures)
