/* One consultation: the question, the expert, the opinion and its rating, the timeline, and
 * the next step the API allows the reader (accept or decline, schedule and start a live
 * session, give the opinion, rate it). */
(function () {
  "use strict";
  const {t, el, fact} = RC;
  const RECEIVING = ["specialist", "scheduler"], CLINICAL = ["clinician", "specialist"];

  /* [action, side, roles, needs] by business status (and mode, where it matters) */
  function next(c) {
    switch (c.business_status) {
      case "awaiting-acceptance":
        return [["accept", "target", RECEIVING], ["decline", "target", RECEIVING, "reason"]];
      case "accepted":  // a live consultation needs its session first
        return c.mode === "live" ? [["schedule", "target", RECEIVING, "start"]]
          : [["opinion", "target", ["specialist"], "opinion"]];
      case "scheduled": return [["start", "target", ["specialist"]]];
      case "in-session": return [["opinion", "target", ["specialist"], "opinion"]];
      case "opinion-given": return [["feedback", "origin", CLINICAL, "feedback"]];
      default: return [];
    }
  }

  function field(needs) {
    if (needs === "start") return [el("label", {for: "f-start", text: t("consult.start_time")}), el("input", {id: "f-start", name: "start", type: "datetime-local", required: true})];
    if (needs === "opinion") return [el("label", {for: "f-opinion", text: t("consult.opinion")}), el("textarea", {id: "f-opinion", name: "opinion", required: true, minlength: 3})];
    const stars = el("select", {id: "f-rating", name: "rating", required: true});
    for (const n of [5, 4, 3, 2, 1]) stars.append(el("option", {value: String(n), text: "★".repeat(n) + " " + n}));
    return [el("label", {for: "f-rating", text: t("consult.rating")}), stars,
      el("label", {for: "f-feedback", text: t("consult.feedback")}), el("textarea", {id: "f-feedback", name: "feedback"})];
  }

  function body(form) {
    if (form.start) return {start: new Date(form.start.value).toISOString(), minutes: 20};
    if (form.opinion) return {opinion: form.opinion.value.trim()};
    if (form.rating) return {rating: Number(form.rating.value), feedback: form.feedback.value.trim() || null};
    return {};
  }

  RC.subjectPage({
    path: "/consults/", suggest: "/suggestions?k=10", target: c => c.expert_institution_id, next, field, body,
    facts: c => [
      fact("col.status", RC.status(c.business_status)),
      fact("col.task_status", c.status),
      fact("col.patient", c.patient_id),
      fact("col.diagnosis", RC.diagnosisName(c.diagnosis_code)),
      fact("consult.mode", t("consult." + c.mode)),
      fact("consult.question", c.question),
      fact("col.from", RC.inst(c.institution_id)),
      fact("col.expert", [RC.inst(c.expert_institution_id), c.expert_practitioner_id
        ? " · " + RC.who(c.expert_practitioner_id, c.expert_practitioner_name) : ""]),
      c.appointment ? fact("consult.start_time", el("span", {id: "session"}, RC.fmtTime(c.appointment.start) + " ", RC.status(c.appointment.status))) : [],
      c.status_reason ? fact("referral.status_reason", c.status_reason) : [],
      c.opinion ? fact("consult.opinion", el("span", {id: "opinion", text: c.opinion})) : [],
      c.rating ? fact("consult.feedback", el("span", {id: "feedback", text: "★".repeat(c.rating) + (c.feedback ? " · " + c.feedback : "")})) : [],
    ],
  });
})();
