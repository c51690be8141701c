// Trace detail: keep the selected tree row in step with the panel, and move through the
// tree with the arrow keys. Everything else is HTMX attributes in the template.
(function () {
  "use strict";

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("#tree .tree-row"));
  }

  function select(target) {
    rows().forEach(function (row) {
      var on = row === target;
      row.classList.toggle("selected", on);
      if (on) {
        row.setAttribute("aria-selected", "true");
      } else {
        row.removeAttribute("aria-selected");
      }
    });
  }

  // The panel says which node it shows; mark that row (after a click, back/forward, or rows
  // loaded later by "show more").
  function syncWithPanel() {
    var body = document.querySelector("#panel .panel-body");
    if (!body) return;
    var id = body.getAttribute("data-selected-id") || "";
    var isTrace = body.getAttribute("data-panel-kind") === "trace";
    var match = null;
    rows().forEach(function (row) {
      var rowIsTrace = row.classList.contains("trace-row");
      if (isTrace ? rowIsTrace : !rowIsTrace && row.getAttribute("data-node-id") === id) {
        match = row;
      }
    });
    select(match);
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("#tree .node-link");
    if (link) select(link.closest(".tree-row"));
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
    var link = document.activeElement && document.activeElement.closest
      ? document.activeElement.closest("#tree .node-link") : null;
    if (!link) return;
    var links = Array.prototype.slice.call(document.querySelectorAll("#tree .node-link"));
    var next = links[links.indexOf(link) + (event.key === "ArrowDown" ? 1 : -1)];
    if (next) {
      event.preventDefault();
      next.focus();
      next.click();
    }
  });

  document.addEventListener("htmx:afterSwap", syncWithPanel);
  document.addEventListener("htmx:historyRestore", syncWithPanel);
})();
