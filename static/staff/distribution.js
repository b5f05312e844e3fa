// A survey's distribution page: while invitations are waiting to be sent, the counts and the
// progress bar follow the JSON of the same page every 5 seconds, without reloading it.
(function () {
  "use strict";
  var FIELDS = {
    scheduled: "count-scheduled", queued: "count-queued", sending: "count-sending",
    sent: "count-sent", failed: "count-failed", suppressed: "count-suppressed",
    expired_unsent: "count-expired-unsent", revoked: "count-revoked", total: "count-total",
    answered: "count-answered", reminded: "count-reminded", expired_unanswered: "count-expired",
  };
  var format = new Intl.NumberFormat(document.documentElement.lang || undefined);
  function update(box, data) {
    Object.keys(FIELDS).forEach(function (key) {
      var cell = document.getElementById(FIELDS[key]);
      if (cell && data[key] !== undefined) cell.textContent = format.format(data[key]);
    });
    var bar = box.querySelector(".progress");
    var fill = box.querySelector(".progress-bar");
    if (bar && fill) {
      bar.setAttribute("aria-valuenow", data.percent_done);
      fill.style.width = data.percent_done + "%";
      fill.textContent = data.percent_done + "%";
    }
    return data.pending > 0;
  }
  function poll(box) {
    fetch(box.getAttribute("data-poll"), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data || update(box, data)) setTimeout(function () { poll(box); }, 5000);
      })
      .catch(function () { setTimeout(function () { poll(box); }, 10000); });
  }
  function start() {
    var box = document.getElementById("distribution-progress");
    if (box && box.getAttribute("data-poll")) setTimeout(function () { poll(box); }, 5000);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
