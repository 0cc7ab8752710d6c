/*
 * Private notes on the study page, and sharing them through a passcode-protected link.
 *
 * - A reader selects text in the page's content (elements marked data-notes-scope: the trial's
 *   header and its details, never the chat), and an "Add a note" button appears beside it. The
 *   same is reachable without a mouse: the "Add a note on the selected text" button in the notes
 *   section uses the current selection.
 * - The note is written in a modal <dialog> and kept in localStorage with the text it was made on.
 *   Nothing leaves the browser until the reader shares: then the notes and a passcode the reader
 *   chooses are POSTed to /notes (with a CSRF token fetched just then), and the reader gets the
 *   link. Every text is put on the page as text (textContent), never as HTML.
 */
(function () {
  "use strict";

  function format(template, values) {
    return String(template).replace(/\{(\w+)\}/g, function (match, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : match;
    });
  }

  function shorten(text, size) {
    return text.length > size ? text.slice(0, size - 1) + "…" : text;
  }

  function start(section) {
    var config = JSON.parse(document.getElementById("notes-config").textContent);
    var words = config.strings;
    var limits = config.limits;
    var status = section.querySelector("[data-notes-status]");
    var list = section.querySelector("[data-notes-list]");
    var empty = section.querySelector("[data-notes-empty]");
    var addButton = section.querySelector("[data-notes-add]");
    var shareButton = section.querySelector("[data-notes-share]");
    var floatButton = document.querySelector("[data-notes-float]");
    var noteDialog = document.querySelector("[data-note-dialog]");
    var noteForm = noteDialog.querySelector("[data-note-form]");
    var noteQuote = noteDialog.querySelector("[data-note-quote]");
    var noteText = noteDialog.querySelector("[data-note-text]");
    var noteError = noteDialog.querySelector("[data-note-error]");
    var shareDialog = document.querySelector("[data-share-dialog]");
    var shareForm = shareDialog.querySelector("[data-share-form]");
    var passcode = shareDialog.querySelector("[data-share-passcode]");
    var passcodeAgain = shareDialog.querySelector("[data-share-passcode-again]");
    var shareError = shareDialog.querySelector("[data-share-error]");
    var shareSubmit = shareDialog.querySelector("[data-share-submit]");
    var shareAsk = shareDialog.querySelector("[data-share-ask]");
    var shareDone = shareDialog.querySelector("[data-share-done]");
    var shareMessage = shareDialog.querySelector("[data-share-message]");
    var shareLink = shareDialog.querySelector("[data-share-link]");
    var shareCopied = shareDialog.querySelector("[data-share-copied]");
    var copyButton = shareDialog.querySelector("[data-share-copy]");
    var notes = load();
    var lastSelection = "";
    var pendingQuote = "";
    var returnFocus = null;

    function storage() {
      try {
        return window.localStorage;
      } catch (error) {
        return null; /* blocked by the browser's settings */
      }
    }

    function load() {
      var store = storage();
      try {
        var saved = store && JSON.parse(store.getItem(config.storageKey));
        if (Array.isArray(saved)) {
          return saved.filter(function (n) {
            return n && typeof n.note === "string" && typeof n.quote === "string";
          });
        }
      } catch (error) {
        /* damaged: start with none */
      }
      return [];
    }

    function save() {
      var store = storage();
      try {
        store.setItem(config.storageKey, JSON.stringify(notes));
        return true;
      } catch (error) {
        say(words.storage_unavailable);
        return false;
      }
    }

    function say(text) {
      status.textContent = "";
      /* a fresh text each time, so a screen reader says it again */
      window.setTimeout(function () { status.textContent = text; }, 50);
    }

    /* ---- the selection ------------------------------------------------------------------ */

    function inScope(node) {
      var element = node && (node.nodeType === 1 ? node : node.parentElement);
      return Boolean(element && element.closest("[data-notes-scope]") &&
        !element.closest("[data-notes], dialog, [data-chat], form"));
    }

    function selection() {
      var chosen = window.getSelection();
      if (!chosen || chosen.rangeCount === 0 || chosen.isCollapsed) {
        return null;
      }
      var range = chosen.getRangeAt(0);
      if (!inScope(range.startContainer) || !inScope(range.endContainer)) {
        return null;
      }
      var text = chosen.toString().replace(/\s+/g, " ").trim();
      return text ? { text: text, range: range } : null;
    }

    function hideFloat() {
      floatButton.hidden = true;
    }

    function placeFloat(range) {
      var rects = range.getClientRects();
      var rect = rects.length ? rects[rects.length - 1] : range.getBoundingClientRect();
      floatButton.hidden = false;
      var width = floatButton.offsetWidth;
      var room = document.documentElement.clientWidth;
      var left = Math.max(8, Math.min(rect.left, room - width - 8));
      /* below the selection: a phone shows its own menu above it */
      floatButton.style.top = Math.round(rect.bottom + window.scrollY + 8) + "px";
      floatButton.style.left = Math.round(left + window.scrollX) + "px";
    }

    document.addEventListener("selectionchange", function () {
      var found = selection();
      if (found) {
        lastSelection = found.text;
        placeFloat(found.range);
      } else {
        hideFloat();
      }
    });

    /* A click anywhere else starts over: an old selection is not used by surprise. */
    document.addEventListener("pointerdown", function (event) {
      if (!event.target.closest("[data-notes-add], [data-notes-float]")) {
        lastSelection = "";
      }
    });

    /* Keep the selection when the buttons are pressed (a press on a button can clear it). */
    [addButton, floatButton].forEach(function (button) {
      button.addEventListener("mousedown", function (event) { event.preventDefault(); });
    });

    function chosenText() {
      var found = selection();
      return found ? found.text : lastSelection;
    }

    /* ---- writing a note ----------------------------------------------------------------- */

    function openNote(opener) {
      var quote = chosenText();
      if (!quote) {
        say(words.select_first);
        return;
      }
      if (quote.length > limits.quote) {
        say(format(words.selection_too_long, { max: limits.quote }));
        return;
      }
      if (notes.length >= limits.notes) {
        say(format(words.limit_reached, { max: limits.notes }));
        return;
      }
      pendingQuote = quote;
      returnFocus = opener === floatButton ? null : opener;
      noteQuote.textContent = quote;
      noteText.value = "";
      noteError.textContent = "";
      noteText.removeAttribute("aria-invalid");
      hideFloat();
      noteDialog.showModal();
      noteText.focus();
    }

    addButton.addEventListener("click", function () { openNote(addButton); });
    floatButton.addEventListener("click", function () { openNote(floatButton); });

    noteForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var text = noteText.value.trim();
      var problem = !text ? words.note_empty :
        text.length > limits.note ? format(words.too_long, { max: limits.note }) : "";
      if (problem) {
        noteError.textContent = problem;
        noteText.setAttribute("aria-invalid", "true");
        noteText.focus();
        return;
      }
      notes.push({
        id: Date.now().toString(36) + Math.random().toString(36).slice(2, 8),
        quote: pendingQuote,
        note: text,
        created: new Date().toISOString()
      });
      if (!save()) {
        notes.pop();
        return;
      }
      noteDialog.close();
      var chosen = window.getSelection();
      if (chosen) {
        chosen.removeAllRanges();
      }
      lastSelection = "";
      render();
      say(words.saved);
    });

    noteDialog.addEventListener("close", function () {
      pendingQuote = "";
      if (returnFocus) {
        returnFocus.focus();
        returnFocus = null;
      }
    });

    /* ---- the list ----------------------------------------------------------------------- */

    function render() {
      list.textContent = "";
      notes.forEach(function (item) {
        var entry = document.createElement("li");
        entry.className = "note";
        entry.setAttribute("data-note-id", item.id);
        var figure = document.createElement("figure");
        figure.className = "notes__quote";
        var caption = document.createElement("figcaption");
        caption.textContent = words.quote_label;
        var quote = document.createElement("blockquote");
        quote.textContent = item.quote || words.no_quote;
        figure.appendChild(caption);
        figure.appendChild(quote);
        var text = document.createElement("p");
        text.className = "note__text";
        text.textContent = item.note;
        var remove = document.createElement("button");
        remove.type = "button";
        remove.className = "button button--quiet note__remove";
        remove.textContent = words.remove;
        remove.setAttribute("aria-label",
          format(words.remove_label, { quote: shorten(item.quote || item.note, 60) }));
        remove.addEventListener("click", function () { removeNote(item.id); });
        entry.appendChild(figure);
        entry.appendChild(text);
        entry.appendChild(remove);
        list.appendChild(entry);
      });
      empty.hidden = notes.length > 0;
      list.hidden = notes.length === 0;
      shareButton.hidden = notes.length === 0;
    }

    function removeNote(id) {
      var index = notes.findIndex(function (n) { return n.id === id; });
      if (index < 0) {
        return;
      }
      notes.splice(index, 1);
      save();
      render();
      say(words.removed);
      var next = list.querySelectorAll(".note__remove")[Math.min(index, notes.length - 1)];
      (next || addButton).focus();
    }

    /* ---- sharing ------------------------------------------------------------------------ */

    function showShareError(text) {
      shareError.textContent = text;
      passcode.setAttribute("aria-invalid", "true");
    }

    shareButton.addEventListener("click", function () {
      shareForm.reset();
      shareError.textContent = "";
      shareCopied.textContent = "";
      passcode.removeAttribute("aria-invalid");
      shareAsk.hidden = false;
      shareDone.hidden = true;
      shareSubmit.disabled = false;
      returnFocus = shareButton;
      shareDialog.showModal();
      passcode.focus();
    });

    shareDialog.addEventListener("close", function () {
      passcode.value = "";
      passcodeAgain.value = "";
      shareButton.focus();
    });

    shareForm.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!shareDone.hidden) {
        return;
      }
      var chosen = passcode.value;
      if (chosen.length < limits.passcodeMin) {
        showShareError(format(words.passcode_short, { min: limits.passcodeMin }));
        passcode.focus();
        return;
      }
      if (chosen.length > limits.passcodeMax) {
        showShareError(format(words.passcode_long, { max: limits.passcodeMax }));
        passcode.focus();
        return;
      }
      if (chosen !== passcodeAgain.value) {
        showShareError(words.passcode_mismatch);
        passcodeAgain.focus();
        return;
      }
      passcode.removeAttribute("aria-invalid");
      shareSubmit.disabled = true;
      shareError.textContent = words.share_sending;
      fetch(config.tokenUrl, { credentials: "same-origin", cache: "no-store" })
        .then(function (response) {
          if (!response.ok) {
            throw new Error("token");
          }
          return response.json();
        })
        .then(function (token) {
          return fetch(config.shareUrl, {
            method: "POST",
            credentials: "same-origin",
            cache: "no-store",
            headers: { "Content-Type": "application/json", "X-CSRFToken": token.token },
            body: JSON.stringify({
              trial: config.trialId,
              language: config.language,
              passcode: chosen,
              notes: notes.map(function (n) { return { quote: n.quote, note: n.note }; })
            })
          });
        })
        .then(function (response) {
          return response.json().catch(function () { return {}; }).then(function (body) {
            return { ok: response.status === 201, body: body };
          });
        })
        .then(function (result) {
          shareSubmit.disabled = false;
          if (!result.ok || !result.body.path) {
            showShareError(result.body.error || words.share_failed);
            return;
          }
          passcode.value = "";
          passcodeAgain.value = "";
          shareError.textContent = "";
          shareAsk.hidden = true;
          shareDone.hidden = false;
          shareMessage.textContent = result.body.message;
          shareLink.value = window.location.origin + result.body.path;
          shareLink.focus();
          shareLink.select();
        })
        .catch(function () {
          shareSubmit.disabled = false;
          showShareError(words.share_failed);
        });
    });

    copyButton.addEventListener("click", function () {
      var done = function () { shareCopied.textContent = words.copied; };
      var failed = function () {
        shareLink.focus();
        shareLink.select();
        shareCopied.textContent = words.copy_failed;
      };
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(shareLink.value).then(done, failed);
      } else {
        failed();
      }
    });

    Array.prototype.forEach.call(document.querySelectorAll("[data-dialog-close]"), function (b) {
      b.addEventListener("click", function () { b.closest("dialog").close(); });
    });

    if (!storage()) {
      addButton.disabled = true;
      say(words.storage_unavailable);
    }
    render();
    section.hidden = false;
  }

  function ready() {
    var section = document.querySelector("[data-notes]");
    if (section && typeof HTMLDialogElement === "function") {
      start(section);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
})();
