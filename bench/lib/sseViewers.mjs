// Many browsers watching live logs, in a process of their own (so their work is not the web's, nor
// the writer's): opens `viewers` SSE streams spread over `jobs`, prints "OPEN" once every stream has
// its first event, then reads until each has received `expect` lines of its job or `timeoutMs`
// passes. A line's text is "t=<epoch ms written> ...". One process stands for hundreds of browsers,
// so it reads cheaply: events are counted on the raw bytes, and the latency is taken from the first
// (oldest) line of each chunk as it arrives, minus its written time. Prints "RESULT <json>".
import http from 'node:http';

const [url, token, jobsJson, viewersArg, expectArg, timeoutArg] = process.argv.slice(2);
const jobs = JSON.parse(jobsJson);
const viewers = Number(viewersArg);
const expect = Number(expectArg);
const timeoutMs = Number(timeoutArg);
const agent = new http.Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY });

const EVENT_END = Buffer.from('\n\n');
const T = Buffer.from('t=');
const latencies = [];
let opened = 0;
const results = [];

function watch(jobId) {
  return new Promise((resolve) => {
    let lines = 0;
    let lastSeq = 0;
    let first = true;
    let rest = Buffer.alloc(0);
    const req = http.get(
      `${url}/api/jobs/${jobId}/logs/stream`,
      { agent, headers: { authorization: `Bearer ${token}` } },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          return done(`stream of ${jobId}: ${res.statusCode}`);
        }
        res.on('data', (chunk) => {
          const now = Date.now();
          if (first) {
            first = false;
            if (++opened === viewers) console.log('OPEN');
          }
          const buf = rest.length ? Buffer.concat([rest, chunk]) : chunk;
          const t = buf.indexOf(T);
          if (t >= 0) latencies.push(now - Number(buf.toString('latin1', t + 2, t + 15)));
          let from = 0;
          let lastId = -1;
          for (let cut = buf.indexOf(EVENT_END, from); cut >= 0; cut = buf.indexOf(EVENT_END, from)) {
            // A line event is "id: N\ndata: ..." (status and end events have no id).
            if (buf[from] === 0x69 /* i */ && buf[from + 1] === 0x64 /* d */) {
              lines++;
              lastId = from;
            }
            from = cut + 2;
          }
          if (lastId >= 0) {
            const nl = buf.indexOf(0x0a, lastId);
            lastSeq = Number(buf.toString('latin1', lastId + 4, nl));
          }
          rest = buf.subarray(from);
          if (lines >= expect) {
            req.destroy();
            done();
          }
        });
        res.on('end', () => done());
        res.on('error', () => done());
      },
    );
    req.on('error', (err) => done(String(err)));
    const timer = setTimeout(() => {
      req.destroy();
      done();
    }, timeoutMs);
    let finished = false;
    function done(error) {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      // Every line once and in order: as many events as lines, the last one the job's last line.
      results.push({ lines, inOrder: lines === lastSeq, error });
      resolve();
    }
  });
}

const cpu0 = process.cpuUsage();
const t0 = Date.now();
const all = [];
for (let i = 0; i < viewers; i++) all.push(watch(jobs[i % jobs.length]));
await Promise.all(all);
latencies.sort((a, b) => a - b);
const pct = (p) =>
  latencies.length ? latencies[Math.min(latencies.length - 1, Math.ceil((p / 100) * latencies.length) - 1)] : Number.NaN;
console.log(
  `RESULT ${JSON.stringify({
    viewers,
    complete: results.filter((r) => r.lines >= expect && r.inOrder && !r.error).length,
    errors: results
      .filter((r) => r.error)
      .map((r) => r.error)
      .slice(0, 3),
    received: latencies.length,
    p50: pct(50),
    p95: pct(95),
    max: latencies.length ? latencies[latencies.length - 1] : Number.NaN,
    // This process's own CPU (cores): near 1, it is the limit, not the web.
    cores: (() => {
      const u = process.cpuUsage(cpu0);
      return (u.user + u.system) / 1e3 / (Date.now() - t0);
    })(),
  })}`,
);
process.exit(0);
