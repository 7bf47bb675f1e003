// kubedag web view: live updates. The server pushes a server-sent event for every change of a
// DAG, DagRun or Backfill; when one concerns what this page shows, the page fetches itself
// again and swaps in its <main>. No framework, nothing inline (the Content-Security-Policy
// allows scripts from this server's /static only).
"use strict";
(function () {
  var main = document.getElementById("main");
  if (!main || main.dataset.live === "off" || !window.EventSource) { return; }
  var scope = { namespace: main.dataset.namespace, dag: main.dataset.dag, run: main.dataset.run };
  var live = document.getElementById("live");
  var pending = null;
  var fetching = false;
  var again = false;

  function concerns(event) {
    if (event.resync) { return true; }
    if (scope.namespace && event.namespace !== scope.namespace) { return false; }
    if (scope.run) { return event.kind === "DagRun" && event.name === scope.run; }
    if (scope.dag) { return event.dag === scope.dag; }
    return true;
  }

  function refresh() {
    pending = null;
    if (fetching) { again = true; return; }
    var focused = document.activeElement;
    if (focused && main.contains(focused) && /^(INPUT|TEXTAREA|SELECT)$/.test(focused.tagName)) {
      // Someone is filling in a form: refresh once they leave it.
      focused.addEventListener("blur", schedule, { once: true });
      return;
    }
    fetching = true;
    fetch(window.location.href, { headers: { "Accept": "text/html" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (text) {
        if (text === null) { return; }
        var fresh = new DOMParser().parseFromString(text, "text/html").getElementById("main");
        if (fresh) {
          // Keep open <details> (the action forms) open.
          var open = Array.prototype.map.call(main.querySelectorAll("details[open] summary"),
            function (s) { return s.textContent; });
          main.innerHTML = fresh.innerHTML;
          main.querySelectorAll("details summary").forEach(function (s) {
            if (open.indexOf(s.textContent) >= 0) { s.parentElement.open = true; }
          });
          main.dispatchEvent(new CustomEvent("kubedag:refreshed", { bubbles: true }));
        }
      })
      .catch(function () {})
      .then(function () {
        fetching = false;
        if (again) { again = false; schedule(); }
      });
  }

  function schedule() {
    if (pending === null) { pending = window.setTimeout(refresh, 150); }
  }

  var source = new EventSource("/events");
  source.onopen = function () { if (live) { live.classList.add("on"); } };
  source.onerror = function () { if (live) { live.classList.remove("on"); } };
  source.onmessage = function (message) {
    var event;
    try { event = JSON.parse(message.data); } catch (e) { return; }
    if (concerns(event)) { schedule(); }
  };
})();
