/* The scheduler's board: suggested matches (request, practitioner, slot, reasons, score) from
 * GET /console/api/board; accept (POST accept + schedule at the suggested slot), adjust (another
 * slot of the practitioner's calendar), reject with a reason (POST decline). */
(function () {
  "use strict";
  const {t, api, el, $, clear, flash, errorText} = RC;

  async function acceptAt(item, start) {
    if (item.business_status === "awaiting-acceptance") await api("/referrals/" + item.referral_id + "/accept", {body: {}});
    await api("/referrals/" + item.referral_id + "/schedule",
      {body: {start: new Date(start).toISOString(), minutes: 30, practitioner_id: item.practitioner_id}});
    flash(t("board.accepted", {when: RC.fmtTime(start)}), "ok");
  }

  function adjust(item) {
    const dlg = $("#adjust");
    $("#adjust-who").textContent = (item.practitioner_name || item.practitioner_id) + " · " + RC.diagnosisName(item.diagnosis_code);
    const box = clear($("#adjust-slots"));
    api("/console/api/calendar?days=21&practitioner_id=" + encodeURIComponent(item.practitioner_id)).then(cal => {
      const free = cal.slots.filter(s => s.status === "free").slice(0, 24);
      free.forEach((s, i) => box.append(el("label", {class: "slot"},
        el("input", {type: "radio", name: "slot", value: s.start, checked: i === 0}), " ", RC.fmtTime(s.start))));
      if (!free.length) box.append(el("p", {class: "muted", text: t("board.no_slots")}));
    }).catch(err => flash(errorText(err), "error"));
    dlg.returnValue = "";
    dlg.onclose = async () => {
      if (dlg.returnValue !== "ok") return;
      const chosen = box.querySelector("input:checked");
      if (!chosen) return;
      try { await acceptAt(item, chosen.value); load(); } catch (err) { flash(errorText(err), "error"); }
    };
    dlg.showModal();
  }

  function reject(item) {
    const dlg = $("#reject");
    $("#reject-reason").value = "";
    dlg.returnValue = "";
    dlg.onclose = async () => {
      if (dlg.returnValue !== "ok") return;
      const reason = $("#reject-reason").value.trim();
      if (reason.length < 3) { flash(t("board.reason_needed"), "error"); return; }
      try {
        await api("/referrals/" + item.referral_id + "/decline", {body: {reason}});
        flash(t("board.rejected"), "ok"); load();
      } catch (err) { flash(errorText(err), "error"); }
    };
    dlg.showModal();
    $("#reject-reason").focus();
  }

  async function load() {
    const body = clear($("#board tbody"));
    try {
      const data = await api("/console/api/board");
      $("#board-empty").hidden = data.items.length > 0;
      for (const item of data.items) {
        const accept = el("button", {type: "button", class: "primary small", "data-act": "accept",
          disabled: !item.suggested_slot, onclick: async () => {
            accept.disabled = true;
            try { await acceptAt(item, item.suggested_slot); load(); }
            catch (err) { flash(errorText(err), "error"); accept.disabled = false; }
          }}, t("board.accept"));
        const actions = el("div", {class: "actions"}, accept,
          el("button", {type: "button", class: "small", "data-act": "adjust", onclick: () => adjust(item)}, t("board.adjust")));
        if (item.business_status === "awaiting-acceptance") {
          actions.append(el("button", {type: "button", class: "danger small", "data-act": "reject", onclick: () => reject(item)}, t("board.reject")));
        }
        body.append(el("tr", {"data-id": item.referral_id, "data-institution": item.origin_institution_id},
          el("td", {}, RC.urgency(item.urgency), " ", el("strong", {text: RC.diagnosisName(item.diagnosis_code)}),
            el("div", {class: "muted", title: item.origin_institution_id,
              text: RC.instName(item.origin_institution_id) + " · " + RC.fmtTime(item.created_at)}),
            el("div", {}, RC.status(item.business_status))),
          el("td", {}, el("strong", {text: item.practitioner_name || item.practitioner_id}),
            el("div", {class: "muted", text: item.practitioner_id + (item.specialty ? " · " + t("specialty." + item.specialty) : "")})),
          el("td", {class: "slot-cell", text: RC.fmtTime(item.suggested_slot)}),
          el("td", {}, item.rank ? el("ul", {class: "reasons"}, item.reasons.map((r, k) => el("li", {text: RC.phrase("reason", (item.reason_codes || [])[k], r)})))
            : el("span", {class: "muted", text: t("board.not_suggested")})),
          el("td", {}, el("span", {class: "score", text: RC.fmtNum(item.score, 3)}),
            item.rank ? el("div", {class: "muted", text: "#" + item.rank + " · v" + item.model_version}) : ""),
          el("td", {}, actions)));
      }
    } catch (err) { flash(errorText(err), "error"); }
  }

  document.addEventListener("DOMContentLoaded", async () => {
    if (!RC.requireUser()) return;
    await Promise.all([RC.loadIcd(), RC.loadInstitutions()]);
    load();
  });
})();
