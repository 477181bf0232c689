"""The CRM: companies and contacts, stored encrypted under the tenant's key and searchable
through blind indexes (deals, activities, import/export and the API build on these)."""

from flask import Flask

from tenantry.tenants.crm import csv_import, custom_fields, models  # noqa: F401  (the tables belong to the schema)


def init_app(app: Flask) -> None:
    from tenantry.dpa.duties import ropa
    from tenantry.platform import cron
    from tenantry.platform.crypto import rotation
    from tenantry.platform.web import add_dashboard_panel, add_tenant_nav
    from tenantry.tenants.crm import (
        bulk_views,  # noqa: F401  (its routes are on views.bp, registered below)
        companies,
        contacts,
        currencies,
        import_views,
        index_builds,
        merge_views,  # noqa: F401  (its routes are on views.bp, registered below)
        overdue,
        overview,
        reminders,
        report_views,  # noqa: F401  (its routes are on views.bp, registered below)
        search,
        search_views,  # noqa: F401  (its routes are on views.bp, registered below)
        views,
    )
    from tenantry.tenants.crm.models import ACTIVITY_KIND_LABELS

    app.register_blueprint(views.bp)
    app.add_template_filter(currencies.format_amount, "money")
    app.add_template_filter(ACTIVITY_KIND_LABELS.__getitem__, "activity_kind")
    app.add_template_filter(search.readable_phone, "phone")
    app.add_template_filter(overview.due_shown, "due")
    app.add_template_filter(overview.weigh, "weighted")
    app.add_template_filter(overdue.of, "overdue_at")
    add_dashboard_panel(app, "crm/_dashboard.html", views.dashboard_panel, order=10)
    app.register_blueprint(import_views.bp)
    add_tenant_nav(app, "crm_io.custom_field_list", "Custom fields", role="admin", order=93)
    cron.register(app, "crm-import-files", csv_import.expire)
    cron.register(app, "crm-search-index", index_builds.sweep)
    cron.register(app, "crm-activity-reminders", reminders.sweep)
    rotation.register_encrypted_column(custom_fields.CustomValue, "value")
    add_tenant_nav(app, "crm.contact_list", "Contacts", order=10)
    add_tenant_nav(app, "crm.company_list", "Companies", order=11)
    add_tenant_nav(app, "crm.deal_list", "Deals", order=12)
    add_tenant_nav(app, "crm.activity_list", "Activities", order=13)
    for model in (models.Company, models.Contact, models.Deal, models.Activity):
        for column in model.ENCRYPTED:
            rotation.register_encrypted_column(model, column)
    ropa.register_category(
        "CRM contacts", contacts.count,
        data="Name, e-mail addresses, phone numbers, postal address, employer and position, notes, tags",
        subjects="The tenant's customers, prospects and business partners (contact persons)")
    ropa.register_category(
        "CRM companies", companies.count,
        data="Company name, company and VAT ID, registered address, bank account (IBAN), website, notes "
             "(personal data where the company is a sole trader)",
        subjects="The tenant's customers, prospects and business partners (organisations and sole traders)")
