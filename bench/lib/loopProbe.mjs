// Loaded into the worker and web (NODE_OPTIONS=--import) by the benchmark only.
// It records how late a 50 ms timer fires on the main thread: a timer that
// fires late means the event loop was blocked, and an activity heartbeat
// (a setInterval on the same loop) is late by as much. Lines "<epoch ms> <late ms>"
// go to BENCH_LOOP_PROBE_DIR/<pid>.txt; nothing is written while the loop is fine.
// <pid>.clock pairs wall time with the monotonic clock CPU profiles use;
// <pid>.mem.json gets process.memoryUsage() on SIGWINCH.
import fs from 'node:fs';
import path from 'node:path';
import { isMainThread } from 'node:worker_threads';

const dir = process.env.BENCH_LOOP_PROBE_DIR;
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
  // The main isolate's share of the memory, for the memory figures' breakdown: on
  // request only, as writing a file every second showed up in the web's profile.
  // SIGWINCH because its default is to be ignored (Temporal's runtime shuts the
  // worker down on SIGUSR2, and SIGUSR1 starts the inspector).
  process.on('SIGWINCH', () => {
    fs.writeFile(path.join(dir, `${process.pid}.mem.json`), JSON.stringify(process.memoryUsage()), () => {});
  });
}
