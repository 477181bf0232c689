"""Tests of a tenant's own pages: sign-up, members, roles, security settings."""
