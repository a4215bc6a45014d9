// doorman dashboard: live updates, no dependencies. A page with a
// [data-live-fragment] element listens to /app/live (server-sent events of
// the log entries the signed-in user may see, resuming after
// data-live-after) and, on each one, fetches the fragment again and swaps
// it in. The status line (aria-live) says what happened.
(function () {
  "use strict";
  // A form marked data-confirm asks before it is sent (removals, cancels).
  document.addEventListener("submit", function (e) {
    var question = e.target.getAttribute && e.target.getAttribute("data-confirm");
    if (question && !window.confirm(question)) e.preventDefault();
  });
  var box = document.querySelector("[data-live-fragment]");
  if (!box || !window.EventSource) return;
  var status = document.getElementById("live-status");
  var after = box.getAttribute("data-live-after") || "";
  var source = new EventSource("/app/live" + (after ? "?after=" + encodeURIComponent(after) : ""));
  var fetching = false, again = false;
  function refresh() {
    if (fetching) { again = true; return; }
    fetching = true;
    fetch(box.getAttribute("data-live-fragment"), { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.text(); })
      .then(function (html) { box.innerHTML = html; })
      .catch(function () { if (status) status.textContent = "Could not refresh; reload the page to see the latest."; })
      .then(function () { fetching = false; if (again) { again = false; refresh(); } });
  }
  source.onmessage = function (e) {
    if (status) status.textContent = "Just now: " + e.data;
    refresh();
  };
  source.onopen = function () { box.setAttribute("data-live", "connected"); };
})();
