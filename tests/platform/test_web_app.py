"""The application class: Flask, with the answer of ensure_sync kept for plain functions."""

from __future__ import annotations

import functools

import pytest

from tenantry.platform.web import App


def test_plain_functions_are_remembered_and_anything_else_is_asked_anew():
    app = App(__name__)

    def hook():
        return "plain"

    async def coroutine():
        return "async"

    assert app.ensure_sync(hook) is hook and hook in app._plain_functions
    assert app.ensure_sync(hook) is hook
    bound = functools.partial(hook)
    assert app.ensure_sync(bound) is bound and bound not in app._plain_functions
    # A coroutine function still goes to async_to_sync (which wants Flask's async extra here).
    with pytest.raises(RuntimeError, match="async"):
        app.ensure_sync(coroutine)
    assert coroutine not in app._plain_functions


def test_the_app_serves_its_pages_through_the_remembered_hooks(app):
    client = app.test_client()
    first, second = client.get("/"), client.get("/")
    assert first.status_code == second.status_code == 200
    assert first.headers["Content-Security-Policy"] == second.headers["Content-Security-Policy"]
    assert isinstance(app, App) and app._plain_functions
