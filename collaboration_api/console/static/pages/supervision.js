/* Supervisor dashboard: key figures of the institution or the region (GET /supervision/kpis),
 * the same over time (one call per period), the institution against its region, and open SLA
 * alerts (GET /supervision/alerts). Every number shown is the API's, unchanged. */
(function () {
  "use strict";
  const {t, api, el, $, clear, flash, errorText, fmtPct} = RC;
  const HEADLINE = [["referrals_up", "n"], ["referrals_down", "n"], ["acceptance_rate", "pct"],
    ["time_to_accept_h", "h"], ["waiting_time_h", "h"], ["loop_closure_rate", "pct"],
    ["consult_turnaround_h", "h"], ["imaging_turnaround_h", "h"], ["teaching_attendances", "n"], ["sla_breaches", "n"]];
  const PERIODS = 8;

  function show(v, kind) {
    if (v === null || v === undefined) return "—";
    if (kind === "pct") return fmtPct(v);
    if (kind === "h") return Number(v).toFixed(1) + " h";
    return String(v);
  }

  function periods(kind) {
    const out = [];
    const now = new Date();
    let end;
    if (kind === "day") end = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1));
    else if (kind === "week") {
      const d = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
      end = new Date(d.getTime() + ((8 - (d.getUTCDay() || 7)) * 86400000)); // next Monday
    } else end = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
    for (let i = 0; i < PERIODS; i++) {
      let start;
      if (kind === "day") start = new Date(end.getTime() - 86400000);
      else if (kind === "week") start = new Date(end.getTime() - 7 * 86400000);
      else start = new Date(Date.UTC(end.getUTCFullYear(), end.getUTCMonth() - 1, 1));
      out.unshift({start, end, label: start.toISOString().slice(kind === "month" ? 0 : 5, kind === "month" ? 7 : 10)});
      end = start;
    }
    return out;
  }

  async function inBatches(paths, width) {
    const out = new Array(paths.length);
    let next = 0;
    async function worker() {
      while (next < paths.length) {
        const i = next++;
        out[i] = await api(paths[i]);
      }
    }
    await Promise.all(Array.from({length: Math.min(width, paths.length)}, worker));
    return out;
  }

  function query(scope, p) {
    const q = new URLSearchParams();
    q.set(scope.kind, scope.code);
    if (p) { q.set("start", p.start.toISOString()); q.set("end", p.end.toISOString()); }
    return q.toString();
  }

  function headline(k) {
    const box = clear($("#figures"));
    for (const [name, kind] of HEADLINE) {
      box.append(el("div", {class: "figure", "data-figure": name, "data-value": k[name] === null ? "" : String(k[name])},
        el("span", {class: "value", text: show(k[name], kind)}), el("span", {class: "label", text: t("kpi." + name)})));
    }
  }

  async function load(user) {
    const [kind, code] = $("#scope").value.split(":");
    const scope = {kind, code};
    const other = kind === "institution" ? {kind: "region", code: user.institution_id.split("-")[0]} : null;
    const pk = $("#period").value;
    $("#csv").href = "#";
    document.body.dataset.loaded = "0";
    try {
      const ps = periods(pk);
      // a few requests at a time: each figure is computed over the stored events, and
      // eighteen at once only queue up behind each other on the server
      const paths = ["/supervision/kpis?" + query(scope), "/supervision/alerts?" + query(scope)]
        .concat(ps.map(p => "/supervision/kpis?" + query(scope, p)))
        .concat(other ? ps.map(p => "/supervision/kpis?" + query(other, p)) : []);
      const got = await inBatches(paths, 3);
      const total = got[0], alerts = got[1], series = got.slice(2, 2 + PERIODS);
      const regionSeries = other ? got.slice(2 + PERIODS) : null;
      headline(total);
      document.body.dataset.scope = kind + ":" + code;
      const labels = ps.map(p => p.label);
      RCCharts.groupedBars($("#c-vol"), {groups: labels, series: [
        {name: t("kpi.referrals_up"), values: series.map(s => s.referrals_up)},
        {name: t("kpi.referrals_down"), values: series.map(s => s.referrals_down)}]});
      RCCharts.lines($("#c-rate"), {labels, max: 1, series: [
        {name: t("kpi.acceptance_rate"), values: series.map(s => s.acceptance_rate)},
        {name: t("kpi.loop_closure_rate"), values: series.map(s => s.loop_closure_rate)}]});
      RCCharts.lines($("#c-wait"), {labels, series: [
        {name: t("kpi.waiting_time_h"), values: series.map(s => s.waiting_time_h)},
        {name: t("kpi.time_to_accept_h"), values: series.map(s => s.time_to_accept_h)},
        {name: t("kpi.consult_turnaround_h"), values: series.map(s => s.consult_turnaround_h)}]});
      if (regionSeries) {
        RCCharts.groupedBars($("#c-cmp"), {groups: labels, series: [
          {name: code + " · " + t("kpi.referrals_up"), values: series.map(s => s.referrals_up)},
          {name: other.code + " · " + t("kpi.referrals_up"), values: regionSeries.map(s => s.referrals_up)}]});
      } else {
        clear($("#c-cmp")).append(el("p", {class: "muted", text: t("kpi.compare_region")}));
      }
      const head = clear($("#series thead"));
      head.append(el("tr", {}, el("th", {scope: "col", text: t("kpi.period")}),
        ...HEADLINE.slice(0, 7).map(([n]) => el("th", {scope: "col", text: t("kpi." + n)}))));
      const body = clear($("#series tbody"));
      series.forEach((s, i) => body.append(el("tr", {"data-period": labels[i]}, el("th", {scope: "row", text: labels[i]}),
        ...HEADLINE.slice(0, 7).map(([n, k]) => el("td", {"data-figure": n, text: show(s[n], k)})))));
      const ab = clear($("#alerts tbody"));
      for (const a of alerts) {
        // a drift alert names the feature that moved; it has no deadline of its own
        const drift = a.kind === "model.drift";
        ab.append(el("tr", {"data-kind": a.kind}, el("td", {}, t("alert." + a.kind),
            drift && a.feature ? el("div", {class: "muted", text: t("alert.drift_detail",
              {feature: a.feature, value: RC.fmtNum(a.value, 2), threshold: RC.fmtNum(a.threshold, 2)})}) : ""),
          el("td", {}, RC.urgency(a.urgency)),
          el("td", {}, RC.inst(a.institution_id)), el("td", {text: Number(a.hours_open).toFixed(1)}),
          el("td", {text: drift ? "—" : String(a.sla_hours)})));
      }
      $("#alerts-empty").hidden = alerts.length > 0;
      $("#csv").href = "/supervision/kpis.csv?" + query(scope);
      document.body.dataset.loaded = "1";
    } catch (err) { flash(errorText(err), "error"); }
  }

  document.addEventListener("DOMContentLoaded", async () => {
    const user = RC.requireUser();
    if (!user) return;
    const region = user.institution_id.split("-")[0];
    const sel = $("#scope");
    await RC.loadInstitutions();
    const id = user.institution_id, own = RC.instName(id);
    sel.append(el("option", {value: "institution:" + id,
      text: t("kpi.institution") + " " + (own === id ? id : own + " (" + id + ")")}),
      el("option", {value: "region:" + region, text: t("kpi.region") + " " + RC.regionName(region)}));
    $("#scope-form").addEventListener("submit", (ev) => { ev.preventDefault(); load(user); });
    // the CSV needs the bearer token: fetch it and hand the file over
    $("#csv").addEventListener("click", async (ev) => {
      ev.preventDefault();
      const href = $("#csv").getAttribute("href");
      if (href === "#") return;
      const s = RC.session();
      const r = await fetch(href, {headers: {Authorization: "Bearer " + s.access_token}});
      const url = URL.createObjectURL(await r.blob());
      const a = el("a", {href: url, download: "kpis.csv"});
      document.body.append(a); a.click(); a.remove();
    });
    load(user);
  });
})();
