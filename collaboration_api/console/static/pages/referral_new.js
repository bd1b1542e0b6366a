/* New referral: patient, ICD-10 search (zh/en), urgency, travel limit, reason ->
 * POST /referrals -> GET /referrals/{id}/recommendations[?max_km=] -> choose one ->
 * POST /referrals/{id}/choose. */
(function () {
  "use strict";
  const {t, api, el, $, clear, flash, errorText} = RC;
  let referral = null;

  function search(list, q) {
    q = q.trim().toLowerCase();
    if (!q) return [];
    const hits = [];
    for (const d of list) {
      const code = d.code.toLowerCase();
      let rank = -1;
      if (code.startsWith(q)) rank = 0;
      else if (d.zh.includes(q) || d.en.toLowerCase().includes(q)) rank = 1;
      else if ((d.alias || "").toLowerCase().includes(q)) rank = 2;
      if (rank >= 0) hits.push([rank, d]);
    }
    hits.sort((a, b) => a[0] - b[0] || a[1].code.localeCompare(b[1].code));
    return hits.slice(0, 12).map(h => h[1]);
  }

  function pick(d) {
    $("#diagnosis_code").value = d.code;
    $("#dx-chosen").textContent = t("referral.dx_selected") + ": " + d.code + " " + d.zh + " / " + d.en;
    clear($("#dx-results"));
    $("#dx-search").value = d.code + " " + (RC.LANG === "en" ? d.en : d.zh);
    $("#urgency-first") && $("#urgency-first").focus();
  }

  async function loadPatients() {
    const sel = $("#patient");
    try {
      const page = await api("/patients?limit=100");
      clear(sel).append(el("option", {value: "", text: t("referral.patient_choose")}));
      for (const p of page.items) {
        sel.append(el("option", {value: p.id, text: p.id + " · " + (p.name || "") + " · " + (p.gender ? t("gender." + p.gender) : "")}));
      }
    } catch (err) { flash(errorText(err), "error"); }
  }

  /* The patient's travel limit in km: null for none, NaN when it is not a valid one. */
  function maxKm() {
    const v = $("#max-km").value.trim();
    if (!v) return null;
    const n = Number(v);
    return n >= 1 && n <= 5000 ? n : NaN;
  }

  async function loadRecs() {
    const km = maxKm();
    const rec = await api("/referrals/" + referral.id + "/recommendations" +
      (km ? "?max_km=" + encodeURIComponent(km) : ""));
    renderRecs(rec);
  }

  function renderRecs(rec) {
    const body = clear($("#rec-table tbody"));
    $("#rec-meta").textContent = t("referral.rec_meta", {version: rec.model_version || "—"}) +
      (rec.degraded ? " · " + t("referral.degraded") : "");
    const codes = rec.note_codes || [];
    clear($("#rec-notes")).append(...(rec.notes || []).map((n, k) => el("li", {text: RC.phrase("note", codes[k], n)})));
    $("#rerank-btn").hidden = false;
    rec.items.forEach((item, i) => {
      const why = item.reason_codes || [];
      const reasons = el("ul", {class: "reasons"}, item.reasons.map((r, k) => el("li", {text: RC.phrase("reason", why[k], r)})));
      const btn = el("button", {type: "button", class: "primary small", "data-practitioner": item.practitioner_id,
        "aria-label": t("referral.choose") + " " + (item.practitioner_name || item.practitioner_id),
        onclick: () => choose(item, btn)}, t("referral.choose"));
      body.append(el("tr", {"data-institution": item.institution_id, "data-practitioner": item.practitioner_id},
        el("td", {text: String(i + 1)}),
        el("td", {}, el("strong", {text: item.practitioner_name || item.practitioner_id}),
          el("div", {class: "muted", text: (item.practitioner_name ? item.practitioner_id + " · " : "") + t("specialty." + item.specialty)})),
        el("td", {}, RC.inst(item.institution_id)),
        el("td", {}, el("span", {class: "score", text: RC.fmtNum(item.score, 3)})),
        el("td", {}, reasons),
        el("td", {text: RC.fmtTime(item.earliest_slot)}),
        el("td", {class: "nowrap", text: RC.fmtNum(item.distance_km, 1) + " km"}),
        el("td", {}, btn)));
    });
    $("#rec-table").hidden = false;
  }

  async function choose(item, btn) {
    for (const b of document.querySelectorAll("#rec-table button")) b.disabled = true;
    try {
      const r = await api("/referrals/" + referral.id + "/choose",
        {body: {practitioner_id: item.practitioner_id, institution_id: item.institution_id}});
      const box = clear($("#sent"));
      box.append(el("p", {role: "status", text: t("referral.sent", {who: item.practitioner_name || item.practitioner_id, inst: RC.instName(item.institution_id)})}),
        el("p", {}, RC.status(r.business_status), " ",
          el("a", {href: "/console/referrals/" + r.id, id: "sent-link"}, t("referral.open_detail"))));
      box.hidden = false;
      flash(t("referral.sent", {who: item.practitioner_name || item.practitioner_id, inst: RC.instName(item.institution_id)}), "ok");
      $("#sent-link").focus();
    } catch (err) {
      flash(errorText(err), "error");
      for (const b of document.querySelectorAll("#rec-table button")) b.disabled = false;
      btn.focus();
    }
  }

  document.addEventListener("DOMContentLoaded", async () => {
    if (!RC.requireUser()) return;
    const radios = document.querySelectorAll("input[name=urgency]");
    if (radios.length) radios[0].id = "urgency-first";
    loadPatients();
    const [list] = await Promise.all([RC.loadIcd(), RC.loadInstitutions()]);
    const input = $("#dx-search");
    input.addEventListener("input", () => {
      const box = clear($("#dx-results"));
      for (const d of search(list, input.value)) {
        box.append(el("li", {}, el("button", {type: "button", class: "option", "data-code": d.code,
          onclick: () => pick(d)}, el("code", {text: d.code}), " ", d.zh, " · ", el("span", {class: "muted", text: d.en}))));
      }
    });
    input.addEventListener("keydown", (ev) => {
      if (ev.key === "ArrowDown" || ev.key === "Enter") {
        const first = $("#dx-results button");
        if (first) { ev.preventDefault(); first.focus(); }
      }
    });
    $("#rerank-btn").addEventListener("click", async () => {
      if (Number.isNaN(maxKm())) { flash(t("referral.max_km_invalid"), "error"); $("#max-km").focus(); return; }
      try { await loadRecs(); } catch (err) { flash(errorText(err), "error"); }
    });
    $("#referral-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const f = ev.target;
      const data = {patient_id: f.patient_id.value, diagnosis_code: $("#diagnosis_code").value,
        urgency: f.urgency.value, reason: f.reason.value.trim()};
      if (!data.patient_id || !data.diagnosis_code || !data.reason) {
        flash(t("referral.missing"), "error"); return;
      }
      if (Number.isNaN(maxKm())) { flash(t("referral.max_km_invalid"), "error"); $("#max-km").focus(); return; }
      const btn = $("#create-btn");
      btn.disabled = true;
      try {
        referral = await api("/referrals", {body: data});
        flash(t("referral.created", {id: referral.id.slice(0, 8)}), "ok");
        $("#rec-meta").textContent = t("common.loading");
        await loadRecs();
        const first = $("#rec-table button");
        if (first) first.focus();
      } catch (err) {
        flash(errorText(err), "error");
        btn.disabled = false;
      }
    });
  });
})();
