/* One referral: facts, the up-and-down timeline, decisions, and the next steps the API allows. */
(function () {
  "use strict";
  const {t, el, fact} = RC;
  const RECEIVING = ["specialist", "scheduler"];
  // next steps by business status: [action, side, roles, needs]
  const NEXT = {
    "awaiting-acceptance": [["accept", "target", RECEIVING], ["decline", "target", RECEIVING, "reason"]],
    "accepted": [["schedule", "target", RECEIVING, "start"]],
    "scheduled": [["arrive", "target", RECEIVING]],
    "arrived": [["complete", "target", ["specialist"]]],
    "completed": [["refer-back", "target", ["specialist"], "referback"]],
    "referred-back": [["close", "origin", ["clinician", "specialist"]]],
  };
  const user = RC.subjectPage({
    path: "/referrals/",
    suggest: "/recommendations?k=10",
    target: r => r.target_institution_id,
    next: r => NEXT[r.business_status] || [],
    down: action => ["refer-back", "close"].includes(action),
    facts: r => [
      fact("col.status", RC.status(r.business_status)),
      fact("col.task_status", r.status),
      fact("col.patient", ["clinician", "specialist", "radiologist"].includes(user().role) && r.patient_ref
        ? [r.patient_id, " · ", el("a", {href: "/console/patients/" + encodeURIComponent(r.patient_ref) + "/records", id: "records-link", text: t("records.open")})]
        : r.patient_id),
      fact("col.diagnosis", RC.diagnosisName(r.diagnosis_code)),
      fact("col.urgency", RC.urgency(r.urgency)),
      fact("referral.reason", r.reason),
      fact("col.from", RC.inst(r.institution_id)),
      fact("col.to", [RC.inst(r.target_institution_id), r.target_practitioner_id
        ? " · " + RC.who(r.target_practitioner_id, r.target_practitioner_name) : ""]),
      r.appointment ? fact("referral.appointment", el("span", {id: "appointment"}, RC.fmtTime(r.appointment.start) + " · ", RC.inst(r.appointment.institution_id))) : [],
      r.status_reason ? fact("referral.status_reason", r.status_reason) : [],
      r.discharge_summary ? fact("referral.discharge_summary", r.discharge_summary) : [],
      r.follow_up_plan ? fact("referral.follow_up_plan", r.follow_up_plan) : [],
    ],
    field: needs => needs === "start"
      ? [el("label", {for: "f-start", text: t("referral.visit_time")}), el("input", {id: "f-start", name: "start", type: "datetime-local", required: true})]
      : [el("label", {for: "f-sum", text: t("referral.discharge_summary")}), el("textarea", {id: "f-sum", name: "discharge_summary", required: true}),
        el("label", {for: "f-plan", text: t("referral.follow_up_plan")}), el("textarea", {id: "f-plan", name: "follow_up_plan", required: true})],
    body: form => form.start ? {start: new Date(form.start.value).toISOString(), minutes: 30}
      : form.discharge_summary ? {discharge_summary: form.discharge_summary.value, follow_up_plan: form.follow_up_plan.value}
      : {},
  });
})();
