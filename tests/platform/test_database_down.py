"""A database that does not answer (or broke a transaction off: a deadlock, a lock timeout) is
a 503 that says nothing was saved and to try again, in HTML or in JSON, never a 500."""

from __future__ import annotations

from tenantry import create_app
from tests.conftest import dispose, free_port


def test_pages_and_the_api_answer_503_while_postgresql_refuses_connections(tmp_path):
    app = create_app({"TENANTRY_ENV": "test", "DATABASE_URL": f"postgresql://tenantry:x@127.0.0.1:{free_port()}/tenantry",
                      "TENANTRY_INSTANCE_DIR": str(tmp_path / "instance"), "TENANTRY_SECRET_KEY": "m" * 40,
                      "REDIS_URL": "", "TESTING": True})
    try:
        client = app.test_client()
        page = client.get("/t/acme/crm/contacts")
        assert page.status_code == 503 and page.headers["Retry-After"] == "5"
        assert "The database did not answer, or was too busy to finish; nothing was saved." in page.get_data(as_text=True)
        token = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                            headers={"Authorization": "Basic eDp5"})
        assert token.status_code == 503
        assert token.get_json()["error"]["code"] == "database_unavailable"
    finally:
        dispose(app)
