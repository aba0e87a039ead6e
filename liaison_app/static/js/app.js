// Small progressive enhancements; every page works without this file.
(function () {
  "use strict";

  // Refuse too many or too large photos before they are sent over a weak signal.
  document.addEventListener("change", function (event) {
    var input = event.target;
    if (!input.matches || !input.matches("input[type=file][data-max-bytes]")) return;
    var maxBytes = parseInt(input.dataset.maxBytes, 10);
    var maxFiles = parseInt(input.dataset.maxFiles || "3", 10);
    var error = document.getElementById("error-" + input.id);
    var message = "";
    if (input.files.length > maxFiles) {
      message = input.dataset.msgCount || ("At most " + maxFiles);
    } else {
      for (var i = 0; i < input.files.length; i++) {
        if (input.files[i].size > maxBytes) { message = input.dataset.msgSize || "Too large"; break; }
      }
    }
    if (message) input.value = "";
    if (error) error.textContent = message;
  });

  // After htmx swaps in a form with errors, take the user to the first one.
  document.addEventListener("htmx:afterSwap", function (event) {
    var invalid = event.target.querySelector && event.target.querySelector("[aria-invalid=true]");
    if (invalid) invalid.focus();
  });
})();
