/* Worklists of the receiving side: referrals and consultations addressed to the user's
 * institution (GET /referrals?side=received, GET /consults) and, where the imaging area
 * answers, the reading worklist (GET /imaging/worklist, GET /imaging/studies). Open items first. */
(function () {
  "use strict";
  const {t, api, el, $, clear, flash, errorText} = RC;
  const DONE = ["closed", "cancelled", "completed", "referred-back", "feedback-given"];

  function sortOpen(items) {
    return items.slice().sort((a, b) => (DONE.includes(a.business_status) - DONE.includes(b.business_status)) ||
      (b.created_at || "").localeCompare(a.created_at || ""));
  }

  document.addEventListener("DOMContentLoaded", async () => {
    const user = RC.requireUser();
    if (!user) return;
    await Promise.all([RC.loadIcd(), RC.loadInstitutions()]);
    try {
      const refs = await api("/referrals?limit=100&side=received");
      const body = clear($("#wl-ref tbody"));
      for (const r of sortOpen(refs.items)) {
        body.append(el("tr", {"data-id": r.id, "data-institution": r.institution_id, "data-target": r.target_institution_id || ""},
          el("td", {text: RC.fmtTime(r.created_at)}), el("td", {text: RC.diagnosisName(r.diagnosis_code)}),
          el("td", {}, RC.urgency(r.urgency)), el("td", {}, RC.inst(r.institution_id)), el("td", {}, RC.status(r.business_status)),
          el("td", {}, el("a", {href: "/console/referrals/" + r.id}, t("common.open")))));
      }
      $("#wl-ref").closest("section").querySelector(".empty").hidden = refs.items.length > 0;
    } catch (err) { flash(errorText(err), "error"); }
    try {
      const cons = await api("/consults?limit=100");
      const mine = cons.items.filter(c => c.expert_institution_id === user.institution_id);
      const body = clear($("#wl-con tbody"));
      for (const c of sortOpen(mine)) {
        body.append(el("tr", {"data-id": c.id, "data-institution": c.institution_id, "data-target": c.expert_institution_id || ""},
          el("td", {text: RC.fmtTime(c.created_at)}), el("td", {text: RC.diagnosisName(c.diagnosis_code)}),
          el("td", {class: "mode", text: RC.consultMode(c)}), el("td", {}, RC.inst(c.institution_id)), el("td", {}, RC.status(c.business_status)),
          el("td", {}, el("a", {href: "/console/consults/" + c.id}, t("common.open")))));
      }
      $("#wl-con").closest("section").querySelector(".empty").hidden = mine.length > 0;
    } catch (err) { flash(errorText(err), "error"); }
    if (user.role === "radiologist") {
      try {
        // the reader's own worklist first, then the studies of the institution
        const mine = await api("/imaging/worklist");
        const all = await api("/imaging/studies?limit=100");
        const seen = new Set();
        const body = clear($("#img-table tbody"));
        for (const s of [].concat(mine || [], (all && all.items) || [])) {
          if (seen.has(s.id)) continue;
          seen.add(s.id);
          body.append(el("tr", {"data-id": s.id, "data-institution": s.institution_id || "", "data-target": s.reader_institution || ""},
            el("td", {text: RC.fmtTime(s.registered_at)}),
            el("td", {text: [s.modality, s.body_part, s.description].filter(Boolean).join(" · ") +
              " (" + s.series_count + "/" + s.instance_count + ")"}),
            el("td", {}, RC.urgency(s.urgency || "routine")), el("td", {}, RC.inst(s.institution_id)),
            el("td", {}, el("span", {class: "badge st-" + s.status, text: t("imaging." + s.status)}))));
        }
        $("#img-empty").hidden = seen.size > 0;
        $("#imaging-card").hidden = false;
      } catch (err) {
        if (err.status !== 404) flash(errorText(err), "error");
      }
    }
  });
})();
