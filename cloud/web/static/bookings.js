// The managers' booking and activity pages. app.js sends the forms to /api/v1 and re-renders
// <main>; this fills in what a form cannot say by itself, just before app.js reads it (a
// capturing listener runs first): the room's address and the chosen slot's times for a
// booking, a new room's id in its address, and an activity's times as instants, from the
// date and clock times typed in the venue's own time zone. Open sections and the chosen room
// outlive the re-render.
"use strict";
(function () {
  const openSections = new Set();  // data-keep-open values of the <details> a hand unfolded
  let chosenRoom = "";

  // ---- booking a member: room, slot, day ------------------------------------------

  function showRoom(form, room) {
    for (const box of form.querySelectorAll("[data-slots-for]")) {
      const mine = box.dataset.slotsFor === room;
      box.hidden = !mine;
      const select = box.querySelector("select");
      if (select) select.disabled = !mine;
    }
    form.dataset.apiForm = `/api/v1/rooms/${encodeURIComponent(room)}/bookings`;
  }

  function fillBooking(form) {
    const room = form.querySelector("[data-room-select]");
    if (room) showRoom(form, room.value);
    const box = room && form.querySelector(`[data-slots-for="${CSS.escape(room.value)}"]`);
    const select = box && box.querySelector("select");
    const option = select && select.selectedOptions[0];
    form.querySelector("input[name=starts_at]").value = option ? option.value : "";
    form.querySelector("input[name=ends_at]").value = option ? option.dataset.ends : "";
  }

  // ---- a new room: its id goes in the address -------------------------------------

  function fillNewRoom(form) {
    const id = form.querySelector("[data-room-id]");
    form.dataset.apiForm = form.dataset.newRoom + encodeURIComponent(id ? id.value.trim() : "");
  }

  // ---- an activity: local date and clock times to instants ----------------------

  // What the wall clock in ``zone`` reads at the instant ``ms``, as if that were UTC.
  function wallClock(ms, zone) {
    const parts = new Intl.DateTimeFormat("en-US", {
      timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
    }).formatToParts(new Date(ms));
    const part = (type) => Number(parts.find((p) => p.type === type).value);
    return Date.UTC(part("year"), part("month") - 1, part("day"), part("hour"), part("minute"),
      part("second"));
  }

  // The instant at which the wall clock in ``zone`` reads ``day`` ``clock``, in ISO 8601.
  function zonedIso(day, clock, zone) {
    const [y, m, d] = day.split("-").map(Number);
    const [hh, mm] = clock.split(":").map(Number);
    const wanted = Date.UTC(y, m - 1, d, hh, mm);
    let guess = wanted;
    for (let step = 0; step < 3; step += 1) {  // the zone's offset, corrected twice at most
      const off = wanted - wallClock(guess, zone);
      if (off === 0) break;
      guess += off;
    }
    return new Date(guess).toISOString();
  }

  function fillActivity(form) {
    const zone = form.dataset.zone;
    const day = form.querySelector("[data-activity-day]").value;
    const starts = form.querySelector("[data-activity-starts]").value;
    const ends = form.querySelector("[data-activity-ends]").value;
    if (!day || !starts || !ends) return;
    form.querySelector("input[name=starts_at]").value = zonedIso(day, starts, zone);
    form.querySelector("input[name=ends_at]").value = zonedIso(day, ends, zone);
  }

  // Before app.js's own listener reads the form (it listens on the way back up).
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    if (form.dataset.bookForm !== undefined) fillBooking(form);
    if (form.dataset.newRoom !== undefined) fillNewRoom(form);
    if (form.dataset.activityForm !== undefined) fillActivity(form);
  }, true);

  document.addEventListener("change", (event) => {
    const el = event.target;
    if (el instanceof HTMLSelectElement && el.dataset.roomSelect !== undefined) {
      chosenRoom = el.value;
      showRoom(el.form, el.value);
    } else if (el instanceof HTMLInputElement && el.dataset.dayNav !== undefined && el.value) {
      const query = new URLSearchParams({ view: el.dataset.view || "day", day: el.value });
      location.assign(`${location.pathname}?${query}#book-form`);
    }
  });

  // toggle does not bubble: listen while it travels down.
  document.addEventListener("toggle", (event) => {
    const details = event.target;
    if (!(details instanceof HTMLDetailsElement) || !details.dataset.keepOpen) return;
    if (details.open) openSections.add(details.dataset.keepOpen);
    else openSections.delete(details.dataset.keepOpen);
  }, true);

  // ---- after app.js re-rendered <main> ------------------------------------------

  function restore(root) {
    for (const key of openSections) {
      const details = root.querySelector(`details[data-keep-open="${CSS.escape(key)}"]`);
      if (details) details.open = true;
    }
    const room = root.querySelector("[data-book-form] [data-room-select]");
    if (!room) return;
    if (chosenRoom && [...room.options].some((o) => o.value === chosenRoom)) {
      room.value = chosenRoom;
    }
    showRoom(room.form, room.value);
  }

  if (window.yz) window.yz.afterRender.push(restore);
})();
