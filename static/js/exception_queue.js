(function () {
  "use strict";
  var current = null;  // id of the row under the keyboard cursor, kept across htmx swaps
  function rows() { return Array.prototype.slice.call(document.querySelectorAll("#queue tr.queue-row")); }
  function mark(row) {
    rows().forEach(function (r) { r.classList.remove("kb-current"); });
    if (!row) { current = null; return; }
    row.classList.add("kb-current");
    row.focus({ preventScroll: true });
    row.scrollIntoView({ block: "nearest" });
    current = row.id;
  }
  function currentRow() { return current ? document.getElementById(current) : null; }
  function move(step) {
    var list = rows();
    if (!list.length) return;
    var index = list.indexOf(currentRow());
    index = index < 0 ? 0 : Math.min(Math.max(index + step, 0), list.length - 1);
    mark(list[index]);
  }
  function toggleContext(row) {
    if (!row) return;
    var pk = row.id.slice(3), open = document.getElementById("ctx-" + pk);
    var button = row.querySelector("[data-toggle-context]");
    if (open) { open.remove(); if (button) button.setAttribute("aria-expanded", "false"); return; }
    htmx.ajax("GET", row.dataset.context, { target: "#" + row.id, swap: "afterend" });
    if (button) button.setAttribute("aria-expanded", "true");
  }
  function updateBulk() {
    var count = document.querySelectorAll("#queue input[name=ids]:checked").length;
    var out = document.getElementById("bulk-count"), submit = document.getElementById("bulk-submit");
    if (out) out.textContent = count;
    if (submit) submit.disabled = count === 0;
  }
  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.metaKey || event.ctrlKey || event.altKey) return;
    var tag = (event.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select" || event.target.isContentEditable) {
      if (event.key === "Escape") event.target.blur();
      return;
    }
    if (event.key === "Enter" && (tag === "a" || tag === "button" || tag === "summary")) return;
    var row = currentRow();
    switch (event.key) {
      case "j": move(1); break;
      case "k": move(-1); break;
      case "Enter": case "o": if (row) window.location.href = row.dataset.open; break;
      case "c": if (row) { var claim = row.querySelector("[data-claim]"); if (claim) claim.click(); } break;
      case "i": toggleContext(row); break;
      case "x": if (row) { var box = row.querySelector("input[name=ids]"); if (box && !box.disabled) { box.checked = !box.checked; updateBulk(); } } break;
      case "n": document.getElementById("claim-next").click(); break;
      case "/": var search = document.getElementById("f-q"); if (search) search.focus(); break;
      default: return;
    }
    event.preventDefault();
  });
  document.addEventListener("click", function (event) {
    var toggle = event.target.closest("[data-toggle-context]");
    if (toggle) { event.preventDefault(); var row = toggle.closest("tr"); mark(row); toggleContext(row); return; }
    var row = event.target.closest("#queue tr.queue-row");
    if (row && !event.target.closest("a, button, input, form")) mark(row);
  });
  document.addEventListener("change", function (event) {
    if (event.target.matches("[data-select-all]")) {
      document.querySelectorAll("#queue input[name=ids]:not(:disabled)").forEach(function (box) { box.checked = event.target.checked; });
    }
    if (event.target.matches("#queue input[name=ids], [data-select-all]")) updateBulk();
  });
  document.body.addEventListener("htmx:afterSwap", function () {
    var row = currentRow();
    if (row) row.classList.add("kb-current");
    updateBulk();
  });
})();
