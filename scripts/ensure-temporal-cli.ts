import { ensureTemporalCli } from '../src/temporal/cli.js';

try {
  const cli = await ensureTemporalCli();
  console.error(`Temporal CLI: ${cli.path} (from ${cli.source})`);
} catch (err) {
  console.error((err as Error).message);
  process.exit(1);
}
