// The console's few interactions: links into Airflow's own pages, replay, dismiss, sync now.
(function () {
  "use strict";
  var root = document.body.dataset.root || "";

  // Inside Airflow's UI the console is an iframe that may not navigate the top window itself;
  // an anchor created in the parent document may, so links to Airflow pages open there.
  document.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-top]");
    if (!link || window.parent === window) { return; }
    try {
      var anchor = window.parent.document.createElement("a");
      anchor.href = link.href;
      window.parent.document.body.appendChild(anchor);
      anchor.click();
      anchor.remove();
      event.preventDefault();
    } catch (e) {
      // Not same-origin with the parent: let the browser follow the link in the frame.
    }
  });

  function flash(text, kind) {
    var box = document.getElementById("flash");
    box.textContent = text;
    box.className = "flash " + (kind || "ok");
    box.hidden = false;
  }

  function post(path, body) {
    return fetch(root + path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          var detail = typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail || data);
          throw new Error(response.status + ": " + detail);
        }
        return data;
      });
    });
  }

  function busy(button, promise, done) {
    button.disabled = true;
    return promise.then(done).catch(function (error) {
      flash("Refused: " + error.message, "error");
    }).finally(function () { button.disabled = false; });
  }

  function reloadSoon() { window.setTimeout(function () { window.location.reload(); }, 1500); }

  var form = document.getElementById("quarantine-form");
  function selected() {
    return Array.prototype.map.call(form.querySelectorAll("input[name=ids]:checked"), function (box) {
      return parseInt(box.value, 10);
    });
  }
  if (form) {
    document.getElementById("select-all").addEventListener("change", function (event) {
      form.querySelectorAll("input[name=ids]").forEach(function (box) { box.checked = event.target.checked; });
    });
    document.getElementById("replay-selected").addEventListener("click", function (event) {
      var ids = selected();
      if (!ids.length) { flash("Select the records to replay first.", "error"); return; }
      busy(event.target, post("/api/quarantine/replay", { object: form.dataset.object, ids: ids }), function (data) {
        flash("Replaying " + data.ids.length + " record(s) in DAG run " + data.dag_run_id + ".", "ok");
        reloadSoon();
      });
    });
    document.getElementById("dismiss-selected").addEventListener("click", function (event) {
      var ids = selected();
      var note = document.getElementById("dismiss-note").value.trim();
      if (!ids.length) { flash("Select the records to dismiss first.", "error"); return; }
      if (!note) { flash("Say why the records are dismissed.", "error"); return; }
      busy(event.target, post("/api/quarantine/dismiss", { object: form.dataset.object, ids: ids, note: note }),
        function (data) { flash("Dismissed " + data.settled + " record(s).", "ok"); reloadSoon(); });
    });
  }
  document.querySelectorAll("button.replay-reason").forEach(function (button) {
    button.addEventListener("click", function () {
      busy(button, post("/api/quarantine/replay", { object: button.dataset.object, reason: button.dataset.reason }),
        function (data) {
          flash("Replaying " + data.ids.length + " record(s) in DAG run " + data.dag_run_id + ".", "ok");
          reloadSoon();
        });
    });
  });
  var syncNow = document.getElementById("sync-now");
  if (syncNow) {
    syncNow.addEventListener("click", function () {
      busy(syncNow, post("/api/records/" + encodeURIComponent(syncNow.dataset.sfId) + "/sync",
        { object: syncNow.dataset.object }), function (data) {
        flash("Syncing in DAG run " + data.dag_run_id + ".", "ok");
      });
    });
  }
})();
