"""Choosing a contact, a company or a deal in a form or a list filter.

While a tenant has few, the field is a select of every one of them. From SELECT_UP_TO on, a
select would put every name of the tenant into the page, each decrypted and each a read of
personal data, in a list nobody can scroll: the field becomes a search box over the lists'
blind-index search instead, which reveals only what matches, and the page carries only the
name already chosen. app.js makes the box a combobox that asks the lookup route as one types
(`find`); without it, the text typed is looked up when the form is sent (`Picker.settle`): a
single match is taken, none or several are an error next to the field.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from flask import request, url_for
from wtforms.validators import ValidationError

from tenantry.platform.tenancy import current_tenant

from . import companies, contacts, currencies, deals

SELECT_UP_TO = 150
LOOKUP_LIMIT = 20
MAX_QUERY = 200
SEARCH_SUFFIX = "_search"  # the name of the search box: the field's own name carries the id


@dataclass(frozen=True)
class Option:
    id: str
    label: str
    hint: str  # what tells two of the same name apart: an e-mail, a company ID

    def as_json(self) -> dict:
        return {"id": self.id, "label": self.label, "hint": self.hint}


@dataclass(frozen=True)
class Kind:
    entity: str  # "contact", as in the audit trail's actions
    plural: str
    hint: str
    telling: str  # what only one record has, to tell those of one name apart
    count: Callable[[], int]
    choices: Callable[[], list[tuple[str, str]]]
    search: Callable[[str, int], tuple[list[Option], int]]  # (query, limit) -> (options, total)
    get: Callable[[uuid.UUID], Option | None]  # None: not one the field may take


def _contact_option(contact, plain: dict) -> Option:
    return Option(str(contact.id), contacts.display_name(plain), plain["emails"][0] if plain["emails"] else "")


def _company_option(company, plain: dict) -> Option:
    return Option(str(company.id), plain["name"] or "(no name)", plain["company_number"] or "")


def _deal_option(deal, title: str) -> Option:
    return Option(str(deal.id), title or "(no title)", currencies.format_amount(deal.value, deal.currency))


def _search_contacts(query: str, limit: int) -> tuple[list[Option], int]:
    page = contacts.listing(q=query, sort="name", page_size=limit)
    return [_contact_option(c, plain) for c, plain in page.items], page.total


def _search_companies(query: str, limit: int) -> tuple[list[Option], int]:
    page = companies.listing(q=query, sort="name", page_size=limit)
    return [_company_option(c, plain) for c, plain, _count in page.items], page.total


def _search_deals(query: str, limit: int) -> tuple[list[Option], int]:
    page = deals.listing(q=query, sort="newest", page_size=limit)
    return [_deal_option(d, title) for d, title in page.items], page.total


def _get_contact(contact_id: uuid.UUID) -> Option | None:
    contact = contacts.get(contact_id)
    # A restricted contact is not offered [DSR-restrict], so it cannot be chosen by id either.
    if contact is None or contact.restricted_at is not None:
        return None
    return _contact_option(contact, contact.plain())


def _get_company(company_id: uuid.UUID) -> Option | None:
    company = companies.get(company_id)
    return _company_option(company, company.plain()) if company is not None else None


def _get_deal(deal_id: uuid.UUID) -> Option | None:
    deal = deals.get(deal_id)
    return _deal_option(deal, deal.reveal("title")) if deal is not None else None


KINDS = {
    "contacts": Kind(
        entity="contact", plural="contacts", telling="an e-mail address",
        hint="A whole first name or surname, an e-mail address or a phone number; then choose from the list.",
        count=lambda: contacts.count(current_tenant.id), choices=contacts.choices, search=_search_contacts,
        get=_get_contact),
    "companies": Kind(
        entity="company", plural="companies", telling="the company ID",
        hint="A whole word of the name or the company ID; then choose from the list.",
        count=lambda: companies.count(current_tenant.id), choices=companies.choices, search=_search_companies,
        get=_get_company),
    "deals": Kind(
        entity="deal", plural="deals", telling="a word of the title only it has",
        hint="A whole word of the title, or the deal's contact or company as their search finds them; then "
             "choose from the list.",
        count=lambda: deals.count(current_tenant.id), choices=deals.choices, search=_search_deals, get=_get_deal),
}


def find(kind: str, query: str) -> tuple[list[Option], int]:
    """What the lookup route answers: the first LOOKUP_LIMIT matches by name, and how many
    match in all."""
    query = query.strip()[:MAX_QUERY]
    return KINDS[kind].search(query, LOOKUP_LIMIT) if query else ([], 0)


@dataclass
class Picker:
    kind: Kind
    url: str
    text: str = ""  # what the search box shows: the chosen record's name, or what was typed
    typed: str | None = None  # what the form sent in the box (None: the box was not sent)
    shown: str | None = None  # the id of the record whose name the box shows
    kept: str | None = None  # the record linked now, which may stay though it cannot be chosen

    def show(self, option: Option | None) -> str:
        self.text, self.shown = (option.label, option.id) if option else ("", None)
        return option.id if option else ""

    def settle(self, field) -> None:
        """When the form is sent: the record chosen (the field's data, its id) while the box
        still shows its name, else the one record the text typed finds, else none when the
        box was emptied. Sets the field's data to the record's id."""
        chosen = (field.data or "").strip()
        typed = None if self.typed is None else self.typed.strip()[:MAX_QUERY]
        if chosen and chosen == self.kept and typed in (None, KEPT_LABEL) and _option(self.kind, chosen) is None:
            self.text = KEPT_LABEL
            return
        if chosen:
            option = _option(self.kind, chosen)
            if option is None:
                raise ValidationError(f"Choose one of this workspace's {self.kind.plural}.")
            # Without app.js the id stays in the page while the box is edited: the box wins.
            if typed is None or typed == option.label.strip():
                field.data = self.show(option)
                return
        if not typed:
            field.data = self.show(None)
            return
        found, total = self.kind.search(typed, 1)
        if total == 1:
            field.data = self.show(found[0])
        elif total == 0:
            raise ValidationError(f"No {self.kind.entity} matches “{typed}”. {self.kind.hint}")
        else:
            raise ValidationError(f"{total} {self.kind.plural} match “{typed}”: choose one from the list, or type "
                                  f"something only one of them has, such as {self.kind.telling}.")


def _option(kind: Kind, value: str) -> Option | None:
    try:
        return kind.get(uuid.UUID(value))
    except ValueError:
        return None


# A deal's contact that was restricted after it was linked stays linked through an edit, under
# this label: its name is not used [DSR-restrict], nor can it be chosen anew.
KEPT_LABEL = "Restricted contact (kept as it is)"


def offer(field, kind: str, *, none_label: str = "— none —", kept: uuid.UUID | None = None) -> None:
    """Sets `field` (a forms.RecordField, its data already filled in) up for the tenant's size:
    a select of every record, or a search box that holds only the chosen one. `kept`: the
    record the object links to now, which stays a choice though it could not be chosen anew."""
    spec = KINDS[kind]
    kept_id = str(kept) if kept is not None else None
    field.plural = spec.plural
    if spec.count() <= SELECT_UP_TO:
        field.picker = None
        field.choices = [("", none_label), *spec.choices()]
        if kept_id is not None and kept_id not in {value for value, _label in field.choices}:
            field.choices.append((kept_id, KEPT_LABEL))
            field.kept_id = kept_id
        return
    field.picker = picker = Picker(spec, url_for(f"crm.{spec.entity}_lookup"), kept=kept_id)
    field.choices = [("", none_label)]
    picker.typed = request.values.get(field.name + SEARCH_SUFFIX)
    if picker.typed is not None or field.raw_data is not None:  # sent: settle() decides, during validation
        picker.text = picker.typed or ""
        return
    option = _option(spec, field.data) if field.data else None
    if option is None and field.data and field.data == kept_id:
        picker.text = KEPT_LABEL
        return
    field.data = picker.show(option)


def shown_ids(field) -> list[str]:
    """The records whose names the rendered field shows, for the page's read event."""
    if getattr(field, "picker", None) is not None:
        return [field.picker.shown] if field.picker.shown else []
    return [value for value, _label in field.choices if value and value != field.kept_id]
