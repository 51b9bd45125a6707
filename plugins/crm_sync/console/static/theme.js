// Follow Airflow's colour mode: the parent UI's <html class="dark"> when shown inside it,
// else Airflow's stored choice ("theme" in localStorage), else the system preference.
(function () {
  "use strict";
  var root = document.documentElement;
  function stored() {
    try { return window.localStorage.getItem("theme"); } catch (e) { return null; }
  }
  function parentHtml() {
    try {
      return window.parent !== window ? window.parent.document.documentElement : null;
    } catch (e) { return null; }
  }
  function resolve() {
    var host = parentHtml();
    if (host && (host.classList.contains("dark") || host.classList.contains("light"))) {
      return host.classList.contains("dark") ? "dark" : "light";
    }
    var choice = stored();
    if (choice === "dark" || choice === "light") { return choice; }
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }
  function apply() { root.dataset.theme = resolve(); }
  apply();
  var host = parentHtml();
  if (host && window.MutationObserver) {
    new MutationObserver(apply).observe(host, { attributes: true, attributeFilter: ["class"] });
  }
  window.addEventListener("storage", apply);
})();
