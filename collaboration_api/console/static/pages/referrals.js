/* Inbox (received) and outbox (sent) referrals of the user's institution, from GET /referrals. */
(function () {
  "use strict";
  const {t, api, el, $, clear, flash, errorText} = RC;

  async function show(side) {
    for (const b of document.querySelectorAll(".tab")) b.setAttribute("aria-pressed", String(b.dataset.side === side));
    $("#ref-caption").textContent = t(side === "sent" ? "referrals.outbox" : "referrals.inbox");
    const body = clear($("#ref-table tbody"));
    try {
      const page = await api("/referrals?limit=100&side=" + side);
      $("#ref-empty").hidden = page.items.length > 0;
      for (const r of page.items) {
        body.append(el("tr", {"data-id": r.id, "data-institution": r.institution_id, "data-target": r.target_institution_id || ""},
          el("td", {text: RC.fmtTime(r.created_at)}),
          el("td", {text: r.patient_id}),
          el("td", {text: RC.diagnosisName(r.diagnosis_code)}),
          el("td", {}, RC.urgency(r.urgency)),
          el("td", {}, RC.inst(r.institution_id)),
          el("td", {}, RC.inst(r.target_institution_id), r.target_practitioner_id
            ? el("div", {title: r.target_practitioner_id, text: r.target_practitioner_name || r.target_practitioner_id}) : ""),
          el("td", {}, RC.status(r.business_status)),
          el("td", {}, el("a", {href: "/console/referrals/" + r.id}, t("common.open")))));
      }
    } catch (err) { flash(errorText(err), "error"); }
  }

  document.addEventListener("DOMContentLoaded", async () => {
    const user = RC.requireUser();
    if (!user) return;
    await Promise.all([RC.loadIcd(), RC.loadInstitutions()]);
    for (const b of document.querySelectorAll(".tab")) b.addEventListener("click", () => show(b.dataset.side));
    const side = new URLSearchParams(location.search).get("side") ||
      (user.role === "clinician" ? "sent" : "received");
    show(side);
  });
})();
