/* The pipeline board (crm/board.html): a card dragged onto another column is moved by its own
   form, as if that stage had been chosen and Move pressed: the server does what it always does,
   and the page comes back as after any move. Keyboard and touch use the form itself. */
(function () {
  "use strict";

  function ready(fn) {
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", fn);
    else fn();
  }

  ready(function () {
    var board = document.querySelector("[data-board]");
    if (!board) return;
    var dragged = null;

    function columnOf(node) {
      return node && node.closest ? node.closest(".board-column") : null;
    }
    function target(event) {
      var column = columnOf(event.target);
      return dragged && column && !column.contains(dragged) ? column : null;
    }
    function unmark() {
      board.querySelectorAll(".is-drop-target").forEach(function (c) { c.classList.remove("is-drop-target"); });
    }

    // After a move the page comes back at #stage-<id>; a link from a deal at #deal-<id>. The
    // browser scrolls that just into view, often at the board's edge: show its column from the top.
    var shown = window.location.hash && document.getElementById(window.location.hash.slice(1));
    if (shown && board.contains(shown)) {
      var column = columnOf(shown);
      board.scrollLeft += column.getBoundingClientRect().left - board.getBoundingClientRect().left;
      column.scrollIntoView({block: "start", inline: "nearest"});  // its name and sums in view
      if (shown.getBoundingClientRect().bottom > window.innerHeight) shown.scrollIntoView({block: "nearest"});
    }

    // After a move the focus goes back to the deal moved, described by the message saying where
    // it went (at the top of the page, out of view): a keyboard user goes on from there.
    var moved = new URLSearchParams(window.location.search).get("moved");
    var card = moved && document.getElementById("deal-" + moved);
    var title = card && board.contains(card) ? card.querySelector("a.board-title") : null;
    if (title) {
      var note = document.querySelector(".flash");
      if (note) {
        note.id = note.id || "board-moved";
        title.setAttribute("aria-describedby", note.id);
      }
      // After the load: the browser's own landing on #stage-<id> would otherwise take it away.
      var focus = function () { title.focus({preventScroll: true}); };
      if (document.readyState === "complete") focus(); else window.addEventListener("load", focus);
    }

    board.querySelectorAll(".board-card").forEach(function (card) {
      var form = card.querySelector("form.board-move");
      if (!form) return;  // a viewer's board: nothing moves
      card.setAttribute("draggable", "true");
      card.classList.add("is-draggable");
      // The title link would drag its address instead of the card.
      card.querySelectorAll("a").forEach(function (a) { a.setAttribute("draggable", "false"); });
      // A drag starting on the select or the button would keep them from being used.
      card.addEventListener("pointerdown", function (event) {
        card.setAttribute("draggable", event.target.closest("form") ? "false" : "true");
      });
      card.addEventListener("dragstart", function (event) {
        dragged = card;
        event.dataTransfer.effectAllowed = "move";
        event.dataTransfer.setData("text/plain", card.id);
        card.classList.add("is-dragging");
      });
      card.addEventListener("dragend", function () {
        card.classList.remove("is-dragging");
        dragged = null;
        unmark();
      });
    });

    board.addEventListener("dragover", function (event) {
      var column = target(event);
      if (!column) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "move";
      if (!column.classList.contains("is-drop-target")) {
        unmark();
        column.classList.add("is-drop-target");
      }
    });
    board.addEventListener("dragleave", function (event) {
      var column = columnOf(event.target);
      if (column && !column.contains(event.relatedTarget)) column.classList.remove("is-drop-target");
    });
    board.addEventListener("drop", function (event) {
      var column = target(event);
      if (!column) return;
      event.preventDefault();
      var form = dragged.querySelector("form.board-move");
      form.querySelector("select[name=stage]").value = column.getAttribute("data-stage");
      dragged.classList.add("is-moving");
      if (form.requestSubmit) form.requestSubmit(); else form.submit();
    });
  });
})();
