// Folding for the oversight pages; without this file every fold stays as the server sent it
// (filters and secondary dashboard sections folded, which suits a phone).
(function () {
  "use strict";
  var WIDE = window.matchMedia("(min-width: 600px)");

  // On a wide screen the folds marked data-open-wide start open: there is room for them.
  function openWide(root, known) {
    if (!WIDE.matches || !root.querySelectorAll) return;
    root.querySelectorAll("details[data-open-wide]").forEach(function (fold) {
      if (!(known && fold.id in known)) fold.open = true;
    });
  }

  // htmx redraws a list with its filter form: a fold the user opened stays open.
  var opened = {};
  document.addEventListener("htmx:beforeSwap", function () {
    document.querySelectorAll("details[id]").forEach(function (fold) { opened[fold.id] = fold.open; });
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    Object.keys(opened).forEach(function (id) {
      var fold = document.getElementById(id);
      if (fold) fold.open = opened[id];
    });
    openWide(event.target, opened);
  });
  openWide(document);

  // A printed dashboard shows every section, whatever the screen it is printed from.
  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("details.fold").forEach(function (fold) { fold.open = true; });
  });
})();
