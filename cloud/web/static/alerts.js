// The alerts page: a note typed beside an alert travels with its acknowledge and resolve
// buttons (app.js sends a button's data-body as the JSON body), as on the member page.
(() => {
  "use strict";
  document.addEventListener("input", (event) => {
    const input = event.target;
    if (!(input instanceof HTMLInputElement) || input.dataset.alertNote === undefined) return;
    const scope = input.closest("[data-action-scope]");
    if (!scope) return;
    const text = input.value.trim();
    for (const button of scope.querySelectorAll("button[data-api]")) {
      if (text) button.dataset.body = JSON.stringify({ note: text });
      else delete button.dataset.body;
    }
  });
})();
