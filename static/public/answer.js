/* Saves the answer with a POST on a human action only: a tap, click or key on the page, a score
   chosen, a comment typed. A page that merely stays open records nothing, so mail scanners that
   open links in a browser and run scripts do not answer for people. Without this script, the
   confirm button does the same.

   Saves are coalesced: arrow keys over the score row save once, shortly after the last step;
   typing saves after a pause, at most every few seconds; one request at a time, the latest
   state last. That keeps a person far under the per-token rate limit. */
(function () {
  "use strict";
  var form = document.getElementById("answer-form");
  if (!form || !window.fetch || !window.FormData) return;
  var status = document.getElementById("save-status");
  var prompt = document.getElementById("prompt");
  var button = document.getElementById("submit");
  var comment = form.querySelector("textarea[name=comment]");
  var savedLabel = form.getAttribute("data-saved-label");
  // A score preselected from the email and not saved yet: the first human action confirms it.
  var awaiting = form.getAttribute("data-auto") === "1";
  var human = false;
  var lastKeyAt = 0;
  var lastSaveAt = 0;
  var timer = null;
  var timerVia = null;
  var inFlight = false;
  var queued = null;
  var lastSaved = null;

  function selected() {
    return form.querySelector("input[name=score]:checked");
  }

  function say(text, isError) {
    if (!status || !text) return;
    status.textContent = text;
    status.style.color = isError ? "#8c1d18" : "";
  }

  function snapshot(data) {
    var parts = [];
    data.forEach(function (value, key) {
      if (key !== "via") parts.push(key + "=" + value);
    });
    return parts.join("&");
  }

  function post(data) {
    return fetch(form.action, {
      method: "POST",
      body: data,
      credentials: "same-origin",
      keepalive: true, // finishes even if the person closes the page right after tapping
      headers: { "X-Requested-With": "fetch", Accept: "application/json" }
    });
  }

  function save(via) {
    clearTimeout(timer);
    timer = null;
    if (!selected()) return;
    if (inFlight) { queued = via; return; } // sent once the current one is answered
    var data = new FormData(form);
    data.set("via", via);
    var state = snapshot(data);
    if (state === lastSaved) return;
    awaiting = false;
    inFlight = true;
    lastSaveAt = Date.now();
    post(data).then(function (r) {
      return r.json().then(function (body) {
        if (r.ok) {
          lastSaved = state;
          say(body.message);
          if (button && savedLabel) button.textContent = savedLabel;
        } else {
          say(body.error, true);
        }
      });
    }).catch(function () { /* The confirm button still works. */ }).then(function () {
      inFlight = false;
      if (queued) { var next = queued; queued = null; save(next); }
    });
  }

  function later(via, ms) {
    clearTimeout(timer);
    timerVia = via;
    timer = setTimeout(function () { save(via); }, ms);
  }

  function updatePrompt(input) {
    var text = input && form.getAttribute("data-prompt" + input.getAttribute("data-category"));
    if (prompt && text) prompt.textContent = text;
  }

  function onHumanAction(event) {
    if (event.isTrusted === false) return; // synthetic events are not a person
    if (event.type === "keydown") lastKeyAt = Date.now();
    if (human) return;
    human = true;
    var onScores = event.target && event.target.closest && event.target.closest(".scale");
    // Arrow keys change the score, and the change saves it.
    if (event.type === "keydown" && onScores) return;
    // A tap may change the score (then that change saves at once); if it does not, it confirms
    // the score shown. With nothing to confirm, it tells the server a person opened the page.
    setTimeout(function () {
      if (awaiting) {
        save("page");
      } else if (!selected()) {
        var data = new FormData();
        data.set("via", "view");
        post(data).catch(function () {});
      }
    }, 250);
  }

  ["pointerdown", "touchstart", "keydown"].forEach(function (type) {
    document.addEventListener(type, onHumanAction, { capture: true, passive: true });
  });

  form.addEventListener("change", function (event) {
    if (event.target.name === "score") {
      updatePrompt(event.target);
      // Each arrow key is a change: wait for the last one. A tap saves at once.
      if (Date.now() - lastKeyAt < 1000) later("tap", 800); else save("tap");
    } else if (event.target.name === "reason") {
      save("tap");
    }
  });

  if (comment) {
    comment.addEventListener("input", function () {
      var wait = Math.max(1500, 5000 - (Date.now() - lastSaveAt));
      later("typing", wait);
    });
  }

  form.addEventListener("submit", function () {
    clearTimeout(timer);
    timer = null;
  });

  // Leaving with a save still waiting: send it now (keepalive lets it finish).
  window.addEventListener("pagehide", function () {
    if (timer) save(timerVia);
  });
})();
