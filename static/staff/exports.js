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
    // A row of "Recent exports" shows its rows and expiry beside the status cell.
    (box.closest("tr") || box).querySelectorAll("[data-export-field]").forEach(function (node) {
      var value = data[node.getAttribute("data-export-field")];
      if (value !== undefined && value !== null) node.textContent = String(value);
    });
    var done = box.querySelector("[data-export-done]");
    if (done && data.status === "done") {
      var link = done.querySelector("[data-export-download]");
      if (link && data.download_url) link.setAttribute("href", data.download_url);
      // A row offers only a live link; the job's page also says when it has expired.
      done.hidden = Boolean(link) && !data.download_url && Boolean(box.closest("tr"));
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
  // Clicking export always answers at once: the form is posted in the background and the new
  // job's row goes on top of "Recent exports", where its progress bar and then its download
  // link follow it. A refused form (or no answer) falls back to an ordinary submit, whose page
  // names the field at fault.
  function submitInPlace(form) {
    form.addEventListener("submit", function (event) {
      if (!window.fetch || !window.FormData) return;
      event.preventDefault();
      var note = form.querySelector("[data-export-feedback]");
      var button = form.querySelector("button[type=submit]");
      if (note) note.hidden = false;
      if (button) button.disabled = true;
      fetch(form.getAttribute("action") || window.location.href, {
        method: "POST",
        body: new FormData(form),
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      })
        .then(function (r) { return r.status === 201 ? r.json() : null; })
        .then(function (data) {
          if (button) button.disabled = false;
          if (!data) { HTMLFormElement.prototype.submit.call(form); return; }
          var rows = document.querySelector("[data-export-rows]");
          var holder = document.createElement("tbody");
          holder.innerHTML = data.row.trim();
          var row = holder.firstElementChild;
          rows.insertBefore(row, rows.firstElementChild);
          var none = document.querySelector("[data-export-none]");
          if (none) none.hidden = true;
          var region = rows.closest(".table-responsive");
          if (region) region.hidden = false;
          row.querySelectorAll("[data-export-job]").forEach(function (box) {
            update(box, data);
            poll(box);
          });
        })
        .catch(function () {
          if (button) button.disabled = false;
          HTMLFormElement.prototype.submit.call(form);
        });
    });
  }
  function start() {
    document.querySelectorAll("[data-export-job]").forEach(poll);
    document.querySelectorAll("form[data-export-form]").forEach(submitInPlace);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
