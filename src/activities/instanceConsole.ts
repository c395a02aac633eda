import fs from 'node:fs/promises';
import { type EC2Client, GetConsoleOutputCommand } from '@aws-sdk/client-ec2';
import { awsErrorCode, mapAwsError } from './awsErrors.js';

/**
 * Where the ready step reads what the instance printed: EC2's serial console
 * (GetConsoleOutput), or, for the sandbox module, the file its stand-in
 * instance writes. Each read gives the whole text the source holds now; a
 * ConsoleTail turns successive reads into the lines not seen before.
 */
export interface ConsoleSource {
  read(signal?: AbortSignal): Promise<string>;
  /** For messages: where the console comes from. */
  describe: string;
}

/** EC2's console: the newest 64 KB (Latest), base64 encoded; empty until the instance has printed something. */
export function ec2ConsoleSource(ec2: EC2Client, instanceId: string): ConsoleSource {
  return {
    describe: `the EC2 console of ${instanceId}`,
    async read(signal) {
      try {
        const res = await ec2.send(new GetConsoleOutputCommand({ InstanceId: instanceId, Latest: true }), {
          abortSignal: signal,
        });
        return res.Output ? Buffer.from(res.Output, 'base64').toString('utf8') : '';
      } catch (err) {
        // Right after launch EC2 may not know the id yet; throttling passes: the next poll asks again.
        if (awsErrorCode(err) === 'InvalidInstanceID.NotFound') return '';
        const mapped = mapAwsError(err, { operation: 'ec2:GetConsoleOutput', subject: `for ${instanceId}` });
        if (mapped.type === 'AwsTransient') return '';
        throw mapped;
      }
    },
  };
}

/** The sandbox instance's console file (missing until the instance starts printing). */
export function fileConsoleSource(file: string): ConsoleSource {
  return {
    describe: `the console file ${file}`,
    async read() {
      try {
        return await fs.readFile(file, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
        throw err;
      }
    },
  };
}

/** How many of the last lines seen anchor where a new read continues. */
const ANCHOR_LINES = 8;

/**
 * New lines across reads of a console that only grows at its end but may
 * drop its beginning (EC2 keeps the newest 64 KB). A line without its newline
 * yet is held back until it is complete.
 */
export class ConsoleTail {
  #anchor: string[] = [];
  #count = 0;

  /** The complete lines of `text` that come after what earlier reads returned. */
  next(text: string): string[] {
    const complete = text.endsWith('\n') ? text.slice(0, -1) : text.slice(0, text.lastIndexOf('\n') + 1).slice(0, -1);
    const lines = complete === '' ? [] : complete.split('\n').map((l) => l.replace(/\r$/, ''));
    const fresh = this.#after(lines);
    if (fresh.length) this.#anchor = [...this.#anchor, ...fresh].slice(-ANCHOR_LINES);
    this.#count += fresh.length;
    return fresh;
  }

  /** Lines returned so far. */
  get count(): number {
    return this.#count;
  }

  #after(lines: string[]): string[] {
    if (this.#anchor.length === 0) return lines;
    // Find the newest place where the lines seen last end; fewer lines anchor when the start scrolled away.
    for (let size = this.#anchor.length; size >= 1; size--) {
      const anchor = this.#anchor.slice(-size);
      for (let end = lines.length - 1; end >= size - 1; end--) {
        if (anchor.every((l, i) => lines[end - size + 1 + i] === l)) return lines.slice(end + 1);
      }
    }
    // Nothing seen before is left: all of it is new.
    return lines;
  }
}
