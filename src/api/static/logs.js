// Live log viewer. Lines arrive over Server-Sent Events from
// /api/jobs/:id/logs/stream (each event's id is the line's seq, so the
// browser's automatic reconnect resumes with Last-Event-ID). The box keeps at
// most MAX_LINES lines in the DOM while it follows the tail; older lines are
// paged in from /api/jobs/:id/logs on request, so 100,000 lines stay fast.
(() => {
  var box = document.getElementById('log-box');
  if (!box) return;
  var jobId = box.dataset.jobId;
  var olderBtn = document.getElementById('log-older');
  var jumpBtn = document.getElementById('log-jump');
  var stateEl = document.getElementById('log-state');
  var base = `/api/jobs/${encodeURIComponent(jobId)}/logs`;

  var MAX_LINES = 2000; // in the DOM while following the tail
  var MAX_BROWSE = 6000; // in the DOM while reading older lines
  var PAGE = 1000; // lines per "Load older lines"
  var FINAL = ['cancelled', 'rejected', 'destroyed'];

  var firstSeq = 0; // seq of the first line in the DOM
  var renderedLast = 0; // seq of the last line in the DOM
  var lastSeq = 0; // newest seq received
  var follow = true; // keep the newest line in view
  var detached = false; // newer lines exist than the DOM shows (reader is browsing)
  var busy = false; // a page fetch is rewriting the DOM
  var pending = [];
  var scheduled = false;
  var es = null;
  var pollTimer = null;
  var stateText = '';
  var unseen = 0; // lines received while the reader was not following

  function syncEnds() {
    firstSeq = box.firstElementChild ? Number(box.firstElementChild.dataset.seq) : 0;
    renderedLast = box.lastElementChild ? Number(box.lastElementChild.dataset.seq) : 0;
  }
  syncEnds();
  lastSeq = renderedLast;

  function setState(text) {
    if (text === stateText) return;
    stateText = text;
    stateEl.textContent = text;
  }

  function lineEl(l) {
    var div = document.createElement('div');
    var inst = l.stream === 'instance';
    div.className = inst ? 'll inst' : l.stream === 'stderr' ? 'll err' : 'll';
    div.dataset.seq = String(l.seq);
    var s = document.createElement('span');
    s.className = 'ls';
    s.textContent = inst ? 'instance' : l.step || '';
    var t = document.createElement('span');
    t.className = 'lt';
    t.textContent = l.line == null ? '' : String(l.line);
    div.appendChild(s);
    div.appendChild(t);
    return div;
  }

  function fragmentOf(lines) {
    var frag = document.createDocumentFragment();
    for (var i = 0; i < lines.length; i++) frag.appendChild(lineEl(lines[i]));
    return frag;
  }

  function nearBottom() {
    return box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  }

  function toBottom() {
    box.scrollTop = box.scrollHeight;
  }

  function updateButtons() {
    olderBtn.hidden = !(firstSeq > 1);
    var showJump = !follow || detached;
    jumpBtn.hidden = !showJump;
    if (!showJump) unseen = 0;
    else jumpBtn.textContent = unseen > 0 ? `Jump to latest (${unseen.toLocaleString()} new)` : 'Jump to latest';
  }

  // Removes the first n lines in one operation.
  function dropTop(n) {
    if (n <= 0 || !box.firstElementChild) return;
    var range = document.createRange();
    range.setStartBefore(box.firstElementChild);
    range.setEndAfter(box.children[Math.min(n, box.children.length) - 1]);
    range.deleteContents();
  }

  function dropBottom(n) {
    if (n <= 0 || !box.lastElementChild) return;
    var range = document.createRange();
    range.setStartBefore(box.children[Math.max(box.children.length - n, 0)]);
    range.setEndAfter(box.lastElementChild);
    range.deleteContents();
  }

  function flush() {
    scheduled = false;
    if (busy || pending.length === 0) return;
    var batch = pending.filter((l) => l.seq > renderedLast);
    pending = [];
    if (batch.length === 0) return;
    var gap = box.childElementCount > 0 && batch[0].seq !== renderedLast + 1;
    if (!follow) {
      // The reader is looking at older lines: never move them. New lines go below while the box has room;
      // beyond that the jump button takes over.
      if (!detached && !gap) {
        var room = MAX_BROWSE - box.childElementCount;
        if (room > 0) box.appendChild(fragmentOf(batch.slice(0, room)));
        if (batch.length > room) detached = true;
        syncEnds();
      } else detached = true;
      updateButtons();
      return;
    }
    if (gap || batch.length >= MAX_LINES) {
      box.textContent = '';
      if (batch.length > MAX_LINES) batch = batch.slice(-MAX_LINES);
    }
    box.appendChild(fragmentOf(batch));
    dropTop(box.childElementCount - MAX_LINES);
    syncEnds();
    toBottom();
    updateButtons();
  }

  function schedule() {
    if (scheduled) return;
    scheduled = true;
    if (document.hidden || !window.requestAnimationFrame) window.setTimeout(flush, 200);
    else window.requestAnimationFrame(flush);
  }

  function receive(l) {
    if (!l || typeof l.seq !== 'number' || l.seq <= lastSeq) return;
    lastSeq = l.seq;
    if (!follow || detached) unseen++;
    pending.push(l);
    // A burst larger than the box can show: keep only what could still be rendered.
    if (pending.length > 3 * MAX_LINES) pending.splice(0, pending.length - MAX_LINES);
    if (!follow || detached) updateButtons();
    schedule();
  }

  function receiveData(data) {
    if (Array.isArray(data)) data.forEach(receive);
    else if (data && Array.isArray(data.lines)) data.lines.forEach(receive);
    else receive(data);
  }

  // Up to `count` lines after `after`, following the API's pages.
  function fetchRange(after, count) {
    var out = [];
    function next(cursor) {
      var want = Math.min(1000, count - out.length);
      if (want <= 0) return Promise.resolve(out);
      return fetch(`${base}?after=${cursor}&limit=${want}`, {
        headers: { accept: 'application/json' },
        credentials: 'same-origin',
      })
        .then((res) => {
          if (!res.ok) throw new Error(`the server answered ${res.status}`);
          return res.json();
        })
        .then((data) => {
          var lines = data && Array.isArray(data.lines) ? data.lines : [];
          if (lines.length === 0) return out;
          out.push.apply(out, lines);
          return next(lines[lines.length - 1].seq);
        });
    }
    return next(after);
  }

  box.addEventListener(
    'scroll',
    () => {
      if (busy) return;
      if (nearBottom()) {
        if (!detached) follow = true;
      } else follow = false;
      updateButtons();
    },
    { passive: true },
  );

  jumpBtn.addEventListener('click', () => {
    follow = true;
    if (!detached) {
      dropTop(box.childElementCount - MAX_LINES);
      syncEnds();
      toBottom();
      updateButtons();
      box.focus();
      return;
    }
    busy = true;
    jumpBtn.disabled = true;
    fetchRange(Math.max(0, lastSeq - MAX_LINES), MAX_LINES)
      .then((lines) => {
        box.textContent = '';
        box.appendChild(fragmentOf(lines.slice(-MAX_LINES)));
        syncEnds();
        if (renderedLast > lastSeq) lastSeq = renderedLast;
        detached = false;
      })
      .catch((err) => {
        setState(`Could not load the latest lines: ${err.message}`);
      })
      .then(() => {
        busy = false;
        jumpBtn.disabled = false;
        toBottom();
        updateButtons();
        box.focus();
        flush();
      });
  });

  olderBtn.addEventListener('click', () => {
    if (busy || firstSeq <= 1) return;
    busy = true;
    olderBtn.disabled = true;
    var until = firstSeq;
    var after = Math.max(0, until - 1 - PAGE);
    fetchRange(after, until - 1 - after)
      .then((lines) => {
        lines = lines.filter((l) => l.seq < until);
        var boundary = box.firstElementChild;
        box.insertBefore(fragmentOf(lines), box.firstChild);
        follow = false;
        // Show where the loaded page meets what was there: its last lines above, the old first line below.
        if (boundary) {
          box.scrollTop += boundary.getBoundingClientRect().top - box.getBoundingClientRect().top - box.clientHeight / 3;
        }
        var extra = box.childElementCount - MAX_BROWSE;
        if (extra > 0) {
          dropBottom(extra);
          detached = true;
        }
        syncEnds();
      })
      .catch((err) => {
        setState(`Could not load older lines: ${err.message}`);
      })
      .then(() => {
        busy = false;
        olderBtn.disabled = false;
        updateButtons();
        schedule();
      });
  });

  // Fallback when the stream is unavailable: ask for new lines every second.
  function poll() {
    fetchRange(lastSeq, 5000)
      .then((lines) => {
        lines.forEach(receive);
        setState('Live (polling)');
        pollTimer = window.setTimeout(poll, 1000);
      })
      .catch(() => {
        setState('Live updates unavailable; reload the page for new lines.');
      });
  }

  function connect() {
    if (box.dataset.live !== '1') return;
    if (!window.EventSource) {
      poll();
      return;
    }
    es = new EventSource(`${base}/stream?after=${lastSeq}`);
    es.onopen = () => {
      setState('Live');
    };
    es.onerror = () => {
      if (es.readyState === EventSource.CLOSED) {
        es = null;
        poll();
      } else setState('Reconnecting…');
    };
    es.onmessage = (e) => {
      try {
        receiveData(JSON.parse(e.data));
      } catch {
        /* not a line */
      }
    };
    es.addEventListener('status', (e) => {
      var detail = {};
      try {
        detail = JSON.parse(e.data) || {};
      } catch {
        /* keep empty */
      }
      document.dispatchEvent(new CustomEvent('job:status', { detail: detail }));
      if (FINAL.indexOf(detail.status) !== -1) stopSoon();
    });
    es.addEventListener('end', () => {
      // Settled: the stream is over until something starts again (job.js keeps looking, and job:refreshed reconnects).
      box.dataset.live = '0';
      stop('');
    });
  }

  function stop(text) {
    if (es) es.close();
    es = null;
    window.clearTimeout(pollTimer);
    setState(text);
  }

  // A finished job writes no more lines; let the last ones arrive, then hang up.
  function stopSoon() {
    window.setTimeout(() => {
      stop('');
    }, 2000);
  }

  document.addEventListener('job:refreshed', (e) => {
    if (e.detail && FINAL.indexOf(e.detail.status) !== -1) stopSoon();
    else if (!es && !pollTimer && e.detail?.active && box.dataset.live !== '1') {
      box.dataset.live = '1';
      connect();
    }
  });

  // Which source the reader wants to see: CSS hides the others, so no line is ever dropped.
  var sourceSelect = document.getElementById('log-source');
  if (sourceSelect) {
    sourceSelect.addEventListener('change', () => {
      box.dataset.source = sourceSelect.value;
      if (follow) toBottom();
    });
  }

  toBottom();
  updateButtons();
  connect();
})();
