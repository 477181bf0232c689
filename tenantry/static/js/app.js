/* Tenantry: small progressive enhancements. Everything works without this file. */
(function () {
  "use strict";

  // Forms (or submit buttons) with data-confirm="message" ask before submitting.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var button = event.submitter;
    var message = (button && button.getAttribute("data-confirm")) || form.getAttribute("data-confirm");
    if (message && !window.confirm(message)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  // "/" goes to the CRM's search, as in most web apps: the top bar's field (the search page's
  // own), or on a phone (no room for the field there) the search page. Not while typing, nor
  // with a modifier held.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
    var here = event.target;
    if (here && (here.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(here.tagName))) return;
    var field = document.getElementById("topbar-q") || document.getElementById("search-q");
    if (field && field.offsetParent !== null) {
      event.preventDefault();
      field.focus();
      field.select();
      return;
    }
    var link = document.querySelector(".topbar-search-link");
    if (link) {
      event.preventDefault();
      window.location.assign(link.href);
    }
  });

  function ready(fn) {
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", fn);
    else fn();
  }

  ready(function () {
    errorSummary(document.querySelector(".error-summary"));

    // "Copy" buttons next to recovery codes and TOTP secrets (clipboard needs a secure context).
    if (navigator.clipboard && window.isSecureContext) {
      var live = document.createElement("p");
      live.className = "visually-hidden";
      live.setAttribute("aria-live", "polite");
      document.body.appendChild(live);

      document.querySelectorAll(".codes, .secret").forEach(function (el) {
        var isCodes = el.classList.contains("codes");
        var what = el.getAttribute("data-copy-label") || (isCodes ? "recovery codes" : "secret");
        var button = document.createElement("button");
        button.type = "button";
        button.className = "btn btn-secondary btn-small copy-btn";
        button.textContent = isCodes ? "Copy all codes" : "Copy";
        button.setAttribute("aria-label", "Copy " + what);
        button.addEventListener("click", function () {
          var text = el.getAttribute("data-copy") || el.getAttribute("data-secret");
          if (!text) {
            text = isCodes && el.children.length
              ? Array.prototype.map.call(el.children, function (c) { return c.textContent.trim(); }).join("\n")
              : el.textContent.replace(/\s+/g, isCodes ? "\n" : "").trim();
          }
          navigator.clipboard.writeText(text).then(function () {
            var label = button.textContent;
            button.textContent = "Copied";
            live.textContent = "Copied " + what + " to the clipboard.";
            window.setTimeout(function () { button.textContent = label; live.textContent = ""; }, 2000);
          }, function () {
            live.textContent = "Could not copy. Select the text and copy it instead.";
          });
        });
        if (isCodes) {
          el.insertAdjacentElement("afterend", button);
        } else {
          var row = document.createElement("span");
          row.className = "copy-row";
          el.parentNode.insertBefore(row, el);
          row.appendChild(el);
          row.appendChild(button);
        }
      });
    }

    // Tables that scroll sideways become reachable from the keyboard.
    var wraps = document.querySelectorAll(".table-wrap");
    function markScrollable() {
      wraps.forEach(function (wrap) {
        if (wrap.scrollWidth > wrap.clientWidth + 1) {
          var caption = wrap.querySelector("caption");
          wrap.setAttribute("tabindex", "0");
          wrap.setAttribute("role", "region");
          if (!wrap.hasAttribute("aria-label") && !wrap.hasAttribute("aria-labelledby")) {
            wrap.setAttribute("aria-label", caption ? caption.textContent.trim() : "Table, scrolls sideways");
          }
        } else if (wrap.getAttribute("tabindex") === "0" && wrap.getAttribute("role") === "region") {
          wrap.removeAttribute("tabindex");
        }
      });
    }
    if (wraps.length) {
      markScrollable();
      var timer;
      window.addEventListener("resize", function () {
        window.clearTimeout(timer);
        timer = window.setTimeout(markScrollable, 150);
      });
    }

    document.querySelectorAll("[data-picker]").forEach(picker);
    document.querySelectorAll("[data-tick-all]").forEach(tickAll);
    document.querySelectorAll("form.bulk-bar").forEach(bulkBar);
    document.querySelectorAll("details[data-open-wide]").forEach(openWide);
    document.querySelectorAll("select[data-certain]").forEach(certainOutcome);
    document.querySelectorAll("select[data-shows]").forEach(showsWhen);
    document.querySelectorAll("[data-value-options]").forEach(valueOptions);
    document.querySelectorAll(".sidebar nav").forEach(showActive);
  });

  // A form sent back with errors (_form.html error_summary): the summary of what is wrong takes
  // the focus, so it is seen and read out first, unless something else asked for it (autofocus).
  // Its links put the focus on the field, scrolled so that its label shows too.
  function errorSummary(summary) {
    if (!summary) return;
    var mine = document.activeElement === document.body || document.activeElement === null;
    if (mine) {
      summary.focus({preventScroll: true});
      summary.scrollIntoView({block: "nearest"});  // near the top it stays where it is, with the page's heading
    }
    summary.addEventListener("click", function (event) {
      var link = event.target.closest("a[href^='#']");
      var target = link && document.getElementById(link.getAttribute("href").slice(1));
      if (!target) return;
      event.preventDefault();
      var box = target.closest(".field, fieldset") || target;
      window.scrollTo(window.scrollX, Math.max(0, box.getBoundingClientRect().top + window.scrollY - 16));
      target.focus({preventScroll: true});
    });
  }

  // The contact list's filter by a custom field: the value box offers the options of the
  // field chosen (its datalist, options-<key>), none for a field that is not a choice.
  function valueOptions(select) {
    var input = document.getElementById(select.getAttribute("data-value-options"));
    if (!input) return;
    function follow() {
      var list = select.value && document.getElementById("options-" + select.value);
      if (list) input.setAttribute("list", list.id); else input.removeAttribute("list");
    }
    select.addEventListener("change", follow);
    follow();
  }

  // On a phone the sidebar is a strip that scrolls sideways: bring the section one is in
  // into view, or a page under Retention would open with its tab out of sight.
  function showActive(nav) {
    var link = nav.querySelector("a.active");
    if (!link || nav.scrollWidth <= nav.clientWidth) return;
    var left = link.getBoundingClientRect().left - nav.getBoundingClientRect().left + nav.scrollLeft;
    if (left < nav.scrollLeft || left + link.offsetWidth > nav.scrollLeft + nav.clientWidth) {
      nav.scrollLeft = left - (nav.clientWidth - link.offsetWidth) / 2;
    }
  }

  // A box that ticks every box of a list at once (the contact, deal and activity lists' changes
  // to the records ticked): data-tick-all names the form the boxes belong to. Shown only with this script.
  function tickAll(box) {
    var boxes = Array.prototype.slice.call(
      document.querySelectorAll('input[type=checkbox][form="' + box.getAttribute("data-tick-all") + '"]'));
    if (!boxes.length) return;
    function sync() {
      var ticked = boxes.filter(function (b) { return b.checked; }).length;
      box.checked = ticked === boxes.length;
      box.indeterminate = ticked > 0 && ticked < boxes.length;
    }
    box.parentNode.hidden = false;  // its label
    box.addEventListener("change", function () {
      boxes.forEach(function (b) { b.checked = box.checked; });
    });
    boxes.forEach(function (b) { b.addEventListener("change", sync); });
    sync();
  }

  // A list's filters (crm/_pager.html list_query) are folded on a phone: on a wider screen,
  // where they fit beside the list, they start open (the stylesheet then hides their summary).
  function openWide(details) {
    if (window.matchMedia("(min-width: 48rem)").matches) details.open = true;
  }

  // A pipeline stage's win %: a won or lost stage's is certain (100 or 0) and not asked for;
  // choosing Open asks for it again (the page rendered it disabled for a won or lost stage).
  function certainOutcome(select) {
    var input = document.getElementById(select.getAttribute("data-certain"));
    if (!input) return;
    select.addEventListener("change", function () { input.disabled = select.value !== ""; });
  }

  // A part of a form that only some choices of a select ask for (a custom field's options, for
  // a choice field; a deal's reason lost, in a lost stage): hidden for the others, unless it
  // holds an error to mend. Without this script it is always there.
  function showsWhen(select) {
    var part = document.getElementById(select.getAttribute("data-shows"));
    var wanted = (select.getAttribute("data-shows-when") || "").split(" ");
    if (!part) return;
    var erred = part.querySelector(".has-error") !== null;
    function sync() { part.hidden = !erred && wanted.indexOf(select.value) < 0; }
    select.addEventListener("change", sync);
    sync();
  }

  // A list's changes to the records ticked (crm/_bulk.html): while nothing is ticked they are
  // folded away, the bar saying how to start; once a box is ticked they show, with how many
  // are. Errors sent back keep them in sight.
  function bulkBar(form) {
    var controls = form.querySelector(".bulk-controls");
    var count = form.querySelector(".bulk-count");
    var boxes = Array.prototype.slice.call(
      document.querySelectorAll('input[type=checkbox][form="' + form.id + '"]'));
    if (!controls || !count || !boxes.length) return;
    var kept = form.querySelector(".error") !== null;
    function sync() {
      var ticked = boxes.filter(function (b) { return b.checked; }).length;
      controls.hidden = !ticked && !kept;
      count.textContent = ticked ? ticked + " ticked." : "None ticked yet.";
    }
    count.hidden = false;
    // After the ticking of all at once (tickAll's handler on that box runs first).
    document.addEventListener("change", function (event) {
      if (event.target.type === "checkbox" && (boxes.indexOf(event.target) >= 0 || form.contains(event.target))) sync();
    });
    sync();
  }

  // A contact or company search box (crm/pickers.py) becomes a combobox (ARIA 1.2, list
  // autocomplete): it asks the lookup route as one types, and choosing an option puts the
  // record's id into the hidden input the form sends. Typing again forgets the choice; what is
  // then sent as typed is looked up by the server, as without this script.
  function picker(root) {
    var url = root.getAttribute("data-picker");
    var hidden = root.querySelector("input[type=hidden]");
    var input = root.querySelector("input[type=search]");
    var control = input.parentNode;
    var label = root.querySelector("label");
    var popup = document.createElement("div");
    var list = document.createElement("ul");
    var note = document.createElement("p");
    var live = document.createElement("p");
    var chosen = input.value;
    var items = [];
    var active = -1;
    var asked = 0;
    var timer;

    list.id = input.id + "-options";
    list.className = "picker-list";
    list.setAttribute("role", "listbox");
    if (label) list.setAttribute("aria-label", label.textContent.trim());
    popup.className = "picker-popup";
    popup.hidden = true;
    note.className = "picker-note";
    popup.appendChild(list);
    popup.appendChild(note);
    live.className = "visually-hidden";
    live.setAttribute("aria-live", "polite");
    control.appendChild(popup);
    root.appendChild(live);
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-controls", list.id);
    input.setAttribute("aria-expanded", "false");

    function open(yes) {
      list.hidden = !items.length;
      note.hidden = !note.textContent;
      popup.hidden = !yes || (list.hidden && note.hidden);
      input.setAttribute("aria-expanded", !popup.hidden && items.length ? "true" : "false");
    }

    function highlight(index) {
      active = index;
      Array.prototype.forEach.call(list.children, function (li, i) {
        li.setAttribute("aria-selected", i === index ? "true" : "false");
        li.classList.toggle("is-active", i === index);
      });
      if (index >= 0) {
        input.setAttribute("aria-activedescendant", list.children[index].id);
        list.children[index].scrollIntoView({block: "nearest"});
      } else {
        input.removeAttribute("aria-activedescendant");
      }
    }

    function choose(index) {
      var item = items[index];
      hidden.value = item.id;
      input.value = chosen = item.label;
      open(false);
      highlight(-1);
      live.textContent = item.label + " chosen.";
    }

    function show(data) {
      items = data.items || [];
      list.textContent = "";
      items.forEach(function (item, i) {
        var li = document.createElement("li");
        var name = document.createElement("span");
        li.id = list.id + "-" + i;
        li.className = "picker-option";
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", "false");
        name.textContent = item.label;
        li.appendChild(name);
        if (item.hint) {
          var hint = document.createElement("span");
          hint.className = "picker-hint";
          hint.textContent = item.hint;
          li.appendChild(hint);
        }
        li.addEventListener("mousedown", function (event) { event.preventDefault(); });  // keep the focus
        li.addEventListener("click", function () { choose(i); input.focus(); });
        list.appendChild(li);
      });
      var more = data.total > items.length ? items.length + " of " + data.total + " shown; type more to narrow them down." : "";
      note.textContent = items.length ? more : "No match. Type a whole word, e-mail address or number.";
      open(true);
      highlight(-1);
      live.textContent = items.length
        ? (data.total === 1 ? "1 match" : (more || data.total + " matches")) + "; use the arrow keys to choose."
        : note.textContent;
    }

    function ask() {
      var q = input.value.trim();
      var mine = ++asked;
      if (!q) { items = []; open(false); live.textContent = ""; return; }
      fetch(url + "?q=" + encodeURIComponent(q), {headers: {"Accept": "application/json"}, credentials: "same-origin"})
        .then(function (response) { return response.ok ? response.json() : Promise.reject(response.status); })
        .then(function (data) { if (mine === asked) show(data); })
        .catch(function () {
          if (mine !== asked) return;
          items = [];
          note.textContent = "The search did not answer. Try again, or send the form to look it up.";
          open(true);
          live.textContent = note.textContent;
        });
    }

    input.addEventListener("input", function () {
      if (input.value !== chosen) hidden.value = "";  // what is typed is no longer the record chosen
      window.clearTimeout(timer);
      timer = window.setTimeout(ask, 250);
    });
    input.addEventListener("keydown", function (event) {
      var shown = !popup.hidden && items.length > 0;
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        if (!items.length) return;
        event.preventDefault();
        if (!shown) { open(true); highlight(event.key === "ArrowDown" ? 0 : items.length - 1); return; }
        var step = event.key === "ArrowDown" ? 1 : -1;
        highlight((active + step + items.length) % items.length);
      } else if (event.key === "Enter" && shown && (active >= 0 || items.length === 1)) {
        event.preventDefault();  // choosing is not sending the form
        choose(active >= 0 ? active : 0);
      } else if (event.key === "Escape" && !popup.hidden) {
        event.preventDefault();
        open(false);
        highlight(-1);
      }
    });
    input.addEventListener("blur", function () {
      window.setTimeout(function () { open(false); highlight(-1); }, 100);
    });
  }
})();
