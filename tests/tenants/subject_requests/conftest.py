"""Fixtures of this directory: the web app with CSRF off and no reachable rate limit, cheap
argon2id parameters (autouse) and a frozen clock."""

from tests.identity.support import fast_password_hashing, frozen, web, web_app  # noqa: F401  (fixtures)
