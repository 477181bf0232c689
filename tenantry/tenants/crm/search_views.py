"""One search over the CRM: the box in the top bar of every workspace page looks for contacts,
companies and deals at once, as each list's own search does (blind indexes: a whole e-mail
address, phone number or company ID, or any single word of a name or title), and shows the
first few of each with a link to all of them in their list. Routes of the CRM's blueprint."""

from __future__ import annotations

from flask import render_template, request

from . import companies, contacts, deals, stages
from .views import _read, bp

SHOWN = 5  # of each kind; the rest are a click away, in their list
MAX_QUERY = 200


@bp.get("/crm/search")
def search():
    q = request.args.get("q", "")[:MAX_QUERY].strip()
    found = None
    if q:
        found = {
            "contacts": contacts.listing(q=q, page_size=SHOWN),
            "companies": companies.listing(q=q, page_size=SHOWN),
            "deals": deals.listing(q=q, page_size=SHOWN),
        }
        # The page shows their names: reads, as the lists' own searches are [DPA-B.monitoring].
        _read("contact", [c.id for c, _ in found["contacts"].items], listed=True, search=True, everywhere=True)
        _read("company", [c.id for c, *_ in found["companies"].items], listed=True, search=True, everywhere=True)
        _read("deal", [d.id for d, _ in found["deals"].items], listed=True, search=True, everywhere=True)
    return render_template("crm/search.html", q=q, found=found, max_query=MAX_QUERY,
                           display_name=contacts.display_name,
                           stage_names={s.id: s.name for s in stages.ordered()} if found else {})
