"""Objects behind the incident routes' URL parameters, for tests/test_isolation.py."""

from tests.dpa.incidents.support import incident_for


def _incident(tenant):
    return incident_for([tenant]).id


FACTORIES = {"incident_id": _incident}
