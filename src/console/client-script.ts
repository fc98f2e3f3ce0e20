/**
 * The console's only script, served as /console/app.js (a static string: no build step). It
 * keeps the operator key in sessionStorage (gone when the tab closes; never a cookie, never in
 * a URL), sends it as `Authorization: Bearer` with every fragment request, and swaps the HTML
 * the server renders into the page. Views are addressed by the URL's fragment (#/quarantine),
 * which the browser never sends to a server.
 */
export const CLIENT_SCRIPT = String.raw`"use strict";
(function () {
  var STORAGE = "vaa.operatorKey";
  var DEFAULT_VIEW = "/quarantine";
  var login = document.getElementById("login");
  var loginForm = document.getElementById("login-form");
  var loginError = document.getElementById("login-error");
  var keyInput = document.getElementById("operator-key");
  var app = document.getElementById("app");
  var view = document.getElementById("view");
  var status = document.getElementById("status");
  var refreshTimer = null;

  function key() { return sessionStorage.getItem(STORAGE); }

  function showLogin(message) {
    sessionStorage.removeItem(STORAGE);
    clearTimeout(refreshTimer);
    app.hidden = true;
    login.hidden = false;
    view.textContent = "";
    loginError.textContent = message || "";
    keyInput.value = "";
    keyInput.focus();
  }

  function currentView() {
    var path = location.hash.slice(1);
    // Only a view path: no scheme, no host, nothing the server would read as another origin.
    return /^\/[A-Za-z0-9_\-\/]*(\?[A-Za-z0-9_\-=&%.~+]*)?$/.test(path) ? path : DEFAULT_VIEW;
  }

  function markNav(path) {
    var links = document.querySelectorAll("#views a");
    for (var i = 0; i < links.length; i++) {
      var target = links[i].getAttribute("href").slice(1);
      if (path === target || path.indexOf(target + "/") === 0 || path.indexOf(target + "?") === 0) links[i].setAttribute("aria-current", "page");
      else links[i].removeAttribute("aria-current");
    }
  }

  // Fetches a fragment with the key and shows it; false when the key was refused.
  async function show(url, init) {
    clearTimeout(refreshTimer);
    var headers = { "Authorization": "Bearer " + key(), "Accept": "text/html" };
    if (init && init.body) headers["Content-Type"] = "application/x-www-form-urlencoded";
    status.textContent = "Loading…";
    view.setAttribute("aria-busy", "true");
    var response;
    try {
      response = await fetch(url, { method: (init && init.method) || "GET", headers: headers, body: init && init.body, credentials: "omit", cache: "no-store", redirect: "error" });
    } catch (error) {
      status.textContent = "The server did not answer: is it running?";
      view.removeAttribute("aria-busy");
      return true;
    }
    var html = await response.text();
    view.removeAttribute("aria-busy");
    status.textContent = "";
    if (response.status === 401 || response.status === 403) {
      var holder = document.createElement("div");
      holder.innerHTML = html;
      var refused = holder.querySelector("[role=alert]");
      showLogin(refused ? refused.textContent : "The key was refused.");
      return false;
    }
    login.hidden = true;
    app.hidden = false;
    view.innerHTML = html;
    var root = view.querySelector("[data-view]");
    if (root) {
      var path = root.getAttribute("data-view");
      if (currentView().split("?")[0] !== path) history.replaceState(null, "", "#" + path);
      markNav(path);
      var refresh = Number(root.getAttribute("data-refresh-ms"));
      if (refresh > 0) refreshTimer = setTimeout(function () { show("/console/fragments" + currentView()); }, refresh);
    }
    var focus = view.querySelector("[role=alert], [role=status], h2");
    if (focus && init && init.method === "POST") { if (!focus.hasAttribute("tabindex")) focus.setAttribute("tabindex", "-1"); focus.focus(); }
    return true;
  }

  function load() { return show("/console/fragments" + currentView()); }

  loginForm.addEventListener("submit", async function (event) {
    event.preventDefault();
    var value = keyInput.value.trim();
    if (!value) { loginError.textContent = "Enter the operator key."; return; }
    sessionStorage.setItem(STORAGE, value);
    keyInput.value = "";
    loginError.textContent = "";
    if (await load()) { var heading = view.querySelector("h2"); if (heading) heading.focus(); }
  });

  document.getElementById("logout").addEventListener("click", function () { showLogin("Logged out: the key is forgotten."); });

  view.addEventListener("submit", function (event) {
    var form = event.target;
    event.preventDefault();
    var confirmButton = form.querySelector("[data-confirm]");
    if (confirmButton && !confirm(confirmButton.getAttribute("data-confirm"))) return;
    var fields = new URLSearchParams(new FormData(form));
    if ((form.getAttribute("method") || "get").toLowerCase() === "get") {
      var query = new URLSearchParams();
      fields.forEach(function (value, name) { if (value) query.set(name, value); });
      var search = query.toString();
      location.hash = "#" + form.getAttribute("data-view") + (search ? "?" + search : "");
      return;
    }
    var buttons = form.querySelectorAll("button");
    for (var i = 0; i < buttons.length; i++) buttons[i].disabled = true;
    show(form.getAttribute("action"), { method: "POST", body: fields.toString() });
  });

  view.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("[data-reload]")) load();
  });

  window.addEventListener("hashchange", function () { if (key()) load(); });

  if (key()) load(); else showLogin("");
})();
`;
