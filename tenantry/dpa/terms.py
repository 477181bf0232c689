"""The agreement in each law's words [DPA-1.terms].

The agreement text (agreements/v*.md) names the roles with tokens, and a tenant sees it
rendered in the words of its jurisdiction. The supported tokens, and nothing else, are:

    [[data subject]]  [[data subjects]]  [[a data subject]]
    [[controller]]    [[controllers]]    [[a controller]]
    [[processor]]     [[processors]]     [[a processor]]
    [[personal data]]

each also with its first letter capitalised for the start of a sentence
(`[[Controller]]`, `[[A data subject]]`, `[[Personal data]]`, ...). The `[[a ...]]` forms
carry the indefinite article, because the right one depends on the word ("a business",
"an organisation"). A token that is not in this list is an error, so a typo in the text
cannot reach a tenant.

Only the platform may be imported from here (platform <- dpa <- tenants <- admin).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from markdown_it import MarkdownIt


class Term(NamedTuple):
    singular: str
    plural: str
    article: str  # "a" or "an", as used before the singular

    @property
    def with_article(self) -> str:
        return f"{self.article} {self.singular}"


# The GDPR words are the token names; the other laws map them to their own words.
TERMS: dict[str, dict[str, Term]] = {
    "gdpr": {
        "data subject": Term("data subject", "data subjects", "a"),
        "controller": Term("controller", "controllers", "a"),
        "processor": Term("processor", "processors", "a"),
        "personal data": Term("personal data", "personal data", ""),
    },
    "ccpa": {
        "data subject": Term("consumer", "consumers", "a"),
        "controller": Term("business", "businesses", "a"),
        "processor": Term("service provider", "service providers", "a"),
        "personal data": Term("personal information", "personal information", ""),
    },
    "pdpa": {
        "data subject": Term("individual", "individuals", "an"),
        "controller": Term("organisation", "organisations", "an"),
        "processor": Term("data intermediary", "data intermediaries", "a"),
        "personal data": Term("personal data", "personal data", ""),
    },
}

JURISDICTIONS: tuple[str, ...] = tuple(TERMS)

# Roles that take plural and article forms; "personal data" is a mass noun and has neither.
_COUNTABLE = ("data subject", "controller", "processor")

_TOKEN = re.compile(r"\[\[([^\[\]\n]*)\]\]")


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def tokens(jurisdiction: str) -> dict[str, str]:
    """Every supported token (without brackets) and what it becomes in `jurisdiction`."""
    try:
        terms = TERMS[jurisdiction]
    except KeyError:
        raise ValueError(
            f"unknown jurisdiction {jurisdiction!r}; expected one of {', '.join(JURISDICTIONS)}"
        ) from None
    table: dict[str, str] = {}
    for role, term in terms.items():
        gdpr = TERMS["gdpr"][role]
        table[role] = term.singular
        if role in _COUNTABLE:
            table[gdpr.plural] = term.plural
            table[gdpr.with_article] = term.with_article
    table.update({_capitalise(name): _capitalise(value) for name, value in list(table.items())})
    return table


def render_terms(markdown: str, jurisdiction: str) -> str:
    """Replace every role token with the jurisdiction's word; unknown tokens raise ValueError."""
    table = tokens(jurisdiction)
    unknown: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in table:
            return table[name]
        unknown.append(match.group(0))
        return match.group(0)

    rendered = _TOKEN.sub(replace, markdown)
    if unknown:
        raise ValueError(f"unknown term token(s) in the agreement text: {', '.join(sorted(set(unknown)))}")
    leftover = sorted(set(re.findall(r"\[\[|\]\]", rendered)))
    if leftover:
        raise ValueError("malformed term token in the agreement text (unbalanced [[ or ]])")
    return rendered


# CommonMark with tables; raw HTML in the text is escaped, never passed through.
_md = MarkdownIt("commonmark", {"html": False}).enable("table")


def render_html(markdown: str, jurisdiction: str) -> str:
    """The agreement as HTML in the jurisdiction's words, its headings one level down: it is
    shown inside a page whose own <h1> names it, and a page has one <h1> (screen readers
    navigate by the outline)."""
    tokens = _md.parse(render_terms(markdown, jurisdiction))
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(int(token.tag[1]) + 1, 6)}"
    return _md.renderer.render(tokens, _md.options, {})
