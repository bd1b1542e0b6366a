/* RegionCare console: the small layer every page shares.
 * Signs in over the JSON API, keeps the bearer token in sessionStorage, calls the API with
 * it (refreshing once on 401), and offers a few DOM and formatting helpers. No framework. */
(function () {
  "use strict";
  const W = window.RC_WORDS || {};
  const LANG = document.documentElement.lang || "zh-CN";
  const store = window.sessionStorage;

  function t(key, vars) {
    let s = Object.prototype.hasOwnProperty.call(W, key) ? W[key] : key;
    if (vars) for (const k of Object.keys(vars)) s = s.split("{" + k + "}").join(String(vars[k]));
    return s;
  }

  /* A reason or note the API sends as {code, values} beside its English sentence: worded in
   * the page's language where the dictionary has "<kind>.<code>", else the sentence itself. */
  function phrase(kind, p, sentence) {
    if (!p || !Object.prototype.hasOwnProperty.call(W, kind + "." + p.code)) return sentence;
    const v = Object.assign({}, p.values);
    if ("specialty" in v) v.specialty = t("specialty." + v.specialty);
    if ("title" in v) v.title = t("title." + v.title);
    if ("tier" in v) v.tier = t("tier." + v.tier);
    return t(kind + "." + p.code, v);
  }

  function session() {
    try { return JSON.parse(store.getItem("rc.session") || "null"); } catch (e) { return null; }
  }
  function saveSession(s) { store.setItem("rc.session", JSON.stringify(s)); }
  function signOut() {
    store.removeItem("rc.session"); store.removeItem("rc.institutions");
    location.href = "/console/login";
  }

  class ApiError extends Error {
    constructor(status, problem) {
      super((problem && (problem.detail || problem.title)) || ("HTTP " + status));
      this.status = status; this.problem = problem;
    }
  }

  async function refresh() {
    const s = session();
    if (!s || !s.refresh_token) return false;
    const r = await fetch("/auth/refresh", {method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({refresh_token: s.refresh_token})});
    if (!r.ok) return false;
    const tok = await r.json();
    s.access_token = tok.access_token; s.refresh_token = tok.refresh_token;
    saveSession(s);
    return true;
  }

  /** Call the API with the bearer token; JSON in, JSON out; problems become ApiError. */
  async function api(path, opts) {
    opts = opts || {};
    const s = session();
    const headers = Object.assign({"Accept": "application/json"}, opts.headers || {});
    if (s && s.access_token) headers["Authorization"] = "Bearer " + s.access_token;
    let body = opts.body;
    if (body !== undefined && typeof body !== "string") {
      body = JSON.stringify(body); headers["Content-Type"] = "application/json";
    }
    const method = opts.method || (body !== undefined ? "POST" : "GET");
    if (method === "POST" && !headers["Idempotency-Key"]) headers["Idempotency-Key"] = newKey();
    let r = await fetch(path, {method, headers, body});
    if (r.status === 401 && !opts.retried && await refresh()) {
      return api(path, Object.assign({}, opts, {retried: true, headers: opts.headers}));
    }
    if (r.status === 401) { signOut(); throw new ApiError(401, null); }
    const text = await r.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = {detail: text}; }
    if (!r.ok) throw new ApiError(r.status, data);
    return data;
  }

  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return "k-" + Date.now() + "-" + Math.random().toString(16).slice(2);
  }

  async function login(username, password) {
    const form = new URLSearchParams({username, password});
    const r = await fetch("/auth/token", {method: "POST", body: form,
      headers: {"Content-Type": "application/x-www-form-urlencoded"}});
    if (!r.ok) {
      let p = null; try { p = await r.json(); } catch (e) { /* not JSON */ }
      throw new ApiError(r.status, p);
    }
    const tok = await r.json();
    saveSession({access_token: tok.access_token, refresh_token: tok.refresh_token});
    const me = await api("/auth/me");
    const s = session(); s.user = me; saveSession(s);
    return me;
  }

  /* ---- DOM helpers ---- */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (k === "dataset") Object.assign(node.dataset, v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }
  function $(sel, root) { return (root || document).querySelector(sel); }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }

  function fmtTime(iso) {
    if (!iso) return "—";
    const d = new Date(iso);
    if (isNaN(d)) return iso;
    return d.toLocaleString(LANG, {year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", hour12: false});
  }
  function fmtNum(x, digits) {
    if (x === null || x === undefined || x === "") return "—";
    return Number(x).toFixed(digits === undefined ? 3 : digits);
  }
  function fmtPct(x) { return x === null || x === undefined ? "—" : (100 * x).toFixed(1) + "%"; }

  function status(code) {
    return el("span", {class: "badge st-" + code, text: t("status." + code)});
  }
  /** A consultation's mode, with a live one's session time once scheduled. */
  function consultMode(c) {
    return t("consult." + c.mode) + (c.session_start ? " · " + fmtTime(c.session_start) : "");
  }
  function urgency(code) {
    return el("span", {class: "badge urg-" + code, text: t("urgency." + code)});
  }

  /** Show a message in the page's live region (role=status) or as an error (role=alert). */
  function flash(msg, kind) {
    const box = $("#flash");
    if (!box) return;
    clear(box).append(el("p", {class: "flash " + (kind || "info"),
      role: kind === "error" ? "alert" : "status", text: msg}));
  }
  function errorText(err) {
    if (err && err.status === 404) return t("error.not_found");
    if (err && err.status === 403) return t("error.forbidden") + (err.message ? " — " + err.message : "");
    return t("error.generic") + (err && err.message ? " — " + err.message : "");
  }

  function diagnosisName(code) {
    const d = (window.RC_ICD || {})[code];
    if (!d) return code;
    return code + " " + (LANG === "en" ? d.en : d.zh);
  }
  let icdPromise = null;
  function loadIcd() {
    if (!icdPromise) {
      icdPromise = fetch("/console/static/icd10.json").then(r => r.json()).then(list => {
        window.RC_ICD = {};
        for (const d of list) window.RC_ICD[d.code] = d;
        return list;
      });
    }
    return icdPromise;
  }

  // The alliance's institutions by code, read once per tab: pages show a name, not "R1-C1".
  let instPromise = null;
  function loadInstitutions() {
    if (!instPromise) {
      const kept = store.getItem("rc.institutions");
      instPromise = (kept ? Promise.resolve(JSON.parse(kept))
        : api("/directory/institutions?limit=1000").then(list => {
          store.setItem("rc.institutions", JSON.stringify(list));
          return list;
        })).then(list => {
          window.RC_INST = {};
          for (const i of list) window.RC_INST[i.id] = i;
          return list;
        }).catch(() => { instPromise = null; return []; });  // codes still show
    }
    return instPromise;
  }
  function instName(code) {
    const i = (window.RC_INST || {})[code];
    return i && i.name ? i.name : code;
  }
  function regionName(code) {
    const i = Object.values(window.RC_INST || {}).find(x => x.region === code);
    const name = i && (LANG === "en" ? i.region_name_en : i.region_name_zh);
    return name ? name + " (" + code + ")" : code;
  }
  /** An institution as its name, with its code in small type (codes are what staff quote). */
  function inst(code) {
    if (!code) return "—";
    const name = instName(code);
    const me = session();
    if (me && me.user && me.user.institution_id === code) {  // short where it is the reader's own
      return el("span", {"data-inst": code, class: "own", title: name === code ? code : name + " " + code},
        t("common.own_institution"), " ", el("small", {class: "muted", text: code}));
    }
    if (name === code) return el("span", {"data-inst": code, text: code});
    return el("span", {"data-inst": code, title: code}, name, " ", el("small", {class: "muted", text: code}));
  }

  function fact(k, v) { return [el("dt", {text: t(k)}), el("dd", {}, v)]; }
  function who(id, name) { return name ? name + " (" + id + ")" : id; }

  /** A workflow subject's page (a referral, a consultation): its facts, timeline and
   * decisions on practitioners, and the next steps the reader may take; a step posts and
   * the page re-renders. spec: {path, target(s): the receiving institution, facts(s): [fact],
   * next(s): [[action, side, roles, needs]], field(needs): inputs, body(form): the step's
   * body, down(action): drawn as a step down (back to the community), suggest: where the
   * requester finds specialists to choose (again, after a decline)}. */
  function subjectPage(spec) {
    const id = () => $("#detail").dataset.id;
    let user = null;
    function render(s) {
      $("#detail").hidden = false;
      clear($("#facts")).append(...spec.facts(s).flat());
      const tl = clear($("#timeline"));
      for (const e of s.history) {
        tl.append(el("li", {class: spec.down && spec.down(e.action) ? "down" : "up"},
          el("span", {class: "when", text: fmtTime(e.at)}),
          el("strong", {text: t("action." + e.action)}),
          " ", e.from_status ? status(e.from_status) : "", e.from_status ? " → " : "", status(e.to_status),
          el("div", {class: "muted", text: t("role." + e.actor_role) + " · " + instName(e.actor_institution)})));
      }
      const dec = clear($("#decisions"));
      for (const d of s.decisions) {
        dec.append(el("li", {text: fmtTime(d.at) + " · " + t("decision." + d.decision) + " · " + who(d.practitioner_id, d.practitioner_name) +
          (d.rank ? " · #" + d.rank : "") + (d.model_version ? " · v" + d.model_version : "") + (d.reason ? " · " + d.reason : "")}));
      }
      if (!s.decisions.length) dec.append(el("li", {class: "muted", text: "—"}));
      const side = user.institution_id === s.institution_id ? "origin" :
        user.institution_id === spec.target(s) ? "target" : null;
      const box = clear($("#actions"));
      for (const [action, sd, roles, needs] of spec.next(s)) {
        if (sd !== side || !roles.includes(user.role)) continue;
        const form = el("form", {class: "step", "data-action": action});
        if (needs === "reason") form.append(el("label", {for: "f-reason", text: t("referral.decline_reason")}), el("input", {id: "f-reason", name: "reason", required: true}));
        else if (needs) form.append(...spec.field(needs));
        form.append(el("button", {type: "submit", class: action === "decline" ? "danger" : "primary"}, t("action." + action)));
        form.addEventListener("submit", (ev) => { ev.preventDefault(); step(action, form); });
        box.append(form);
      }
      if (side === "origin" && ["awaiting-choice", "declined"].includes(s.business_status) &&
          ["clinician", "specialist"].includes(user.role)) suggest(s, box);
    }
    /* the requester chooses (again): the recommender's list without those who declined */
    async function suggest(s, box) {
      const declined = new Set(s.decisions.filter(d => d.decision === "declined").map(d => d.practitioner_id));
      try {
        const page = await api(spec.path + id() + spec.suggest);
        const ul = el("ul", {class: "plain", id: "choose-again"});
        for (const item of page.items.filter(i => !declined.has(i.practitioner_id)).slice(0, 5)) {
          const why = (item.reasons || []).slice(0, 2).map((r, k) => phrase("reason", (item.reason_codes || [])[k], r));
          ul.append(el("li", {"data-practitioner": item.practitioner_id},
            el("strong", {text: item.practitioner_name || item.practitioner_id}),
            " · " + instName(item.institution_id) + " · " + t("specialty." + item.specialty),
            el("div", {class: "muted", text: why.join("；")}),
            el("button", {type: "button", class: "small primary", onclick: async (ev) => {
              ev.target.disabled = true;
              try {
                await api(spec.path + id() + "/choose", {body: {practitioner_id: item.practitioner_id, institution_id: item.institution_id}});
                flash(t("referral.sent", {who: item.practitioner_name || item.practitioner_id, inst: instName(item.institution_id)}), "ok");
                load();
              } catch (err) { flash(errorText(err), "error"); ev.target.disabled = false; }
            }}, t("referral.choose"))));
        }
        box.append(el("h3", {text: t("referral.choose_again")}), ul);
      } catch (err) { flash(errorText(err), "error"); }
    }
    async function step(action, form) {
      const body = form.reason ? {reason: form.reason.value} : spec.body(form);
      try {
        await api(spec.path + id() + "/" + action, {body: body || {}});
        flash(t("common.saved"), "ok");
        load();
      } catch (err) { flash(errorText(err), "error"); }
    }
    async function load() {
      try { render(await api(spec.path + id())); }
      catch (err) { flash(errorText(err), "error"); }
    }
    document.addEventListener("DOMContentLoaded", async () => {
      user = requireUser();
      if (!user) return;
      await Promise.all([loadIcd(), loadInstitutions()]);
      load();
    });
    return () => user;
  }

  /** Guard a page: the user must be signed in; pages for other roles say so. */
  function requireUser() {
    const s = session();
    if (!s || !s.user) { location.href = "/console/login"; return null; }
    const who = $("#who");
    if (who) {
      const line = name => s.user.display_name + " · " + t("role." + s.user.role) + " · " + name;
      who.textContent = line(s.user.institution_id);
      loadInstitutions().then(() => {
        const name = instName(s.user.institution_id);
        if (name !== s.user.institution_id) who.textContent = line(name + " " + s.user.institution_id);
      });
    }
    const out = $("#signout");
    if (out) out.hidden = false;
    const nav = $("#nav");
    if (nav) {
      const mine = (window.RC_NAV || {})[s.user.role] || [];
      for (const a of nav.querySelectorAll("a[data-page]")) {
        a.parentElement.hidden = !mine.includes(a.dataset.page);
      }
      nav.hidden = false;
    }
    const roles = (document.body.dataset.roles || "").split(" ").filter(Boolean);
    if (roles.length && !roles.includes(s.user.role) && s.user.role !== "admin") {
      flash(t("error.role_page"), "error");
    }
    return s.user;
  }

  function langLinks() {
    for (const a of document.querySelectorAll("a[data-lang]")) {
      a.addEventListener("click", () => { document.cookie = "rc_lang=" + a.dataset.lang + ";path=/;SameSite=Lax"; });
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    langLinks();
    const out = $("#signout");
    if (out) out.addEventListener("click", signOut);
  });

  window.RC = {t, phrase, api, login, session, signOut, el, $, clear, fmtTime, fmtNum, fmtPct, status, consultMode,
    urgency, flash, errorText, requireUser, diagnosisName, loadIcd, loadInstitutions, instName, inst, regionName, fact, who, subjectPage,
    newKey, ApiError, LANG};
})();
