// cosched dashboard: refreshes the <main> of a page that asks for it
// (data-refresh="SECONDS") while the tab is visible. No dependencies;
// served from the binary under the page's Content-Security-Policy.
(function () {
  "use strict";
  var main = document.getElementById("main");
  if (!main || !main.dataset.refresh) {
    return;
  }
  var every = Math.max(2, parseInt(main.dataset.refresh, 10) || 5) * 1000;
  var busy = false;

  function interacting() {
    // Never replace what the reader is using: an open <details> or a
    // focused form field.
    var active = document.activeElement;
    return main.querySelector("details[open]") !== null ||
      (active && active !== document.body && main.contains(active) &&
        /^(INPUT|SELECT|TEXTAREA|BUTTON)$/.test(active.tagName));
  }

  function refresh() {
    if (busy || document.visibilityState !== "visible" || interacting()) {
      return;
    }
    busy = true;
    fetch(window.location.href, { credentials: "same-origin", cache: "no-cache" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (text) {
        if (text === null) { return; }
        var doc = new DOMParser().parseFromString(text, "text/html");
        var fresh = doc.getElementById("main");
        if (fresh) { main.replaceChildren.apply(main, Array.from(fresh.childNodes)); }
      })
      .catch(function () { /* the next tick tries again */ })
      .then(function () { busy = false; });
  }

  window.setInterval(refresh, every);
  document.addEventListener("visibilitychange", refresh);
})();
