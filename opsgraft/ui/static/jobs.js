// Live job panels: every element with data-job-id streams its job's server-sent events.
// Events are JSON {type, message, status?, done?, total?}; "end" closes the stream and, when the
// panel has data-done-url, loads that fragment into its .job-result (with htmx).
(function () {
  function attach(panel) {
    if (panel.dataset.attached) return;
    panel.dataset.attached = "1";
    const id = panel.dataset.jobId;
    const log = panel.querySelector(".job-log");
    const statusEl = panel.querySelector(".job-status");
    const bar = panel.querySelector(".job-progress");
    const source = new EventSource("/jobs/" + encodeURIComponent(id) + "/events");
    source.onmessage = function (msg) {
      const ev = JSON.parse(msg.data);
      if (ev.message && log) { log.textContent += ev.message + "\n"; log.scrollTop = log.scrollHeight; }
      if (ev.status && statusEl) { statusEl.textContent = ev.status; panel.dataset.status = ev.status; }
      if (bar && typeof ev.total === "number" && ev.total > 0) { bar.max = ev.total; bar.value = ev.done || 0; }
    };
    source.addEventListener("end", function (msg) {
      source.close();
      const end = JSON.parse(msg.data);
      panel.dataset.status = end.status;
      if (statusEl) statusEl.textContent = end.status;
      const cancel = panel.querySelector(".job-cancel");
      if (cancel) cancel.disabled = true;
      const url = panel.dataset.doneUrl;
      const target = panel.querySelector(".job-result");
      if (url && target && window.htmx) {
        htmx.ajax("GET", url, { target: target, swap: "innerHTML" }).then(function () {
          panel.dataset.loaded = "1";
        });
      } else {
        panel.dataset.loaded = "1";
      }
    });
    source.onerror = function () { if (panel.dataset.status && panel.dataset.loaded) source.close(); };
  }
  function scan(root) {
    root = root || document;
    if (root.matches && root.matches("[data-job-id]")) attach(root);  // htmx:load fires on the swapped element itself
    if (root.querySelectorAll) root.querySelectorAll("[data-job-id]").forEach(attach);
  }
  document.addEventListener("DOMContentLoaded", function () { scan(document); });
  document.addEventListener("htmx:load", function (e) { scan(e.target); });
})();
