// Loaded into the worker and web (NODE_OPTIONS=--import) by the benchmark only.
// It records how late a 50 ms timer fires on the main thread: a timer that
// fires late means the event loop was blocked, and an activity heartbeat
// (a setInterval on the same loop) is late by as much. Lines "<epoch ms> <late ms>"
// go to BENCH_LOOP_PROBE_DIR/<pid>.txt; nothing is written while the loop is fine.
// <pid>.clock pairs wall time with the monotonic clock CPU profiles use;
// on SIGWINCH every isolate of the process (main thread and worker threads, the
// Temporal worker's workflow threads among them: node runs --import in each)
// writes its heap to <pid>.mem.<threadId>.json.
import fs from 'node:fs';
import path from 'node:path';
import v8 from 'node:v8';
import { BroadcastChannel, isMainThread, threadId } from 'node:worker_threads';

const dir = process.env.BENCH_LOOP_PROBE_DIR;
if (dir) {
  // Signals reach the main thread only; it passes the request on to the other isolates.
  const channel = new BroadcastChannel('bench-loop-probe-memory');
  channel.unref();
  const report = () => {
    const m = process.memoryUsage(); // heapUsed, heapTotal and external are this isolate's
    // heapTotal is reserved; total_physical_size is the part of it in memory, the part RSS counts.
    const physical = v8.getHeapStatistics().total_physical_size;
    const body = { main: isMainThread, heapUsed: m.heapUsed, heapTotal: m.heapTotal, physical, external: m.external };
    fs.writeFile(path.join(dir, `${process.pid}.mem.${threadId}.json`), JSON.stringify(body), () => {});
  };
  channel.onmessage = report;
  if (isMainThread) {
    // On request only, as writing a file every second showed up in the web's profile.
    // SIGWINCH because its default is to be ignored (Temporal's runtime shuts the
    // worker down on SIGUSR2, and SIGUSR1 starts the inspector).
    process.on('SIGWINCH', () => {
      report();
      channel.postMessage('report');
    });
  }
}
if (isMainThread && dir) {
  const file = path.join(dir, `${process.pid}.txt`);
  // Maps the monotonic clock of --cpu-prof samples (µs) to wall time, for bench/profileSummary.ts --window.
  fs.writeFileSync(path.join(dir, `${process.pid}.clock`), `${Date.now()} ${process.hrtime.bigint() / 1000n}\n`);
  const every = 50;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    const late = now - last - every;
    last = now;
    if (late >= 20) fs.appendFileSync(file, `${Date.now()} ${Math.round(late)}\n`);
  }, every);
  timer.unref();
}
