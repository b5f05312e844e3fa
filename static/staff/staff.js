// Staff pages: every wide table scrolls inside its own region, which the keyboard can reach
// (tabindex) and a screen reader names (the table's caption, else the heading above it).
(function () {
  "use strict";
  function nameOf(table) {
    var caption = table.querySelector("caption");
    if (caption && caption.textContent.trim()) return caption.textContent.trim();
    var node = table.closest(".table-scroll") || table;
    while (node && node !== document.body) {
      var prev = node.previousElementSibling;
      while (prev) {
        if (/^H[1-6]$/.test(prev.tagName)) return prev.textContent.trim();
        var inner = prev.querySelector && prev.querySelector("h1,h2,h3,h4,h5,h6");
        if (inner) return inner.textContent.trim();
        prev = prev.previousElementSibling;
      }
      node = node.parentElement;
    }
    return document.title;
  }
  function regions() {
    var tables = document.querySelectorAll("main table, #content table");
    tables.forEach(function (table) {
      var box = table.parentElement;
      if (!box.classList.contains("table-responsive") && !box.classList.contains("table-scroll")) {
        box = document.createElement("div");
        box.className = "table-scroll";
        table.parentElement.insertBefore(box, table);
        box.appendChild(table);
      }
      if (!box.hasAttribute("tabindex")) box.setAttribute("tabindex", "0");
      if (!box.hasAttribute("role")) box.setAttribute("role", "region");
      if (!box.hasAttribute("aria-label") && !box.hasAttribute("aria-labelledby")) {
        box.setAttribute("aria-label", nameOf(table));
      }
    });
  }
  // On a phone the numbers come first: the filters fold into their summary line.
  function foldFilters() {
    if (!window.matchMedia("(max-width: 767.98px)").matches) return;
    document.querySelectorAll("details[data-fold-on-phone]").forEach(function (panel) {
      if (!panel.querySelector(".is-invalid, .invalid-feedback")) panel.removeAttribute("open");
    });
  }
  function start() {
    regions();
    foldFilters();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
