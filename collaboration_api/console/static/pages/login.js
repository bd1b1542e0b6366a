/* Login: OAuth2 password flow at /auth/token, then to the role's first page. */
(function () {
  "use strict";
  const PATHS = {referral_new: "/console/referrals/new", referrals: "/console/referrals",
    consults: "/console/consults", scheduler: "/console/scheduler", calendar: "/console/calendar",
    worklist: "/console/worklist", supervision: "/console/supervision", audit: "/console/audit",
    models: "/console/models", teaching: "/console/teaching"};
  document.addEventListener("DOMContentLoaded", () => {
    const form = RC.$("#login-form");
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const user = form.username.value.trim(), pass = form.password.value;
      if (!user || !pass) { RC.flash(RC.t("login.missing"), "error"); return; }
      const button = form.querySelector("button");
      button.disabled = true;
      try {
        const me = await RC.login(user, pass);
        location.href = PATHS[window.RC_HOME[me.role]] || "/console/referrals";
      } catch (err) {
        RC.flash(err.status === 401 ? RC.t("login.failed") : RC.errorText(err), "error");
        button.disabled = false;
        form.password.focus();
      }
    });
  });
})();
