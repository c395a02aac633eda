import fs from 'node:fs';
import path from 'node:path';

/**
 * Summarises V8 CPU profiles (`node --cpu-prof`, what `npm run bench -- --profile`
 * writes): self time by function and by where the code lives (our src/, a
 * package in node_modules, node itself), over the whole profile.
 *
 *   npx tsx bench/profileSummary.ts <file.cpuprofile | directory> [--top=25] [--window=FROM,TO --probe-dir=DIR]
 *
 * --window keeps the samples between two wall-clock times (epoch ms; the
 * benchmark logs the window of each phase when profiling), using the
 * <pid>.clock file the loop probe wrote into the app's probe directory.
 */

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

function owner(url: string): string {
  if (!url) return '(native / V8)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1];
  if (url.startsWith('node:')) return 'node core';
  const src = /\/(src|bench|tests)\/(.*)$/.exec(url);
  if (src) return `${src[1]}/${src[2].split('/')[0]}`;
  return url;
}

/** [from, to] in the profile's clock (µs), from a wall-clock window and the probe's clock pairing. */
function monotonicWindow(file: string, window: [number, number], probeDir: string): [number, number] {
  const pid = path.basename(file).split('.')[3];
  const [wall, mono] = fs
    .readFileSync(path.join(probeDir, `${pid}.clock`), 'utf8')
    .trim()
    .split(' ')
    .map(Number);
  return [mono + (window[0] - wall) * 1000, mono + (window[1] - wall) * 1000];
}

export function summarise(file: string, opts: { top?: number; window?: [number, number]; probeDir?: string } = {}): string {
  const top = opts.top ?? 25;
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  const [from, to] =
    opts.window && opts.probeDir ? monotonicWindow(file, opts.window, opts.probeDir) : [profile.startTime, profile.endTime];
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    if (t < from || t > to) continue;
    const id = profile.samples[i];
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const total = Math.min(to, profile.endTime) - Math.max(from, profile.startTime);
  const byFunction = new Map<string, number>();
  const byOwner = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)!.callFrame;
    const name = frame.functionName || '(anonymous)';
    const where = frame.url
      ? `${frame.url.replace(/^file:\/\//, '').replace(/^.*\/node_modules\//, '')}:${frame.lineNumber + 1}`
      : '';
    const key = `${name} ${where}`.trim();
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
    const o = ['(idle)', '(program)', '(garbage collector)'].includes(name) ? name : owner(frame.url);
    byOwner.set(o, (byOwner.get(o) ?? 0) + us);
  }
  const pct = (us: number) => `${((us / total) * 100).toFixed(1).padStart(5)}%`;
  const lines = [
    `${path.basename(file)}: ${(total / 1e6).toFixed(1)} s profiled${opts.window ? ' (window)' : ''}`,
    '  self time by owner:',
  ];
  for (const [o, us] of [...byOwner].sort((a, b) => b[1] - a[1]).slice(0, 15)) lines.push(`    ${pct(us)}  ${o}`);
  lines.push('  self time by function:');
  for (const [f, us] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`    ${pct(us)}  ${f}`);
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const target = args.find((a) => !a.startsWith('--'));
  const opt = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  if (!target) {
    process.stderr.write(
      'usage: tsx bench/profileSummary.ts <file.cpuprofile | directory> [--top=25] [--window=FROM,TO --probe-dir=DIR]\n',
    );
    process.exit(2);
  }
  const top = Number(opt('top') ?? 25);
  const window = opt('window')?.split(',').map(Number) as [number, number] | undefined;
  const probeDir = opt('probe-dir');
  const files = fs.statSync(target).isDirectory()
    ? fs
        .readdirSync(target, { recursive: true })
        .map(String)
        .filter((f) => f.endsWith('.cpuprofile'))
        .map((f) => path.join(target, f))
    : [target];
  for (const f of files) {
    try {
      process.stdout.write(`${summarise(f, { top, window, probeDir })}\n\n`);
    } catch (err) {
      process.stdout.write(`${path.basename(f)}: ${(err as Error).message}\n\n`);
    }
  }
}
