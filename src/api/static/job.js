// Job page: keeps status, actions, steps and outputs current while the job runs.
// The server answers 204 while nothing changed, so the poll is cheap; a status
// event from the log stream (logs.js) triggers an immediate refresh.
(() => {
  var live = document.getElementById('job-live');
  if (!live || !window.fetch) return;
  var jobId = live.dataset.jobId;
  var version = live.dataset.version || '';
  var active = live.dataset.active === '1';
  var status = live.dataset.status || '';
  var EVERY_MS = 2000;
  // A draft may be started elsewhere (the API, another tab): look now and then, and go live when it is.
  var DRAFT_EVERY_MS = 3000;
  // A live environment waits, its log stream closed: someone may destroy or change it from elsewhere.
  var SETTLED_EVERY_MS = 10000;
  var timer = null;
  var inflight = false;
  var again = false;

  // Never throw away what someone is typing (an approval comment, a rejection reason).
  function typing() {
    var el = document.activeElement;
    return !!el && live.contains(el) && (el.tagName === 'INPUT' || el.tagName === 'TEXTAREA') && el.value !== '';
  }

  function schedule() {
    window.clearTimeout(timer);
    if (active) timer = window.setTimeout(refresh, EVERY_MS);
    else if (status === 'draft') timer = window.setTimeout(refresh, DRAFT_EVERY_MS);
    else if (status === 'succeeded' || status === 'failed') timer = window.setTimeout(refresh, SETTLED_EVERY_MS);
  }

  function refresh() {
    if (inflight) {
      again = true;
      return;
    }
    inflight = true;
    window.clearTimeout(timer);
    fetch(`/jobs/${encodeURIComponent(jobId)}/parts?v=${encodeURIComponent(version)}`, {
      headers: { accept: 'text/html' },
      credentials: 'same-origin',
    })
      .then((res) => {
        var now = res.headers.get('X-Job-Status') || status;
        if (status === 'draft' && now !== 'draft') {
          // Started meanwhile: the whole page (its log stream, the Temporal link) belongs to a live job now.
          window.location.reload();
          return;
        }
        status = now;
        active = res.headers.get('X-Live-Active') === '1';
        if (res.status !== 200 || typing()) return;
        return res.text().then((html) => {
          var focusedId = document.activeElement && live.contains(document.activeElement) ? document.activeElement.id : '';
          live.innerHTML = html;
          version = res.headers.get('X-Live-Version') || '';
          var status = res.headers.get('X-Job-Status') || '';
          live.dataset.version = version;
          live.dataset.status = status;
          live.dataset.active = active ? '1' : '0';
          if (focusedId && document.getElementById(focusedId)) document.getElementById(focusedId).focus();
          document.dispatchEvent(new CustomEvent('job:refreshed', { detail: { status: status, active: active } }));
        });
      })
      .catch(() => {
        /* network hiccup: the next tick tries again */
      })
      .then(() => {
        inflight = false;
        if (again) {
          again = false;
          refresh();
        } else schedule();
      });
  }

  document.addEventListener('job:status', () => {
    active = true;
    refresh();
  });
  schedule();
})();
