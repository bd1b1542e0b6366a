/* Models: champion and challenger side by side (metrics vs baselines, subgroup gaps,
 * acceptance in production), the challenger scored in shadow on live requests, versions,
 * promote and roll back with confirmation (GET /models, GET /models/{name}/shadow,
 * POST /models/{name}/promote, POST /models/{name}/rollback). */
(function () {
  "use strict";
  const {t, api, el, $, clear, flash, errorText, fmtNum, fmtPct} = RC;
  const KEYS = ["ndcg@5", "ndcg@10", "hit@5", "mrr"];
  let data = null;

  function card(box, v) {
    const body = clear(box.querySelector(".body"));
    if (!v) { body.append(el("p", {class: "muted", text: t("models.none")})); return; }
    const m = v.metrics.model || {};
    const gaps = m["subgroup_gaps_ndcg@10"] || {};
    const own = m["subgroup_max_gap_vs_oracle"], ownCi = m["subgroup_max_gap_vs_oracle_ci95"];
    body.append(
      el("p", {class: "version"}, el("strong", {text: t("models.version") + " " + v.version}), " ",
        ...v.aliases.map(a => el("span", {class: "badge alias-" + a, text: a}))),
      el("dl", {class: "facts"},
        ...KEYS.flatMap(k => [el("dt", {text: k.toUpperCase()}), el("dd", {"data-metric": k, text: fmtNum(m[k])})]),
        el("dt", {text: t("models.max_gap")}), el("dd", {"data-metric": "gap", text: fmtNum(m["subgroup_max_gap_ndcg@10"])}),
        // the part of that gap the oracle does not share, with its 95% interval (newer runs)
        ...(own === undefined ? [] : [el("dt", {text: t("models.own_gap")}), el("dd", {"data-metric": "own-gap",
          text: fmtNum(own) + (ownCi ? " [" + fmtNum(ownCi[0]) + ", " + fmtNum(ownCi[1]) + "]" : "")})]),
        el("dt", {text: t("models.acceptance")}), el("dd", {"data-metric": "acceptance",
          text: fmtPct(v.acceptance.rate) + " (" + v.acceptance.accepted + "/" + (v.acceptance.accepted + v.acceptance.declined) + ")"}),
        el("dt", {text: t("models.chosen")}), el("dd", {text: String(v.acceptance.chosen)})),
      el("h3", {text: t("models.subgroups")}),
      el("ul", {class: "plain gaps"}, Object.entries(gaps).map(([g, x]) =>
        el("li", {}, el("span", {class: "gap-label", text: t("subgroup." + g)}),
          el("span", {class: "gapbar", style: "width:" + Math.min(100, 400 * x) + "%"}), " " + fmtNum(x))))
    );
  }

  function comparison(champ) {
    const metrics = champ ? champ.metrics : {};
    const rows = [[t("models.model") + " v" + (champ ? champ.version : ""), metrics.model || {}]];
    for (const [name, m] of Object.entries(metrics.baselines || {})) rows.push([t("baseline." + name), m]);
    if (metrics.oracle) rows.push([t("baseline.oracle"), metrics.oracle]);
    const thead = clear($("#m-table thead"));
    thead.append(el("tr", {}, el("th", {scope: "col", text: t("models.system")}), ...KEYS.map(k => el("th", {scope: "col", text: k.toUpperCase()}))));
    const body = clear($("#m-table tbody"));
    for (const [name, m] of rows) body.append(el("tr", {}, el("th", {scope: "row", text: name}), ...KEYS.map(k => el("td", {text: fmtNum(m[k])}))));
    RCCharts.groupedBars($("#m-chart"), {groups: KEYS.map(k => k.toUpperCase()),
      series: rows.map(([name, m]) => ({name, values: KEYS.map(k => m[k] || 0)})), max: 1});
  }

  function shadow(report) {
    const body = clear($("#m-shadow tbody"));
    if (!report.pairs.length) {
      body.append(el("tr", {}, el("td", {colspan: "7", class: "muted", text: t("models.shadow_none")})));
      return;
    }
    for (const p of report.pairs) {
      body.append(el("tr", {"data-challenger": p.challenger},
        el("td", {text: "v" + p.champion}), el("td", {text: "v" + p.challenger}),
        el("td", {text: String(p.requests)}), el("td", {text: fmtPct(p.top1_agreement)}),
        el("td", {text: fmtPct(p.overlap_at_k)}), el("td", {text: String(p.chosen)}),
        el("td", {text: fmtNum(p.champion_mrr) + " / " + fmtNum(p.challenger_mrr)})));
    }
  }

  function confirmThen(text, action) {
    const dlg = $("#confirm");
    $("#confirm-text").textContent = text;
    dlg.returnValue = "";
    dlg.onclose = () => { if (dlg.returnValue === "ok") action(); };
    dlg.showModal();
    $("#confirm-cancel").focus();
  }

  async function move(path, body, okText) {
    try {
      const r = await api(path, {body: body || {}});
      flash(okText + " → v" + r.champion, "ok");
      await load();
    } catch (err) { flash(errorText(err), "error"); }
  }

  function versions() {
    const body = clear($("#m-versions tbody"));
    for (const v of data.versions.slice().reverse()) {
      const m = v.metrics.model || {};
      const isChamp = v.version === data.champion;
      body.append(el("tr", {"data-version": v.version},
        el("td", {text: "v" + v.version}),
        el("td", {}, ...v.aliases.map(a => el("span", {class: "badge alias-" + a, text: a}))),
        el("td", {text: fmtNum(m["ndcg@10"])}), el("td", {text: fmtNum(m["subgroup_max_gap_ndcg@10"])}),
        el("td", {text: fmtPct(v.acceptance.rate)}), el("td", {text: RC.fmtTime(v.created ? new Date(v.created).toISOString() : null)}),
        el("td", {}, isChamp ? el("span", {class: "muted", text: t("models.live")}) :
          el("button", {type: "button", class: "small primary", "data-promote": v.version, onclick: () =>
            confirmThen(t("models.confirm_promote", {v: v.version, c: data.champion || "—"}),
              () => move("/models/" + encodeURIComponent(data.name) + "/promote", {version: v.version}, t("models.promoted")))},
            t("models.promote")))));
    }
    $("#m-rollback").disabled = !data.previous;
  }

  async function load() {
    data = await api("/models");
    $("#m-name").textContent = t("models.registered") + ": " + data.name + " · " + t("models.champion") + " v" + (data.champion || "—") +
      (data.challenger ? " · " + t("models.challenger") + " v" + data.challenger : "");
    const byV = Object.fromEntries(data.versions.map(v => [v.version, v]));
    card($("#m-champion"), byV[data.champion]);
    const challenger = data.challenger && data.challenger !== data.champion ? byV[data.challenger] :
      data.versions.filter(v => v.version !== data.champion).slice(-1)[0];
    card($("#m-challenger"), challenger);
    comparison(byV[data.champion]);
    versions();
    $("#m-mlflow").href = data.links.mlflow_ui;
    $("#m-ray").href = data.links.ray_dashboard;
    shadow(await api("/models/" + encodeURIComponent(data.name) + "/shadow"));
  }

  document.addEventListener("DOMContentLoaded", async () => {
    if (!RC.requireUser()) return;
    $("#m-rollback").addEventListener("click", () => confirmThen(t("models.confirm_rollback", {c: data.champion, p: data.previous}),
      () => move("/models/" + encodeURIComponent(data.name) + "/rollback", null, t("models.rolled_back"))));
    try { await load(); } catch (err) { flash(errorText(err), "error"); }
  });
})();
