// Export jobs: the progress bar, the status and the download link follow the job without a
// reload, polling its JSON every 1.5 s while it is pending or running.
(function () {
  "use strict";
  var ACTIVE = { pending: true, running: true };
  function update(box, data) {
    var bar = box.querySelector(".progress");
    var fill = box.querySelector(".progress-bar");
    if (bar && fill) {
      bar.setAttribute("aria-valuenow", data.progress);
      fill.style.width = data.progress + "%";
      if (fill.textContent.trim()) fill.textContent = data.progress + "%";
      fill.classList.toggle("progress-bar-striped", data.status === "running");
      fill.classList.toggle("progress-bar-animated", data.status === "running");
      fill.classList.toggle("bg-danger", data.status === "failed");
    }
    box.querySelectorAll("[data-export-field]").forEach(function (node) {
      var value = data[node.getAttribute("data-export-field")];
      if (value !== undefined && value !== null) node.textContent = String(value);
    });
    var done = box.querySelector("[data-export-done]");
    if (done && data.status === "done") {
      var link = done.querySelector("[data-export-download]");
      if (link && data.download_url) link.setAttribute("href", data.download_url);
      done.hidden = false;
    }
    box.setAttribute("data-export-status", data.status);
  }
  function poll(box) {
    if (!ACTIVE[box.getAttribute("data-export-status")]) return;
    fetch(box.getAttribute("data-export-job"), {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (data) update(box, data);
        setTimeout(function () { poll(box); }, 1500);
      })
      .catch(function () { setTimeout(function () { poll(box); }, 5000); });
  }
  // Clicking export always answers at once, whether the file downloads or a job starts.
  function feedback(form) {
    form.addEventListener("submit", function () {
      var note = form.querySelector("[data-export-feedback]");
      if (note) note.hidden = false;
      var button = form.querySelector("button[type=submit]");
      if (button) {
        button.disabled = true;
        setTimeout(function () { button.disabled = false; }, 4000);
      }
    });
  }
  function start() {
    document.querySelectorAll("[data-export-job]").forEach(poll);
    document.querySelectorAll("form[data-export-form]").forEach(feedback);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
