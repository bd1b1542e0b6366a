/* Audit trail search over GET /supervision/audit (who read or wrote which record, when). */
(function () {
  "use strict";
  const {t, api, el, $, clear, flash, errorText} = RC;
  let next = null, params = null;

  async function fetchPage(append) {
    const q = new URLSearchParams(params);
    q.set("limit", "50");
    if (append && next) q.set("cursor", next);
    try {
      const [page] = await Promise.all([api("/supervision/audit?" + q.toString()), RC.loadInstitutions()]);
      const body = $("#audit tbody");
      if (!append) clear(body);
      for (const e of page.items) {
        body.append(el("tr", {"data-outcome": e.outcome, "data-institution": e.entity_institution || "",
          "data-actor-institution": e.actor_institution || "", "data-actor": e.actor_username || ""},
          el("td", {text: RC.fmtTime(e.recorded)}), el("td", {text: (e.actor_username || "—") + " · " + RC.instName(e.actor_institution || "")}),
          el("td", {text: e.action + " · " + e.subtype}), el("td", {text: e.entity_type}),
          el("td", {}, el("code", {text: (e.entity_id || "—").slice(0, 12)})), el("td", {}, RC.inst(e.entity_institution)),
          el("td", {}, el("span", {class: "badge " + (e.outcome === "0" ? "st-accepted" : "st-declined"), text: e.outcome === "0" ? t("audit.ok") : t("audit.denied")})),
          el("td", {class: "detail", text: e.outcome_desc})));
      }
      $("#audit-empty").hidden = body.children.length > 0;
      next = page.next;
      $("#audit-more").hidden = !next;
    } catch (err) { flash(errorText(err), "error"); }
  }

  document.addEventListener("DOMContentLoaded", () => {
    if (!RC.requireUser()) return;
    const form = $("#audit-form");
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      params = {};
      for (const f of ["actor", "entity_type", "entity_id", "patient_ref", "outcome"]) if (form[f].value) params[f] = form[f].value.trim();
      if (form.since.value) params.since = new Date(form.since.value + "T00:00:00Z").toISOString();
      fetchPage(false);
    });
    $("#audit-more").addEventListener("click", () => fetchPage(true));
    params = {};
    fetchPage(false);
  });
})();
