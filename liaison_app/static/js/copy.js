// The copy button of a link shown as text (the tracking page): without this file, or where
// the phone cannot copy, the link stays selectable and the button stays hidden.
(function () {
  "use strict";

  function reveal(root) {
    if (!navigator.clipboard || !window.isSecureContext) return;
    root.querySelectorAll("button[data-copy]").forEach(function (button) { button.hidden = false; });
  }

  document.addEventListener("DOMContentLoaded", function () { reveal(document); });
  // The card is swapped in again (outerHTML) after adding information or rating.
  document.addEventListener("htmx:load", function (event) { reveal(event.target); });

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[data-copy]");
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) return;
    navigator.clipboard.writeText(source.textContent.trim()).then(function () {
      var status = button.parentNode.querySelector(".copy-status");
      button.textContent = button.getAttribute("data-copied");
      if (status) status.textContent = button.getAttribute("data-copied");
    });
  });
})();
