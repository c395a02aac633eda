// Dashboard: rows of running jobs refresh themselves, no reload needed.
(() => {
  var tbody = document.getElementById('job-rows');
  if (!tbody || !window.fetch || !window.DOMParser) return;
  var EVERY_MS = 3000;

  function activeIds() {
    return Array.prototype.map.call(tbody.querySelectorAll('tr[data-active="1"]'), (tr) => tr.dataset.jobId);
  }

  function tick() {
    var ids = activeIds();
    if (ids.length === 0) return; // nothing can change by itself any more
    fetch(`/jobs/rows?ids=${encodeURIComponent(ids.join(','))}`, {
      headers: { accept: 'text/html' },
      credentials: 'same-origin',
    })
      .then((res) => (res.ok ? res.text() : null))
      .then((html) => {
        if (html === null) return;
        var doc = new DOMParser().parseFromString(html, 'text/html');
        doc.querySelectorAll('tr[data-job-id]').forEach((fresh) => {
          var old = tbody.querySelector(`tr[data-job-id="${CSS.escape(fresh.dataset.jobId)}"]`);
          if (old && old.outerHTML !== fresh.outerHTML) old.replaceWith(document.importNode(fresh, true));
        });
      })
      .catch(() => {
        /* try again on the next tick */
      })
      .then(() => {
        window.setTimeout(tick, EVERY_MS);
      });
  }

  window.setTimeout(tick, EVERY_MS);
})();
