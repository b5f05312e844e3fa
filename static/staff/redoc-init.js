// The API reference (Redoc, served by this site). A fixed theme whose every text colour has at
// least 4.5:1 contrast on its background; search is off, as it needs a worker from a blob URL,
// which the content security policy does not allow.
(function () {
  "use strict";
  var box = document.getElementById("redoc-container");
  var ink = "#1f2328";
  var muted = "#424a53";
  Redoc.init(
    box.getAttribute("data-schema-url"),
    {
      disableSearch: true,
      hideLoading: false,
      expandResponses: "200,201",
      jsonSampleExpandLevel: 3,
      theme: {
        colors: {
          primary: { main: "#0b3d91" },
          success: { main: "#116329" },
          warning: { main: "#7d4e00" },
          error: { main: "#a40e26" },
          text: { primary: ink, secondary: muted },
          http: {
            get: "#0b5394",
            post: "#116329",
            put: "#7d4e00",
            options: "#424a53",
            patch: "#6639ba",
            delete: "#a40e26",
            basic: "#424a53",
            link: "#0b5394",
            head: "#424a53",
          },
          responses: {
            success: { color: "#116329", backgroundColor: "#e6f4ea" },
            error: { color: "#a40e26", backgroundColor: "#fde8eb" },
            redirect: { color: "#7d4e00", backgroundColor: "#fff4d6" },
            info: { color: "#0b5394", backgroundColor: "#e6eef8" },
          },
        },
        typography: {
          fontFamily: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
          headings: { fontFamily: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif' },
          code: { fontFamily: "ui-monospace, SFMono-Regular, Menlo, monospace", color: "#a40e26" },
          links: { color: "#0b5394", visited: "#0b5394", hover: "#06284f" },
        },
        sidebar: { backgroundColor: "#f6f8fa", textColor: ink, activeTextColor: "#0b3d91" },
        rightPanel: { backgroundColor: "#1f2328", textColor: "#ffffff" },
      },
    },
    box
  );
})();
