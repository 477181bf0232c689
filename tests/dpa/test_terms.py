"""The agreement text and its rendering in each law's words. Needs neither the app nor a database."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import tenantry.dpa
from tenantry.dpa.terms import JURISDICTIONS, TERMS, render_html, render_terms, tokens

V1 = Path(tenantry.dpa.__file__).parent / "agreements" / "v1.md"
TOKEN = re.compile(r"\[\[([^\[\]\n]*)\]\]")


@pytest.fixture(scope="module")
def v1() -> str:
    return V1.read_text(encoding="utf-8")


def _words(text: str, *words: str) -> list[str]:
    """Which of `words` occur in `text` as whole words (case-insensitive, plural -s allowed)."""
    return [w for w in words if re.search(rf"\b{re.escape(w)}s?\b", text, re.IGNORECASE)]


def test_v1_first_line_is_the_title(v1):
    # The migration takes the version's title from the first line.
    assert v1.splitlines()[0] == "# Tenantry Data Processing Agreement"


def test_every_token_in_v1_is_supported(v1):
    used = set(TOKEN.findall(v1))
    assert used, "the agreement names the roles with tokens"
    for jurisdiction in JURISDICTIONS:
        assert used <= set(tokens(jurisdiction)), jurisdiction


@pytest.mark.obligation("DPA-1.terms")
@pytest.mark.parametrize("jurisdiction", ["gdpr", "ccpa", "pdpa"])
def test_v1_in_each_laws_words(v1, jurisdiction):
    text = render_terms(v1, jurisdiction)
    assert "[[" not in text and "]]" not in text

    own = TERMS[jurisdiction]
    expected = [own[role].singular for role in ("data subject", "controller", "processor")]
    assert _words(text, *expected) == expected

    # The GDPR words never show through in another law's text, nor the others' in the GDPR text.
    if jurisdiction == "gdpr":
        assert _words(text, "service provider", "data intermediary") == []
    else:
        assert _words(text, "controller", "data subject", "processor") == []

    # The indefinite article agrees with the word it stands before ("an organisation").
    for term in own.values():
        for word in (term.singular, term.plural):
            wrong = "a" if word[0] in "aeiou" else "an"
            assert not re.search(rf"\b{wrong} [\"*_]*{re.escape(word)}\b", text, re.IGNORECASE), (wrong, word)


def test_ccpa_and_pdpa_words_explicitly(v1):
    ccpa = render_terms(v1, "ccpa")
    assert _words(ccpa, "business", "service provider", "consumer") == [
        "business",
        "service provider",
        "consumer",
    ]
    assert _words(ccpa, "controller", "data subject", "processor") == []
    assert "personal information" in ccpa

    pdpa = render_terms(v1, "pdpa")
    assert _words(pdpa, "organisation", "data intermediary", "individual") == [
        "organisation",
        "data intermediary",
        "individual",
    ]
    assert _words(pdpa, "controller", "data subject", "processor") == []


def test_token_forms():
    assert render_terms("[[A controller]]", "pdpa") == "An organisation"
    assert render_terms("[[Data subjects]] / [[processors]]", "ccpa") == "Consumers / service providers"
    assert (
        render_terms("[[a data subject]] of [[a processor]]", "pdpa")
        == "an individual of a data intermediary"
    )
    assert (
        render_terms("[[Personal data]] of [[a data subject]]", "ccpa")
        == "Personal information of a consumer"
    )
    assert render_terms("no tokens", "gdpr") == "no tokens"


@pytest.mark.parametrize("bad", ["[[controler]]", "[[ controller]]", "[[]]", "[[controller]", "controller]]"])
def test_unknown_or_broken_token_is_an_error(bad):
    with pytest.raises(ValueError):
        render_terms(f"The {bad} decides.", "gdpr")


def test_unknown_jurisdiction_is_an_error():
    with pytest.raises(ValueError):
        render_terms("The [[controller]].", "lgpd")
    with pytest.raises(ValueError):
        render_html("The [[controller]].", "")


def test_html_escapes_raw_html():
    html = render_html("# Title\n\n<script>alert(1)</script>\n\nThe <b>[[controller]]</b> & co.\n", "ccpa")
    assert "<script>" not in html and "<b>" not in html
    assert "&lt;script&gt;" in html and "&lt;b&gt;business&lt;/b&gt;" in html
    assert "<h2>Title</h2>" in html  # the page around it has the <h1>


def test_html_renders_v1_with_tables(v1):
    html = render_html(v1, "gdpr")
    assert html.startswith("<h2>Tenantry Data Processing Agreement</h2>")
    assert "<table>" in html and "<td>Amazon Web Services</td>" in html


def test_v1_clauses_exist(v1):
    for name in (
        "Amazon Web Services",
        "Digital Solutions s.r.o. (DigiSign)",
        "Microsoft Azure OpenAI Service",
    ):
        assert name in v1
    for phrase in ("48 hours", "80 days", "5 days", "10 business days", "one month", "30 days"):
        assert phrase in v1
    # Numbered clauses that the catalogue IDs point at (DPA-4.8 is clause 4.8, and so on).
    for clause in (
        "2.8",
        "2.9",
        "3.2",
        "3.3",
        "4.1",
        "4.3.2",
        "4.3.3",
        "4.3.5",
        "4.3.6",
        "4.3.7",
        "4.3.8",
        "4.5",
        "4.6",
        "4.8",
        "4.9",
        "4.10",
        "5.3",
        "6.1",
        "7.2",
        "8.4",
        "8.6",
    ):
        assert f"**{clause}" in v1, clause
