// The member page: a typed note travels with the suspend / revoke / reinstate buttons (app.js
// sends them to /api/v1 and re-renders <main>), typed notes and open histories outlive that
// re-render, and a roster file is checked (a dry run) before it can be imported at all.
// Everything shown comes from the page's own words (data-text-*) and the API's JSON, put in
// with textContent: a name or a message from a file never becomes markup.
"use strict";
(function () {
  const notes = new Map();  // member id -> the note typed for them, not sent yet
  const openHistories = new Set();  // member ids whose history is unfolded
  // The roster file: the File checked, and what the API said about it.
  // phase: idle | checking | checked | applying | applied | failed
  const file = { chosen: null, phase: "idle", data: null, error: "" };

  function meta(name) {
    const el = document.querySelector(`meta[name="${name}"]`);
    return el ? el.content : "";
  }

  function fill(template, values) {
    return (template || "").replace(/\{(\w+)\}/g, (_, name) =>
      (values[name] === undefined || values[name] === null ? "" : String(values[name])));
  }

  // ---- a note with the standing buttons ------------------------------------------

  // app.js sends a button's data-body as the JSON body: the note rides along that way.
  function attachNote(scope, note) {
    const text = note.trim();
    for (const button of scope.querySelectorAll("button[data-member-action]")) {
      if (text) button.dataset.body = JSON.stringify({ note: text });
      else delete button.dataset.body;
    }
  }

  document.addEventListener("input", (event) => {
    const input = event.target;
    if (!(input instanceof HTMLInputElement) || input.dataset.note === undefined) return;
    if (input.value.trim()) notes.set(input.dataset.note, input.value);
    else notes.delete(input.dataset.note);
    const scope = input.closest("[data-action-scope]");
    if (scope) attachNote(scope, input.value);
  });

  // Sent: the note is in the member's history now, and the field starts empty again.
  document.addEventListener("yz:done", (event) => {
    const button = event.detail && event.detail.button;
    const scope = button && button.dataset.memberAction && button.closest("[data-action-scope]");
    if (scope) notes.delete(scope.dataset.actionScope);
  });

  // toggle does not bubble: listen while it travels down.
  document.addEventListener("toggle", (event) => {
    const details = event.target;
    if (!(details instanceof HTMLDetailsElement) || !details.dataset.history) return;
    if (details.open) openHistories.add(details.dataset.history);
    else openHistories.delete(details.dataset.history);
  }, true);

  // ---- the roster file: check, then import ----------------------------------------

  function importBox(root) {
    return (root || document).querySelector("[data-import]");
  }

  async function upload(box, chosen, dryRun) {
    const body = new FormData();
    body.append("file", chosen, chosen.name);
    const headers = { Accept: "application/json" };
    headers[meta("csrf-header") || "X-CSRF-Token"] = meta("csrf-token");
    const res = await fetch(`${box.dataset.url}?dry_run=${dryRun ? "true" : "false"}`, {
      method: "POST", headers, body, credentials: "same-origin",
    });
    let data = null;
    try { data = await res.json(); } catch (err) { data = null; }
    if (res.status === 401) location.reload();  // the sign-in lapsed: the login, then back
    if (!res.ok) throw new Error(data && data.error ? data.error.message : `HTTP ${res.status}`);
    return data;
  }

  function changes(data) {
    return data.created.length + data.updated.length;
  }

  // What the last answer means for the person, and whether Import may be pressed.
  function verdict(box) {
    const data = file.data;
    switch (file.phase) {
      case "checking": return { text: box.dataset.textChecking, kind: "" };
      case "applying": return { text: box.dataset.textApplying, kind: "" };
      case "failed": return { text: file.error, kind: "error" };
      case "idle": return { text: "", kind: "" };
      default: break;
    }
    if (data.refused.length) {
      return { text: fill(box.dataset.textRefused, { n: data.refused.length }), kind: "error" };
    }
    if (file.phase === "applied") return { text: box.dataset.textApplied, kind: "ok" };
    if (!changes(data)) return { text: box.dataset.textNothing, kind: "ok" };
    return { text: box.dataset.textClean, kind: "ok", ready: true };
  }

  function refusedItem(box, reasons, row) {
    const item = document.createElement("li");
    item.dataset.refusedRow = String(row.row);
    item.dataset.reason = row.reason || "";
    const where = document.createElement("strong");
    where.textContent = fill(box.dataset.textRow, { row: row.row });
    item.append(where);
    if (row.member_id) {
      const id = document.createElement("code");
      id.textContent = row.member_id;
      item.append(" ", id);
    }
    const why = document.createElement("div");
    why.dataset.reasonText = "";
    why.textContent = reasons.get(row.reason) || box.dataset.textOther;
    item.append(why);
    if (row.message) {  // the API's own words: which value, which column
      const detail = document.createElement("div");
      detail.className = "muted";
      detail.textContent = row.message;
      item.append(detail);
    }
    return item;
  }

  function drawReport(box) {
    const report = box.querySelector("[data-import-report]");
    const data = file.data;
    report.hidden = !data || file.phase === "checking" || file.phase === "applying";
    if (report.hidden) return;
    const counts = {
      rows: data.rows, created: data.created.length, updated: data.updated.length,
      unchanged: data.unchanged.length, refused: data.refused.length,
    };
    for (const cell of report.querySelectorAll("[data-import-count]")) {
      cell.textContent = String(counts[cell.dataset.importCount] ?? 0);
    }
    const reasons = new Map();
    for (const li of box.querySelectorAll("[data-reason-texts] [data-reason]")) {
      reasons.set(li.dataset.reason, li.textContent);
    }
    const list = report.querySelector("[data-import-refused-list]");
    list.replaceChildren(...data.refused.map((row) => refusedItem(box, reasons, row)));
    report.querySelector("[data-import-refused]").hidden = !data.refused.length;
  }

  function draw(root) {
    const box = importBox(root);
    if (!box) return;
    const said = verdict(box);
    const slot = box.querySelector("[data-import-result]");
    slot.textContent = said.text;
    slot.className = said.kind ? `result ${said.kind}` : "result";
    box.dataset.importPhase = file.phase;
    const busy = file.phase === "checking" || file.phase === "applying";
    box.querySelector("[data-import-check]").disabled = busy;
    // Import only what was checked, and only after a check that refused nothing.
    box.querySelector("[data-import-apply]").disabled = !(file.phase === "checked" && said.ready);
    drawReport(box);
  }

  function settle(phase, data, error) {
    file.phase = phase;
    file.data = data;
    file.error = error || "";
    draw(document);
    const said = verdict(importBox(document) || document.body);
    if (said.text && window.yz) window.yz.toast(said.text, said.kind === "error");
  }

  async function check(box) {
    const input = box.querySelector("[data-import-file]");
    const chosen = input.files && input.files[0];
    if (!chosen) { settle("failed", null, box.dataset.textPick); return; }
    file.chosen = chosen;
    file.phase = "checking";
    file.data = null;
    draw(document);
    try {
      const data = await upload(box, chosen, true);
      if (file.chosen === chosen) settle("checked", data);
    } catch (err) {
      if (file.chosen === chosen) settle("failed", null, err.message);
    }
  }

  async function apply(box) {
    const chosen = file.chosen;
    if (!chosen || file.phase !== "checked") return;
    file.phase = "applying";
    draw(document);
    try {
      const data = await upload(box, chosen, false);
      settle(data.applied ? "applied" : "checked", data);
      if (data.applied && window.yz) window.yz.refresh();  // the list shows the new roster
    } catch (err) {
      settle("failed", null, err.message);
    }
  }

  document.addEventListener("submit", (event) => {
    const form = event.target.closest("form[data-import-form]");
    if (!form) return;
    event.preventDefault();
    check(form.closest("[data-import]"));
  });

  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-import-apply]");
    if (!button) return;
    event.preventDefault();
    apply(button.closest("[data-import]"));
  });

  // Another file: what was said about the last one no longer holds.
  document.addEventListener("change", (event) => {
    const input = event.target;
    if (!(input instanceof HTMLInputElement) || input.dataset.importFile === undefined) return;
    file.chosen = null;
    settle("idle", null);
  });

  // ---- after app.js re-rendered <main> ------------------------------------------

  function restore(root) {
    for (const [id, note] of notes) {
      const input = root.querySelector(`input[data-note="${CSS.escape(id)}"]`);
      if (!input) continue;
      input.value = note;
      const scope = input.closest("[data-action-scope]");
      if (scope) attachNote(scope, note);
    }
    for (const id of openHistories) {
      const details = root.querySelector(`details[data-history="${CSS.escape(id)}"]`);
      if (details) details.open = true;
    }
    const box = importBox(root);
    const input = box && box.querySelector("[data-import-file]");
    if (input && file.chosen && !(input.files && input.files.length)) {
      try {  // the fresh form shows the file still chosen (and Import may send it)
        const carried = new DataTransfer();
        carried.items.add(file.chosen);
        input.files = carried.files;
      } catch (err) {
        // A browser that cannot set files: the report and Import still hold the File.
      }
    }
    draw(root);
  }

  if (window.yz) window.yz.afterRender.push(restore);
})();
