/* A patient's records across the alliance, each with its ledger check (GET /patients/{ref}/records). */
(function () {
  "use strict";
  const {t, api, el, $, clear, flash, errorText} = RC;

  // a word from the dictionary where it has one, else the code as the record holds it
  function word(prefix, code) { return code && t(prefix + code) !== prefix + code ? t(prefix + code) : code; }
  function status(code) { return word("fhir.", code) === code ? word("status.", code) : word("fhir.", code); }

  function content(r) {
    const x = r.resource || {};
    switch (r.resource_type) {
      case "Patient": return [x.name, word("gender.", x.gender), x.birthDate].filter(Boolean).join(" · ");
      case "Condition": return RC.diagnosisName(x.code) + (x.onset ? " · " + RC.fmtTime(x.onset) : "");
      case "Observation": return [x.code, x.value ?? x.value_text, x.unit].filter(v => v !== null && v !== undefined && v !== "").join(" ");
      case "ServiceRequest": return RC.diagnosisName(x.reasonCode) + " · " + t("urgency." + (x.urgency || "routine"));
      case "Task": return status(x.status) + (x.outcome ? " · " + word("outcome.", x.outcome) : "");
      case "Appointment": return [x.start ? RC.fmtTime(x.start) : "", status(x.status)].filter(Boolean).join(" · ");
      default: return x.code || status(x.status) || x.description || "";
    }
  }

  function check(r) {
    const led = r.ledger;
    const badge = led.verified === true ? el("span", {class: "badge st-accepted", text: t("records.verified")})
      : led.verified === false ? el("span", {class: "badge st-declined", text: t("records.mismatch")})
      : el("span", {class: "badge", text: t("records.unindexed")});
    const notes = led.log_index === null || led.log_index === undefined ? [t("records.own")]
      : [t("records.log", {n: led.log_index}), t("records.grant", {id: (led.grant_id || "—").slice(0, 8), purpose: led.purpose || "—"})];
    return el("td", {"data-verified": String(led.verified)}, badge,
      el("div", {class: "muted", text: notes.join(" · ")}),
      el("div", {class: "muted"}, el("code", {title: led.sha256, text: "sha256 " + led.sha256.slice(0, 12) + "…"})));
  }

  function render(page) {
    const body = clear($("#records-table tbody"));
    for (const r of page.items) {
      body.append(el("tr", {"data-record": r.record_id, "data-holder": r.holder},
        el("td", {text: word("resource.", r.resource_type)}), el("td", {}, el("code", {text: r.record_id.split("/").slice(1).join("/")})),
        el("td", {}, RC.inst(r.holder)), el("td", {text: content(r)}), check(r)));
    }
    $("#records-empty").hidden = page.items.length > 0;
    const list = clear($("#withheld"));
    for (const w of page.withheld) {
      list.append(el("li", {"data-record": w.record_id, "data-reason": w.reason},
        el("span", {class: "badge st-declined", text: t("records.reason." + w.reason)}), " ",
        el("code", {text: w.record_id}), " · " + RC.instName(w.holder),
        el("div", {class: "muted", text: w.detail}),
        el("div", {class: "muted", text: w.log_index === null || w.log_index === undefined ? "" : t("records.log", {n: w.log_index})})));
    }
    $("#withheld-box").hidden = page.withheld.length === 0;
  }

  document.addEventListener("DOMContentLoaded", async () => {
    if (!RC.requireUser()) return;
    await Promise.all([RC.loadIcd(), RC.loadInstitutions()]);
    const ref = $("#records").dataset.patient;
    try { render(await api("/patients/" + encodeURIComponent(ref) + "/records")); }
    catch (err) { flash(errorText(err), "error"); }
  });
})();
