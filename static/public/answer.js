/* Confirms the answer with a POST on human interaction (tap, typing) or once the page has been
   visible for a few seconds. A GET alone never records anything, so mail scanners that fetch
   links do not answer for people. Without this script, the confirm button does the same. */
(function () {
  "use strict";
  var form = document.getElementById("answer-form");
  if (!form || !window.fetch || !window.FormData) return;
  var status = document.getElementById("save-status");
  var prompt = document.getElementById("prompt");
  var comment = form.querySelector("textarea[name=comment]");
  var autoMs = parseInt(form.getAttribute("data-auto-ms"), 10) || 3000;
  var autoPending = form.getAttribute("data-auto") === "1";
  var visibleMs = 0;
  var typingTimer = null;
  var inFlight = null;

  function selected() {
    return form.querySelector("input[name=score]:checked");
  }

  function say(text, isError) {
    if (!status || !text) return;
    status.textContent = text;
    status.style.color = isError ? "#8c1d18" : "";
  }

  function save(via) {
    if (!selected()) return;
    autoPending = false;
    var data = new FormData(form);
    data.set("via", via);
    var send = function () {
      return fetch(form.action, {
        method: "POST",
        body: data,
        credentials: "same-origin",
        keepalive: true, // finishes even if the person closes the page right after tapping
        headers: { "X-Requested-With": "fetch", Accept: "application/json" }
      }).then(function (r) {
        return r.json().then(function (body) {
          say(r.ok ? body.message : body.error, !r.ok);
        });
      }).catch(function () { /* The confirm button still works. */ });
    };
    // One request at a time, in order, so the last tap wins.
    inFlight = inFlight ? inFlight.then(send) : send();
  }

  function updatePrompt(input) {
    var text = input && form.getAttribute("data-prompt" + input.getAttribute("data-category"));
    if (prompt && text) prompt.textContent = text;
  }

  form.addEventListener("change", function (event) {
    if (event.target.name === "score") {
      updatePrompt(event.target);
      save("tap");
    } else if (event.target.name === "reason") {
      save("tap");
    }
  });

  if (comment) {
    comment.addEventListener("input", function () {
      autoPending = false;
      clearTimeout(typingTimer);
      typingTimer = setTimeout(function () { save("typing"); }, 1500);
    });
  }

  form.addEventListener("submit", function () {
    clearTimeout(typingTimer);
    autoPending = false;
  });

  if (autoPending) {
    var timer = setInterval(function () {
      if (!autoPending) { clearInterval(timer); return; }
      if (document.visibilityState === "visible") visibleMs += 250;
      if (visibleMs >= autoMs) {
        clearInterval(timer);
        save("visible");
      }
    }, 250);
  }
})();
