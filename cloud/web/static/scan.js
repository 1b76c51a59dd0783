// The fleet page's claim and config forms: scan a box's QR label with the camera, start a
// claim from the list of waiting boxes, and keep what a hand typed across live refreshes
// (every heartbeat re-renders <main>). The label's secret is only ever on the label, so
// scanning just fills #claim-code for the person to submit; nothing here calls the API.
"use strict";
(function () {
  const SCAN_EVERY_MS = 200;  // a few looks a second find a label fast without heating a tablet
  const SERIAL_ONLY = /^YZC1-?[A-Z2-7]{10}-?$/i;
  let scan = null;  // { stream, panel, timer } while the camera is on

  // ---- scanning the label ----------------------------------------------------------

  async function canScan() {
    if (!("BarcodeDetector" in window) || !navigator.mediaDevices ||
        typeof navigator.mediaDevices.getUserMedia !== "function") return false;
    try {
      const formats = await window.BarcodeDetector.getSupportedFormats();
      if (!formats.includes("qr_code")) return false;
      const devices = await navigator.mediaDevices.enumerateDevices();
      return devices.some((d) => d.kind === "videoinput");
    } catch (err) {
      return false;
    }
  }

  // A refresh brings a fresh, hidden button: show it again where scanning works.
  async function showScanButtons(root) {
    const buttons = (root || document).querySelectorAll("button[data-scan-label]");
    if (!buttons.length || !(await canScan())) return;
    for (const button of buttons) button.hidden = false;
  }

  // The camera view lives outside <main>, so a live refresh does not cut a scan short.
  function openPanel(stopLabel) {
    const panel = document.createElement("div");
    panel.className = "card scan-panel";
    panel.setAttribute("role", "dialog");
    const video = document.createElement("video");
    video.setAttribute("playsinline", "");
    video.muted = true;
    video.dataset.scanVideo = "";
    const stopButton = document.createElement("button");
    stopButton.type = "button";
    stopButton.textContent = stopLabel;
    stopButton.addEventListener("click", stop);
    panel.append(video, stopButton);
    document.body.append(panel);
    return panel;
  }

  function stop() {
    if (!scan) return;
    clearTimeout(scan.timer);
    for (const track of scan.stream.getTracks()) track.stop();
    scan.panel.remove();
    scan = null;
  }

  function failed(text) {
    const slot = document.querySelector("#claim-form [data-result]");
    if (slot) { slot.textContent = text; slot.className = "result error"; }
    if (window.yz) window.yz.toast(text, true);
  }

  function fillCode(text) {
    const input = document.getElementById("claim-code");
    if (!input) return;
    input.value = text.trim();
    input.dispatchEvent(new Event("input", { bubbles: true }));  // kept across refreshes
    input.focus();
  }

  async function startScan(button) {
    if (scan) return;
    const failure = button.dataset.failed || "camera unavailable";
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        video: { facingMode: "environment" }, audio: false,
      });
    } catch (err) {
      failed(failure);
      return;
    }
    const panel = openPanel(button.dataset.stopLabel || "×");
    scan = { stream, panel, timer: null };
    const video = panel.querySelector("video");
    video.srcObject = stream;
    try { await video.play(); } catch (err) { stop(); failed(failure); return; }
    const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
    const look = async () => {
      if (!scan) return;
      try {
        const codes = await detector.detect(video);
        const found = codes.find((c) => /^YZC1/i.test(c.rawValue.replace(/[\s-]/g, "")));
        if (found) { stop(); fillCode(found.rawValue); return; }
      } catch (err) {
        // A frame not ready yet; the next look tries again.
      }
      if (scan) scan.timer = setTimeout(look, SCAN_EVERY_MS);
    };
    look();
  }

  // ---- starting a claim from a waiting box -------------------------------------------

  // The serial is public, so the code can start with it; the rest comes from the label.
  function startClaim(link) {
    const input = document.getElementById("claim-code");
    if (!input) return;
    const form = document.getElementById("claim-form");
    if (form) form.scrollIntoView({ block: "start" });
    const serial = (link.dataset.claimSerial || "").toUpperCase();
    const typed = input.value.trim();
    if (serial && (!typed || SERIAL_ONLY.test(typed))) {
      input.value = `YZC1-${serial}-`;
      input.dispatchEvent(new Event("input", { bubbles: true }));
    }
    input.focus();
    input.setSelectionRange(input.value.length, input.value.length);
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-scan-label]");
    if (button) { event.preventDefault(); startScan(button); return; }
    const link = event.target.closest("a[data-claim-serial]");
    if (link) { event.preventDefault(); startClaim(link); }
  });

  // ---- keeping typed values and open editors across refreshes ----------------------

  const typed = new Map();  // form key -> Map(field name -> value)
  const openEditors = new Set();  // device ids whose config editor is open

  function formKey(form) {
    if (!form) return null;
    if (form.id === "claim-form") return "#claim-form";
    if (form.dataset.configForm) return `form[data-config-form="${CSS.escape(form.dataset.configForm)}"]`;
    return null;
  }

  function remember(event) {
    const el = event.target;
    const key = formKey(el.form);
    if (!key || !el.name) return;
    if (!typed.has(key)) typed.set(key, new Map());
    typed.get(key).set(el.name, el.value);
  }

  document.addEventListener("input", remember);
  document.addEventListener("change", remember);
  // toggle does not bubble: listen while it travels down.
  document.addEventListener("toggle", (event) => {
    const details = event.target;
    if (!(details instanceof HTMLDetailsElement) || !details.dataset.config) return;
    if (details.open) openEditors.add(details.dataset.config);
    else openEditors.delete(details.dataset.config);
  }, true);
  // Sent: the fresh page shows what the server now holds (the new desired settings).
  document.addEventListener("yz:done", (event) => {
    const key = formKey(event.detail && event.detail.form);
    if (key) typed.delete(key);
  });

  function restore(root) {
    for (const [key, fields] of typed) {
      const form = root.querySelector(key);
      if (!form) continue;
      for (const [name, value] of fields) {
        const el = form.elements.namedItem(name);
        if (el && "value" in el) el.value = value;
      }
    }
    for (const id of openEditors) {
      const details = root.querySelector(`details[data-config="${CSS.escape(id)}"]`);
      if (details) details.open = true;
    }
  }

  if (window.yz) {
    window.yz.afterRender.push(restore);
    window.yz.afterRender.push(showScanButtons);
  }
})();
