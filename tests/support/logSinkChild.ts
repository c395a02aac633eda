/**
 * A worker stand-in for the log crash test, run with `node --import tsx`:
 *   logSinkChild.ts <dbFile> <jobId>
 * writes numbered lines into a LogSink as fast as it can, in bursts like reads
 * of a pipe, and prints `acked <seq>` each time the sink's acknowledged seq
 * moves, until it is killed.
 */
import { LogSink } from '../../src/activities/logSink.js';
import { createDb } from '../../src/db/database.js';

const [file, jobId] = process.argv.slice(2);
const sink = new LogSink({ db: createDb(file), jobId, step: 'apply', attempt: 1 });
let acked = 0;
setInterval(() => {
  if (sink.lastSeq === acked) return;
  acked = sink.lastSeq;
  process.stdout.write(`acked ${acked}\n`);
}, 1);
let n = 0;
const burst = () => {
  // Bounded like the runner's pipes: no more than a few thousand lines waiting.
  if (sink.pending < 5_000) for (let i = 0; i < 300; i++) sink.write('stdout', `line ${++n}`);
  setImmediate(burst);
};
burst();
