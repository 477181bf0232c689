"""Accessibility that can be checked without a person: every page of the tenant app (as its
owner, with real objects, and each form posted empty so that its errors show), of the admin
console and of the public site, taken from the URL map, has a language, one <h1>, unique ids,
a label for every form control, a name for every link and button, alt text on images, no
positive tabindex, and ARIA references that point at something. And the stylesheet's colour
pairs, in the light and the dark palette, meet WCAG AA contrast.

What a person still has to look at: the order of headings, the wording, focus order in
practice (the headless Chromium screenshots of each issue)."""

from __future__ import annotations

import re
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import tenantry
from tests.admin.test_role_matrix import _client_for, admin_rules, matrix  # noqa: F401 (fixture)
from tests.admin.test_role_matrix import _fill as admin_url
from tests.test_isolation import _fill as tenant_url
from tests.test_isolation import owner_of_every_object, tenant_rules

_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
_NOT_LABELLED = {"hidden", "submit", "button", "reset", "image"}


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.lang = None
        self.h1 = 0
        self.ids: Counter[str] = Counter()
        self.references: list[tuple[str, str]] = []  # (attribute, id)
        self.controls: list[tuple[str, dict, bool]] = []  # (tag, attrs, inside a <label>)
        self.open: list[str] = []
        self.naming: list[list] = []  # links and buttons being read: [tag, attrs, text]

    def handle_starttag(self, tag, attrs):
        a = {name: value or "" for name, value in attrs}
        if tag == "html":
            self.lang = a.get("lang")
        if tag == "h1":
            self.h1 += 1
        if "id" in a:
            self.ids[a["id"]] += 1
        if tag == "label" and a.get("for"):
            self.references.append(("for", a["for"]))
        for attribute in ("aria-describedby", "aria-labelledby", "aria-controls"):
            self.references.extend((attribute, ref) for ref in a.get(attribute, "").split())
        if re.fullmatch(r"\d+", a.get("tabindex", "")) and int(a["tabindex"]) > 0:
            self.problems.append(f"positive tabindex on <{tag}>")
        if tag == "img" and "alt" not in a:
            self.problems.append(f"<img src={a.get('src')}> without alt")
        if tag in ("input", "select", "textarea") and a.get("type") not in _NOT_LABELLED:
            self.controls.append((tag, a, "label" in self.open))
        if tag == "a" and "href" in a or tag == "button":
            self.naming.append([tag, a, ""])
        if tag == "img" and self.naming and a.get("alt"):
            self.naming[-1][2] += a["alt"]
        if tag not in _VOID:
            self.open.append(tag)

    def handle_endtag(self, tag):
        if tag in self.open:
            while self.open.pop() != tag:
                pass
        if tag in ("a", "button") and self.naming and self.naming[-1][0] == tag:
            _tag, a, text = self.naming.pop()
            if not (text.strip() or a.get("aria-label") or a.get("aria-labelledby") or a.get("title")):
                self.problems.append(f"<{tag} {a}> has no accessible name")

    def handle_data(self, data):
        for item in self.naming:
            item[2] += data

    def check(self) -> list[str]:
        problems = list(self.problems)
        if not self.lang:
            problems.append("<html> has no lang")
        if self.h1 != 1:
            problems.append(f"{self.h1} <h1> elements")
        problems += [f"id {name!r} used {n} times" for name, n in self.ids.items() if n > 1]
        problems += [f"{attribute}={ref!r} points at no element" for attribute, ref in self.references
                     if ref not in self.ids]
        labelled = {ref for attribute, ref in self.references if attribute == "for"}
        for tag, a, in_label in self.controls:
            if not (in_label or a.get("id") in labelled or a.get("aria-label") or a.get("aria-labelledby")):
                problems.append(f"<{tag} name={a.get('name')!r}> has no label")
        return problems


def _problems(response) -> list[str]:
    """What is wrong with a page, form errors and error pages included (not redirects)."""
    if response.status_code >= 500:
        return [f"answered {response.status_code}"]
    if response.mimetype != "text/html" or 300 <= response.status_code < 400:
        return []
    page = _Page()
    page.feed(response.get_data(as_text=True))
    return page.check()


def _walk(client, urls: list[str], *, post: bool = False) -> dict[str, list[str]]:
    found = {}
    for url in urls:
        response = client.post(url, data={}) if post else client.get(url)
        problems = _problems(response)
        response.close()
        if problems:
            found[url] = problems
    return found


def test_the_checks_catch_what_they_look_for():
    page = _Page()
    page.feed('<html><body><h1>A</h1><h1>B</h1><input name="q"><a href="/x"></a><img src="i.png">'
              '<p id="d"></p><p id="d"></p><input id="e" aria-describedby="nowhere"><span tabindex="2"></span>'
              '<label>Kept <input name="ok"></label><button aria-label="Close"></button></body></html>')
    problems = "\n".join(page.check())
    for expected in ("no lang", "2 <h1>", "name='q'> has no label", "<a", "without alt", "id 'd' used 2",
                     "'nowhere' points at no element", "positive tabindex"):
        assert expected in problems
    assert "name='ok'" not in problems and "Close" not in problems


def test_every_tenant_page_and_form_error_passes(app):
    client, slug, ids = owner_of_every_object(app, "a11y")
    gets = [tenant_url(rule, slug, ids) for rule in tenant_rules(app) if "GET" in rule.methods]
    posts = [tenant_url(rule, slug, ids) for rule in tenant_rules(app) if "POST" in rule.methods
             and not any(word in rule.endpoint for word in ("delete", "cancel", "revoke", "remove", "leave"))]
    assert len(gets) > 40 and len(posts) > 30
    assert _walk(client, gets) == {}
    assert _walk(client, posts, post=True) == {}


def test_every_admin_page_passes(app, matrix):  # noqa: F811
    client = _client_for(app, matrix, "platform-admin")
    assert _walk(client, [admin_url(rule, matrix["ids"]) for rule in admin_rules(app) if "GET" in rule.methods]) == {}


def test_every_public_page_passes(app):
    urls = [rule.rule for rule in app.url_map.iter_rules()
            if "GET" in rule.methods and not rule.arguments and not rule.rule.startswith(("/t/", "/admin"))]
    assert "/login" in urls and "/signup" in urls
    assert _walk(app.test_client(), urls) == {}


# --- contrast ----------------------------------------------------------------------------------

CSS = Path(tenantry.__file__).parent / "static" / "css"
_HEX = r"#[0-9a-fA-F]{6}\b"


def _palettes(css: str) -> dict[str, dict[str, str]]:
    light = dict(re.findall(rf"--([a-z0-9-]+):\s*({_HEX})", re.search(r":root\s*\{(.*?)\n\}", css, re.S)[1]))
    dark_block = re.search(r"prefers-color-scheme:\s*dark\)\s*\{\s*:root\s*\{(.*?)\}", css, re.S)[1]
    return {"light": light, "dark": {**light, **dict(re.findall(rf"--([a-z0-9-]+):\s*({_HEX})", dark_block))}}


def _luminance(colour: str) -> float:
    channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _colour_rules(css: str):
    """(selector, text colour, background) of each rule; either may be None, a --token or #hex."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    for selector, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css):
        fg = re.search(rf"(?<![-\w])color:\s*(?:var\(--([a-z0-9-]+)\)|({_HEX}))", body)
        bg = re.search(rf"background(?:-color)?:\s*(?:var\(--([a-z0-9-]+)\)|({_HEX}))", body)
        yield (selector.strip(), fg and (fg[1] and "--" + fg[1] or fg[2]), bg and (bg[1] and "--" + bg[1] or bg[2]))


def test_text_colours_meet_wcag_aa_in_both_palettes():
    """4.5:1 for every text colour on the background its rule sets, or, where it sets none,
    on each of the page's backgrounds (page, card, table row)."""
    failures, checked = [], 0
    for sheet in sorted(CSS.glob("*.css")):
        css = sheet.read_text()
        palettes = _palettes((CSS / "app.css").read_text())
        for name, palette in palettes.items():
            def colour(value, palette=palette):
                return palette.get(value[2:]) if value.startswith("--") else value

            for selector, fg, bg in _colour_rules(css):
                if fg is None or colour(fg) is None or (bg is not None and colour(bg) is None):
                    continue  # not a colour (inherit, currentColor, a gradient...)
                for ground in ([bg] if bg else ["--bg", "--surface", "--surface-2"]):
                    ratio = contrast(colour(fg), colour(ground))
                    checked += 1
                    if ratio < 4.5:
                        failures.append(f"{sheet.name} {name}: {selector} {fg} on {ground}: {ratio:.2f}")
    assert checked > 100
    assert failures == []


def test_control_borders_and_the_focus_ring_meet_3_to_1():
    palettes = _palettes((CSS / "app.css").read_text())
    for name, palette in palettes.items():
        for token in ("border-strong", "focus"):
            for ground in ("bg", "surface", "surface-2"):
                assert contrast(palette[token], palette[ground]) >= 3, (name, token, ground)
