"""Tests of accounts, sign-in, 2FA, sessions and the password policy."""
