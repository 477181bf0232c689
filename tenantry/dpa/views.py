"""Public pages of the agreement."""

from flask import Blueprint, abort, render_template, request

from tenantry.dpa import agreements, terms
from tenantry.platform.tenancy import Jurisdiction

bp = Blueprint("dpa", __name__)


def _jurisdiction() -> str:
    value = request.args.get("jurisdiction", "gdpr")
    if value not in {j.value for j in Jurisdiction}:
        abort(404)
    return value


@bp.route("/agreement")
def agreement():
    version = agreements.in_force()
    jurisdiction = _jurisdiction()
    return render_template("dpa/agreement.html", version=version, jurisdiction=jurisdiction,
                           html=terms.render_html(version.body_markdown, jurisdiction))


@bp.route("/agreement/v<int:number>")
def agreement_version(number: int):
    version = agreements.by_number(number) if 0 < number < 2**31 else None
    if version is None:
        abort(404)
    jurisdiction = _jurisdiction()
    return render_template("dpa/agreement.html", version=version, jurisdiction=jurisdiction,
                           html=terms.render_html(version.body_markdown, jurisdiction))
