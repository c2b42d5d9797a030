// Accessibility helpers that the CSP forbids inline: focus the error summary of a failed form,
// and open lists that are collapsed only on phones (details[data-open-from-md]) on wider screens.
(function () {
  "use strict";
  function focusErrorSummary() {
    var summary = document.querySelector("[data-error-summary]");
    if (summary) {
      summary.scrollIntoView({ block: "start" });
      summary.focus({ preventScroll: true });
    }
  }
  function openOnWideScreens() {
    if (!window.matchMedia("(min-width: 768px)").matches) {
      return;
    }
    document.querySelectorAll("details[data-open-from-md]").forEach(function (details) {
      details.open = true;
    });
  }
  document.addEventListener("DOMContentLoaded", openOnWideScreens);
  // After "load", when the styles have laid the page out, so the summary is scrolled into view
  // where it really is.
  window.addEventListener("load", focusErrorSummary);
})();
