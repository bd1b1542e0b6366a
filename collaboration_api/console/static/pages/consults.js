/* Consultation requests: the list from GET /consults, and a new request with expert suggestions. */
(function () {
  "use strict";
  const {t, api, el, $, clear, flash, errorText} = RC;

  async function list() {
    const body = clear($("#c-table tbody"));
    try {
      const page = await api("/consults?limit=100");
      $("#c-empty").hidden = page.items.length > 0;
      for (const c of page.items) {
        body.append(el("tr", {"data-id": c.id, "data-institution": c.institution_id, "data-target": c.expert_institution_id || ""},
          el("td", {text: RC.fmtTime(c.created_at)}), el("td", {text: RC.diagnosisName(c.diagnosis_code)}),
          el("td", {class: "mode", text: RC.consultMode(c)}), el("td", {}, RC.inst(c.institution_id)),
          el("td", {}, RC.inst(c.expert_institution_id), c.expert_practitioner_id
            ? el("div", {title: c.expert_practitioner_id, text: c.expert_practitioner_name || c.expert_practitioner_id}) : ""),
          el("td", {}, RC.status(c.business_status)),
          el("td", {}, el("a", {href: "/console/consults/" + c.id}, t("common.open")))));
      }
    } catch (err) { flash(errorText(err), "error"); }
  }

  async function suggest(consult) {
    const box = clear($("#c-suggest"));
    try {
      const s = await api("/consults/" + consult.id + "/suggestions?k=5");
      const ul = el("ul", {class: "plain"});
      for (const item of s.items) {
        ul.append(el("li", {}, el("strong", {text: item.practitioner_name || item.practitioner_id}),
          " · " + (item.practitioner_name ? item.practitioner_id + " · " : "") + RC.instName(item.institution_id) + " · " +
          t("specialty." + item.specialty) + " · " + RC.fmtNum(item.score, 3) + " ",
          el("button", {type: "button", class: "small", onclick: async (ev) => {
            ev.target.disabled = true;
            try {
              await api("/consults/" + consult.id + "/choose", {body: {practitioner_id: item.practitioner_id, institution_id: item.institution_id}});
              flash(t("referral.sent", {who: item.practitioner_name || item.practitioner_id, inst: RC.instName(item.institution_id)}), "ok");
              clear(box); list();
            } catch (err) { flash(errorText(err), "error"); ev.target.disabled = false; }
          }}, t("referral.choose"))));
      }
      box.append(el("h3", {text: t("consult.suggestions")}), ul);
    } catch (err) { flash(errorText(err), "error"); }
  }

  document.addEventListener("DOMContentLoaded", async () => {
    const user = RC.requireUser();
    if (!user) return;
    const [icd] = await Promise.all([RC.loadIcd(), RC.loadInstitutions()]);
    const dl = $("#icd-list");
    for (const d of icd) dl.append(el("option", {value: d.code, label: d.zh + " / " + d.en}));
    list();
    try {
      const page = await api("/patients?limit=100");
      const sel = $("#c-patient");
      sel.append(el("option", {value: "", text: t("referral.patient_choose")}));
      for (const p of page.items) sel.append(el("option", {value: p.id, text: p.id + " · " + (p.name || "")}));
    } catch (err) { /* roles without patients: the form stays empty */ }
    $("#consult-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const f = ev.target;
      const data = {patient_id: f.patient_id.value, diagnosis_code: f.diagnosis_code.value.trim().toUpperCase(),
        mode: f.mode.value, question: f.question.value.trim(), urgency: "routine"};
      if (!data.patient_id || !data.diagnosis_code || data.question.length < 3) { flash(t("referral.missing"), "error"); return; }
      try {
        const c = await api("/consults", {body: data});
        flash(t("consult.created"), "ok");
        list(); suggest(c);
      } catch (err) { flash(errorText(err), "error"); }
    });
  });
})();
