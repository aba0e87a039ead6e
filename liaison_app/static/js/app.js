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

  // A server error (5xx) that htmx showed in #request-error (base.html) goes away once a form
  // is sent again; polls and inline checks leave it.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var box = document.getElementById("request-error");
    if (box && event.detail.elt && event.detail.elt.tagName === "FORM") box.replaceChildren();
  });

  // The header's menu (a <details>) closes on a tap elsewhere or on Escape, as menus do.
  function closeMenus(except) {
    document.querySelectorAll("details.site-menu[open]").forEach(function (menu) {
      if (menu !== except) menu.removeAttribute("open");
    });
  }
  document.addEventListener("click", function (event) {
    closeMenus(event.target.closest && event.target.closest("details.site-menu"));
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") closeMenus(null);
  });

  // After htmx swaps in a form with errors, take the user to the first one.
  document.addEventListener("htmx:afterSwap", function (event) {
    var invalid = event.target.querySelector && event.target.querySelector("[aria-invalid=true]");
    if (invalid) invalid.focus();
  });
})();

// --- The visit log (desk/visits/_form.html) ---------------------------------------------------
// "Add another problem" clones the form's <template> block (problems-__index__-…) instead of
// posting the form; without this file the button posts and the server adds the block. Each
// problem's "raised by" list follows the enterprises ticked above it. The server lists every
// enterprise the picker shows, so that a draft put back by draft.js finds its choice there.
(function () {
  "use strict";

  function ticked(form) {
    return Array.prototype.filter.call(form.querySelectorAll("input[name=enterprises]"),
      function (box) { return box.checked; });
  }

  function syncRaisedBy(root, boxes) {
    root.querySelectorAll("select[name$='-enterprise']").forEach(function (select) {
      var kept = select.value;
      while (select.options.length > 1) select.remove(1); // the first one is "Choose…"
      boxes.forEach(function (box) { select.add(new Option(box.dataset.name, box.value)); });
      select.value = kept;
      if (select.selectedIndex < 0) select.selectedIndex = 0;
    });
  }

  function addProblem(form) {
    var template = form.querySelector("template[data-problem-template]");
    var list = form.querySelector("[data-problems]");
    if (!template || !list) return null;
    var next = 0;
    list.querySelectorAll("[data-problem-index]").forEach(function (block) {
      next = Math.max(next, parseInt(block.getAttribute("data-problem-index"), 10) + 1);
    });
    list.insertAdjacentHTML("beforeend", template.innerHTML.replace(/__index__/g, String(next)));
    var block = list.lastElementChild;
    var boxes = ticked(form);
    if (boxes.length) syncRaisedBy(block, boxes);
    return block;
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-add-problem]");
    if (!button || !button.form) return;
    var block = addProblem(button.form);
    if (!block) return; // no template: let the button post the form
    event.preventDefault();
    // A person adding a problem goes on typing; a draft being restored adds rows silently.
    if (event.isTrusted) {
      var first = block.querySelector("select, textarea, input");
      if (first) first.focus();
    }
  });

  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("input[name=enterprises]") || !box.form) return;
    var list = box.form.querySelector("[data-problems]");
    if (list) syncRaisedBy(list, ticked(box.form));
  });
})();
