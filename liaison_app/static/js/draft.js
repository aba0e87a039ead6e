// Keeps a half-written form on the phone and puts it back after the page was closed
// or the signal dropped. Every form works without this file; with no localStorage
// (private mode) it does nothing.
//
// The contract with the templates:
//   <form data-draft-key="KEY"                 drafts of this form, per KEY and page path
//         data-draft-restored-text="…"         the notice shown after a restore (translated)
//         data-draft-discard-text="…">         its discard button
//     <input type="hidden" name="idempotency_key">   saved and restored with the fields, so
//                                                     a resubmission reuses the same key
//     [data-draft-add-row="PREFIX"]            clicked until the rows PREFIX-N-… of the
//                                              draft exist (without a value: any rows)
//   <… data-draft-clear="KEY"                  on a page the server sends once the form
//      data-draft-idempotency-key="…">          was accepted; with the second attribute only
//                                              the draft that carried that key is cleared
//   <form data-draft-offline-text="…">         sent by itself when the signal returns: a
//                                              submission without network is kept (the notice
//                                              says so) and sent once, when `online` fires or
//                                              on the next load with a signal; the server
//                                              knows a resent form by its idempotency_key
//
// A draft is restored only into an empty form: when the server rendered the form with
// values (sent back with errors), the server's values win and become the draft.
(function () {
  "use strict";
  if (window.liaisonDraft) return; // loaded twice

  const PREFIX = "liaison-draft:";
  const MAX_AGE_MS = 7 * 24 * 60 * 60 * 1000;
  const SAVE_DELAY_MS = 400;
  const MAX_ROW_CLICKS = 20;
  const ROW_WAIT_MS = 5000;
  const IDEMPOTENCY_FIELD = "idempotency_key";
  const OUTBOX = "liaison-outbox:"; // a draft to send once the signal returns
  const ROW_NAME = /^(.+)-\d+-[^-]+$/; // problems-1-description
  // Typed text: a value in one of these means the server filled the form in.
  const TEXT_TYPES = ["text", "textarea", "search", "email", "tel", "url", "number"];
  const OTHER_TYPES = ["date", "time", "datetime-local", "month", "week",
    "radio", "checkbox", "select-one", "select-multiple"];

  const storage = openStorage();
  if (!storage) return;

  const initialised = new WeakSet();
  const rowClicks = {}; // per draft, across forms that htmx swaps in
  const pending = new Set();
  let saveTimer = null;

  function openStorage() {
    try {
      const store = window.localStorage;
      store.setItem(PREFIX + "probe", "1");
      store.removeItem(PREFIX + "probe");
      return store;
    } catch (error) {
      return null; // disabled, private mode, or full
    }
  }

  function draftName(key) {
    return PREFIX + encodeURIComponent(key) + ":" + window.location.pathname;
  }

  function readJSON(name) {
    try {
      const draft = JSON.parse(storage.getItem(name));
      if (draft && draft.fields && Date.now() - draft.saved < MAX_AGE_MS) return draft;
    } catch (error) { /* unreadable: dropped below */ }
    remove(name);
    return null;
  }

  function remove(name) {
    try { storage.removeItem(name); } catch (error) { /* nothing to do */ }
  }

  function draftNames() {
    const names = [];
    for (let i = 0; i < storage.length; i++) {
      const name = storage.key(i);
      if (name && name.indexOf(PREFIX) === 0) names.push(name);
    }
    return names;
  }

  function dropOldDrafts() {
    draftNames().forEach(function (name) {
      if (storage.getItem(name) !== null) readJSON(name);
    });
  }

  // --- Which fields a draft holds -----------------------------------------------------

  function keptFields(form) {
    return Array.prototype.filter.call(form.elements, function (el) {
      if (!el.name || el.name === "csrf_token") return false;
      if (el.type === "hidden") return el.name === IDEMPOTENCY_FIELD;
      return TEXT_TYPES.indexOf(el.type) >= 0 || OTHER_TYPES.indexOf(el.type) >= 0;
    });
  }

  function collect(form) {
    const fields = {};
    keptFields(form).forEach(function (el) {
      if (el.type === "radio") {
        if (!(el.name in fields)) fields[el.name] = "";
        if (el.checked) fields[el.name] = el.value;
      } else if (el.type === "checkbox") {
        fields[el.name] = fields[el.name] || [];
        if (el.checked) fields[el.name].push(el.value);
      } else if (el.type === "select-multiple") {
        fields[el.name] = Array.prototype.filter.call(el.options, function (o) { return o.selected; })
          .map(function (o) { return o.value; });
      } else {
        fields[el.name] = el.value;
      }
    });
    return fields;
  }

  function isFilledIn(form) {
    return keptFields(form).some(function (el) {
      return TEXT_TYPES.indexOf(el.type) >= 0 && el.value.trim() !== "";
    });
  }

  function save(form) {
    try {
      storage.setItem(draftName(form.dataset.draftKey),
        JSON.stringify({ saved: Date.now(), fields: collect(form) }));
    } catch (error) { /* storage full: the form still works */ }
  }

  function saveSoon(form) {
    pending.add(form);
    clearTimeout(saveTimer);
    saveTimer = setTimeout(saveNow, SAVE_DELAY_MS);
  }

  function saveNow() {
    clearTimeout(saveTimer);
    pending.forEach(function (form) { if (form.isConnected) save(form); });
    pending.clear();
  }

  // --- Restoring ----------------------------------------------------------------------

  function setField(el, value) {
    // Returns whether the field changed.
    if (el.type === "radio" || el.type === "checkbox") {
      const checked = Array.isArray(value) ? value.indexOf(el.value) >= 0 : el.value === value;
      if (el.checked === checked) return false;
      el.checked = checked;
      return true;
    }
    if (el.type === "select-multiple") {
      let changed = false;
      Array.prototype.forEach.call(el.options, function (option) {
        const selected = Array.isArray(value) && value.indexOf(option.value) >= 0;
        if (option.selected !== selected) { option.selected = selected; changed = true; }
      });
      return changed;
    }
    if (typeof value !== "string" || el.value === value) return false;
    if (el.type === "select-one" &&
        !Array.prototype.some.call(el.options, function (o) { return o.value === value; })) {
      return false; // the choice no longer exists
    }
    el.value = value;
    return true;
  }

  function restore(form, draft) {
    if (isFilledIn(form)) return; // typed into while rows were being added
    const keyInput = form.elements.namedItem(IDEMPOTENCY_FIELD);
    const serverKey = keyInput && keyInput.value;
    const changedChoices = [];
    let changed = false;
    keptFields(form).forEach(function (el) {
      if (!Object.prototype.hasOwnProperty.call(draft.fields, el.name)) return;
      if (!setField(el, draft.fields[el.name]) || el.type === "hidden") return;
      changed = true;
      if (TEXT_TYPES.indexOf(el.type) < 0) changedChoices.push(el);
    });
    // Let the page's own behaviour follow restored choices (fields shown for one kind…).
    changedChoices.forEach(function (el) {
      el.dispatchEvent(new Event("change", { bubbles: true }));
    });
    if (changed) showNotice(form, serverKey);
  }

  function showNotice(form, serverKey) {
    const notice = document.createElement("p");
    notice.className = "notice notice-info draft-notice";
    notice.setAttribute("role", "status");
    const text = document.createElement("span");
    text.textContent = form.dataset.draftRestoredText || "Restored your unsent draft.";
    notice.appendChild(text);
    const discard = document.createElement("button");
    discard.type = "button";
    discard.className = "button secondary";
    discard.setAttribute("data-draft-discard", "");
    discard.textContent = form.dataset.draftDiscardText || "Discard";
    discard.addEventListener("click", function () {
      pending.delete(form);
      remove(draftName(form.dataset.draftKey));
      form.reset(); // back to what the server rendered
      const keyInput = form.elements.namedItem(IDEMPOTENCY_FIELD);
      if (keyInput && serverKey) keyInput.value = serverKey; // reset() leaves hidden inputs
      notice.remove();
    });
    notice.appendChild(discard);
    const heading = form.querySelector(":scope > h1, :scope > h2, :scope > h3");
    form.insertBefore(notice, heading ? heading.nextSibling : form.firstChild);
  }

  // Rows the draft has and the page lacks: ask the form's "add row" control for them,
  // then restore. The control may add a row at once or through htmx (later).
  function restoreWithRows(form, draft) {
    const name = draftName(form.dataset.draftKey);
    const missing = Object.keys(draft.fields).find(function (field) {
      return ROW_NAME.test(field) && !form.elements.namedItem(field);
    });
    const control = missing && addRowControl(form, missing);
    if (!control || (rowClicks[name] || 0) >= MAX_ROW_CLICKS) {
      restore(form, draft);
      return;
    }
    rowClicks[name] = (rowClicks[name] || 0) + 1;
    const before = form.elements.length;
    control.click();
    if (form.elements.length > before) {
      restoreWithRows(form, draft);
      return;
    }
    whenGrown(form, before, function () {
      // A form swapped whole by htmx is picked up by htmx:load instead.
      if (form.isConnected) restoreWithRows(form, draft);
    });
  }

  function addRowControl(form, field) {
    const controls = Array.prototype.slice.call(form.querySelectorAll("[data-draft-add-row]"));
    const prefix = field.match(ROW_NAME)[1];
    return controls.find(function (c) { return c.getAttribute("data-draft-add-row") === prefix; }) ||
      controls.find(function (c) { return !c.getAttribute("data-draft-add-row"); });
  }

  function whenGrown(form, before, then) {
    let done = false;
    const observer = new MutationObserver(function () {
      if (!form.isConnected || form.elements.length > before) finish();
    });
    const timer = setTimeout(finish, ROW_WAIT_MS);
    function finish() {
      if (done) return;
      done = true;
      observer.disconnect();
      clearTimeout(timer);
      then();
    }
    observer.observe(document.body, { childList: true, subtree: true });
  }

  // --- Sending when the signal returns ---------------------------------------------------

  function outboxName(form) {
    return OUTBOX + encodeURIComponent(form.dataset.draftKey) + ":" + window.location.pathname;
  }

  function keepToSend(form) {
    save(form);
    try { storage.setItem(outboxName(form), "1"); } catch (error) { return; }
    let notice = form.querySelector("[data-draft-offline-notice]");
    if (!notice) {
      notice = document.createElement("p");
      notice.className = "notice notice-error";
      notice.setAttribute("role", "alert");
      notice.setAttribute("data-draft-offline-notice", "");
      const heading = form.querySelector(":scope > h1, :scope > h2, :scope > h3");
      form.insertBefore(notice, heading ? heading.nextSibling : form.firstChild);
    }
    notice.textContent = form.dataset.draftOfflineText;
  }

  // Once: the mark goes before the form does, so a second `online` or load cannot send it
  // again; a send that fails again keeps it anew (htmx:sendError).
  function sendKept(form) {
    if (!form.isConnected || !navigator.onLine || storage.getItem(outboxName(form)) === null) return;
    remove(outboxName(form));
    if (!readJSON(draftName(form.dataset.draftKey))) return; // dropped or discarded: nothing to send
    const notice = form.querySelector("[data-draft-offline-notice]");
    if (notice) notice.remove();
    form.requestSubmit();
  }

  function sendAllKept() {
    document.querySelectorAll("form[data-draft-key][data-draft-offline-text]").forEach(sendKept);
  }

  // Without a signal the form is not even tried (navigator.onLine is false); a search or
  // "add a row" button (formnovalidate) never needs keeping. Capturing at the document stops
  // the submit before htmx, on the form, sees it.
  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (navigator.onLine || !form.hasAttribute("data-draft-offline-text") || !form.dataset.draftKey) return;
    if (event.submitter && event.submitter.hasAttribute("formnovalidate")) return;
    event.preventDefault();
    event.stopPropagation();
    keepToSend(form);
  }, true);
  // The phone said it was online, but the request never got an answer.
  document.addEventListener("htmx:sendError", function (event) {
    const form = event.detail.elt;
    if (form && form.matches && form.matches("form[data-draft-key][data-draft-offline-text]")) keepToSend(form);
  });
  window.addEventListener("online", sendAllKept);

  // --- Pages ----------------------------------------------------------------------------

  function initForm(form) {
    if (initialised.has(form)) return;
    initialised.add(form);
    if (isFilledIn(form)) {
      save(form); // the server's values (a form sent back with errors) are the draft now
      return;
    }
    const draft = readJSON(draftName(form.dataset.draftKey));
    if (draft) restoreWithRows(form, draft);
  }

  function clearDrafts(el) {
    const prefix = PREFIX + encodeURIComponent(el.getAttribute("data-draft-clear")) + ":";
    const onlyKey = el.getAttribute("data-draft-idempotency-key");
    draftNames().forEach(function (name) {
      if (name.indexOf(prefix) !== 0) return;
      const draft = onlyKey ? readJSON(name) : null;
      if (!onlyKey || (draft && draft.fields[IDEMPOTENCY_FIELD] === onlyKey)) remove(name);
    });
  }

  function within(root, selector) {
    const found = Array.prototype.slice.call(root.querySelectorAll(selector));
    if (root.matches && root.matches(selector)) found.unshift(root);
    return found;
  }

  function scan(root) {
    if (!root || !root.querySelectorAll) return;
    within(root, "[data-draft-clear]").forEach(clearDrafts);
    within(root, "form[data-draft-key]").forEach(initForm);
  }

  function draftForm(event) {
    const form = event.target && event.target.form;
    return form && form.hasAttribute("data-draft-key") ? form : null;
  }

  ["input", "change"].forEach(function (type) {
    document.addEventListener(type, function (event) {
      const form = draftForm(event);
      if (!form) return;
      initForm(form); // a form added by other means than htmx
      saveSoon(form);
    });
  });
  // Not cleared on submit: the submission may not get through. Only saved.
  document.addEventListener("submit", saveNow, true);
  window.addEventListener("pagehide", saveNow);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") saveNow();
  });
  document.addEventListener("htmx:load", function (event) { scan(event.target); });

  window.liaisonDraft = { scan: scan };
  dropOldDrafts();
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { scan(document.body); });
  } else {
    scan(document.body);
  }
  // A form kept on an earlier visit goes once the page (htmx included) is ready and restored.
  if (document.readyState === "complete") {
    setTimeout(sendAllKept);
  } else {
    window.addEventListener("load", function () { setTimeout(sendAllKept); });
  }
})();
