/* Teaching: the alliance's courses (GET /teaching/courses). */
(function () {
  "use strict";
  const {api, el, $, clear, flash, errorText} = RC;
  document.addEventListener("DOMContentLoaded", async () => {
    if (!RC.requireUser()) return;
    await RC.loadInstitutions();
    try {
      const page = await api("/teaching/courses?limit=100");
      const body = clear($("#courses tbody"));
      for (const c of page.items) {
        body.append(el("tr", {"data-id": c.id, "data-institution": c.institution_id},
          el("td", {}, el("strong", {text: c.title}), el("div", {class: "muted", text: c.description})),
          el("td", {}, RC.inst(c.institution_id)), el("td", {text: String(c.credits)}),
          el("td", {text: String(c.min_sessions)}), el("td", {text: RC.fmtTime(c.created_at)})));
      }
      $("#courses-empty").hidden = page.items.length > 0;
    } catch (err) { flash(errorText(err), "error"); }
  });
})();
