/* A practitioner's calendar: free and booked slots per day, from GET /console/api/calendar. */
(function () {
  "use strict";
  const {t, api, el, $, clear, flash, errorText} = RC;

  async function show(pid) {
    const box = clear($("#cal"));
    if (!pid) return;
    try {
      const cal = await api("/console/api/calendar?days=14&practitioner_id=" + encodeURIComponent(pid));
      const days = new Map();
      for (const s of cal.slots) {
        const key = new Date(s.start).toLocaleDateString(RC.LANG, {weekday: "short", month: "2-digit", day: "2-digit"});
        if (!days.has(key)) days.set(key, []);
        days.get(key).push(s);
      }
      if (!days.size) box.append(el("p", {class: "muted", text: t("board.no_slots")}));
      for (const [day, slots] of days) {
        box.append(el("div", {class: "day"}, el("h3", {text: day}),
          el("ul", {class: "plain"}, slots.map(s => el("li", {class: "slot " + s.status},
            new Date(s.start).toLocaleTimeString(RC.LANG, {hour: "2-digit", minute: "2-digit", hour12: false}),
            " ", el("span", {class: "badge st-" + (s.status === "free" ? "free" : "closed"), text: t("calendar." + s.status)}))))));
      }
    } catch (err) { flash(errorText(err), "error"); }
  }

  document.addEventListener("DOMContentLoaded", async () => {
    const user = RC.requireUser();
    if (!user) return;
    const sel = $("#who-select");
    try {
      const people = await api("/console/api/practitioners");
      for (const p of people.items) {
        sel.append(el("option", {value: p.id, text: p.name + " · " + p.id + (p.specialty ? " · " + t("specialty." + p.specialty) : "")}));
      }
      const asked = new URLSearchParams(location.search).get("practitioner") || user.practitioner_id;
      if (asked && people.items.some(p => p.id === asked)) sel.value = asked;
      sel.addEventListener("change", () => show(sel.value));
      show(sel.value);
    } catch (err) { flash(errorText(err), "error"); }
  });
})();
