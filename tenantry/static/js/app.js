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

  function ready(fn) {
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", fn);
    else fn();
  }

  ready(function () {
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
  });
})();
