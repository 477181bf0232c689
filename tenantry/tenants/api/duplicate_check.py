"""`?on_duplicate=refuse` on POST /api/v1/contacts and /api/v1/companies: the web form's
"this may be in the CRM already" for integrations that would rather not make a duplicate.

By default a create makes the record whatever it matches, as it always did: an integration
that syncs from another system decides for itself, and the default costs no lookup. Asked
to refuse, a contact sharing an e-mail or a phone, or a company sharing a company or VAT ID
(restricted contacts left out, crm.duplicates.already_there), answers 409 `duplicate` with
the ids it matches in `error.duplicates`; nothing is saved. Naming them is a listed read, as
on the page."""

from __future__ import annotations

from flask import g, request

from tenantry.tenants.crm import duplicates
from tenantry.tenants.crm.companies import CompanyData

from .common import commit_read, record_read
from .errors import ApiError

MODES = ("create", "refuse")
MAX_NAMED = 10
PARAMETER = {"name": "on_duplicate", "in": "query", "schema": {"enum": list(MODES), "default": "create"},
             "description": "refuse: answer 409 duplicate, saving nothing, when a contact with one of the e-mails "
                            "or phones, or a company with the company or VAT ID, is held already "
                            "(error.duplicates names them; needs crm:read as well)"}
# How each kind of shared value is named on the API's fields.
_FIELDS = {"email": ("email",), "phone": ("phone",), "company_id": ("company_number", "vat_id")}
_SAID = {"email": "A contact with this e-mail address is in the CRM already.",
         "phone": "A contact with this phone number is in the CRM already.",
         "company_id": "A company with this company or VAT ID is in the CRM already."}


def refuse_if_held(data) -> None:
    """Raise the 409 when the request asks to refuse duplicates and `data` would make one."""
    mode = request.args.get("on_duplicate", "create")
    if mode not in MODES:
        raise ApiError(400, "invalid_parameter", "on_duplicate is create or refuse.",
                       {"on_duplicate": "Choose create or refuse."})
    if mode == "create":
        return
    if "crm:read" not in (g.api_token.scope or "").split():
        # The answer names the records held: a lookup by e-mail that only a reader may make.
        raise ApiError(403, "insufficient_scope", "on_duplicate=refuse names the records it matches: it needs "
                                                  "the scope crm:read as well.")
    found = duplicates.already_there(data, limit=MAX_NAMED)
    if not found:
        return
    entity, sent = ("company", {"company_number": data.company_number, "vat_id": data.vat_id}) \
        if isinstance(data, CompanyData) else ("contact", {"email": data.emails, "phone": data.phones})
    record_read(entity, [m.row.id for m in found], listed=True, details={"duplicates": True})
    commit_read()
    kinds = {kind for match in found for kind in match.matched_by}
    raise ApiError(409, "duplicate", f"This {entity} may be in the CRM already: nothing was saved. Change or merge "
                                     f"a {entity} of error.duplicates, or send it again without on_duplicate=refuse.",
                   {name: _SAID[kind] for kind in sorted(kinds) for name in _FIELDS[kind] if sent[name]},
                   more={"duplicates": [{"id": str(m.row.id), "matched_by": m.matched_by} for m in found]})
