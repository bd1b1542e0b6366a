/* One referral: facts, the up-and-down timeline, decisions, and the next steps the API allows. */
(function () {
  "use strict";
  const {t, api, el, $, clear, flash, errorText} = RC;
  const id = () => $("#detail").dataset.id;
  // next steps by business status: [action, side, roles, needs]
  const NEXT = {
    "awaiting-acceptance": [["accept", "target", ["specialist", "scheduler"]], ["decline", "target", ["specialist", "scheduler"], "reason"]],
    "accepted": [["schedule", "target", ["specialist", "scheduler"], "start"]],
    "scheduled": [["arrive", "target", ["specialist", "scheduler"]]],
    "arrived": [["complete", "target", ["specialist"]]],
    "completed": [["refer-back", "target", ["specialist"], "referback"]],
    "referred-back": [["close", "origin", ["clinician", "specialist"]]],
  };

  function fact(k, v) { return [el("dt", {text: t(k)}), el("dd", {}, v)]; }

  function render(r, user) {
    $("#detail").hidden = false;
    clear($("#facts")).append(...[
      fact("col.status", RC.status(r.business_status)),
      fact("col.task_status", r.status),
      fact("col.patient", ["clinician", "specialist", "radiologist"].includes(user.role) && r.patient_ref
        ? [r.patient_id, " · ", el("a", {href: "/console/patients/" + encodeURIComponent(r.patient_ref) + "/records", id: "records-link", text: t("records.open")})]
        : r.patient_id),
      fact("col.diagnosis", RC.diagnosisName(r.diagnosis_code)),
      fact("col.urgency", RC.urgency(r.urgency)),
      fact("referral.reason", r.reason),
      fact("col.from", RC.inst(r.institution_id)),
      fact("col.to", [RC.inst(r.target_institution_id), r.target_practitioner_id
        ? " · " + (r.target_practitioner_name ? r.target_practitioner_name + " (" + r.target_practitioner_id + ")" : r.target_practitioner_id) : ""]),
      r.appointment ? fact("referral.appointment", el("span", {id: "appointment"}, RC.fmtTime(r.appointment.start) + " · ", RC.inst(r.appointment.institution_id))) : [],
      r.status_reason ? fact("referral.status_reason", r.status_reason) : [],
      r.discharge_summary ? fact("referral.discharge_summary", r.discharge_summary) : [],
      r.follow_up_plan ? fact("referral.follow_up_plan", r.follow_up_plan) : [],
    ].flat());
    const tl = clear($("#timeline"));
    for (const e of r.history) {
      const down = ["refer-back", "close"].includes(e.action);
      tl.append(el("li", {class: down ? "down" : "up"},
        el("span", {class: "when", text: RC.fmtTime(e.at)}),
        el("strong", {text: t("action." + e.action)}),
        " ", e.from_status ? RC.status(e.from_status) : "", e.from_status ? " → " : "", RC.status(e.to_status),
        el("div", {class: "muted", text: t("role." + e.actor_role) + " · " + RC.instName(e.actor_institution)})));
    }
    const dec = clear($("#decisions"));
    for (const d of r.decisions) {
      dec.append(el("li", {text: RC.fmtTime(d.at) + " · " + t("decision." + d.decision) + " · " +
        (d.practitioner_name ? d.practitioner_name + " (" + d.practitioner_id + ")" : d.practitioner_id) +
        (d.rank ? " · #" + d.rank : "") + (d.model_version ? " · v" + d.model_version : "") + (d.reason ? " · " + d.reason : "")}));
    }
    if (!r.decisions.length) dec.append(el("li", {class: "muted", text: "—"}));
    const side = user.institution_id === r.institution_id ? "origin" :
      user.institution_id === r.target_institution_id ? "target" : null;
    const box = clear($("#actions"));
    for (const [action, s, roles, needs] of NEXT[r.business_status] || []) {
      if (s !== side || !roles.includes(user.role)) continue;
      const form = el("form", {class: "step", "data-action": action});
      if (needs === "reason") form.append(el("label", {for: "f-reason", text: t("referral.decline_reason")}), el("input", {id: "f-reason", name: "reason", required: true}));
      if (needs === "start") form.append(el("label", {for: "f-start", text: t("referral.visit_time")}), el("input", {id: "f-start", name: "start", type: "datetime-local", required: true}));
      if (needs === "referback") form.append(
        el("label", {for: "f-sum", text: t("referral.discharge_summary")}), el("textarea", {id: "f-sum", name: "discharge_summary", required: true}),
        el("label", {for: "f-plan", text: t("referral.follow_up_plan")}), el("textarea", {id: "f-plan", name: "follow_up_plan", required: true}));
      form.append(el("button", {type: "submit", class: action === "decline" ? "danger" : "primary"}, t("action." + action)));
      form.addEventListener("submit", (ev) => { ev.preventDefault(); step(action, form); });
      box.append(form);
    }
  }

  async function step(action, form) {
    let body = {};
    if (form.reason) body = {reason: form.reason.value};
    if (form.start) body = {start: new Date(form.start.value).toISOString(), minutes: 30};
    if (form.discharge_summary) body = {discharge_summary: form.discharge_summary.value, follow_up_plan: form.follow_up_plan.value};
    try {
      await api("/referrals/" + id() + "/" + action, {body});
      flash(t("common.saved"), "ok");
      load();
    } catch (err) { flash(errorText(err), "error"); }
  }

  let user = null;
  async function load() {
    try { render(await api("/referrals/" + id()), user); }
    catch (err) { flash(errorText(err), "error"); }
  }
  document.addEventListener("DOMContentLoaded", async () => {
    user = RC.requireUser();
    if (!user) return;
    await Promise.all([RC.loadIcd(), RC.loadInstitutions()]);
    load();
  });
})();
