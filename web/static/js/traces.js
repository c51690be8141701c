// The traces list: apply a select or checkbox at once; pause and resume the live refresh.
// #results[data-live] is "on" (polling), "paused" (by the user) or "off" (older rows were
// appended with "Load more"; refreshing the first page would drop them).
(function () {
  "use strict";

  function results() {
    return document.getElementById("results");
  }

  document.addEventListener("click", function (event) {
    var toggle = event.target.closest("[data-live-toggle]");
    var box = results();
    if (!toggle || !box) return;
    box.dataset.live = box.dataset.live === "on" ? "paused" : "on";
  });

  // Text fields wait for Enter or "Apply"; a choice in a list or a checkbox applies at once.
  document.addEventListener("change", function (event) {
    var field = event.target;
    var form = field.form;
    if (!form || !form.hasAttribute("data-submit-on-change")) return;
    if (field.tagName === "SELECT" || field.type === "checkbox") {
      // Choosing "Custom" first needs its dates.
      if (field.name === "range" && field.value === "custom") return;
      form.requestSubmit();
    }
  });

  document.addEventListener("htmx:beforeRequest", function (event) {
    var box = results();
    var elt = event.detail.elt;
    if (!box) return;
    if (elt.matches && elt.matches("[data-load-more]")) {
      if (box.dataset.live) box.dataset.live = "off";
      return;
    }
    // The periodic refresh: skip it while paused or while the tab is hidden.
    if (elt === box) {
      if (box.dataset.live !== "on" || document.hidden) event.preventDefault();
    }
  });
})();
