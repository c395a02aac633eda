import { describe, expect, it } from 'vitest';
import { containersRunning, describeInstanceFailure, instanceLineParser, progressOf } from '../../src/domain/instanceEvents.js';
import { ConsoleTail } from '../../src/activities/instanceConsole.js';

/** What the instance prints, as the ready step and the job page read it. */

describe('instance lines', () => {
  const parse = instanceLineParser('j1');

  it('are found behind what the console puts in front, for this job only', () => {
    expect(parse('[   45.1] cloud-init[1553]: PROVISIONING-EVENT job=j1 {"phase":"docker","status":"ok"}')).toMatchObject({
      kind: 'event',
      fields: { phase: 'docker', status: 'ok' },
    });
    expect(parse('PROVISIONING-EVENT job=j10 {"phase":"docker"}')).toBeNull();
    expect(parse('PROVISIONING-EVENT job=other {"phase":"docker"}')).toBeNull();
    expect(parse('kernel: eth0 up')).toBeNull();
  });

  it('keep their kind when the payload was cut short, and keep strings only', () => {
    expect(parse('PROVISIONING-FAILED job=j1 {"phase":"pu')).toBeNull();
    expect(parse('PROVISIONING-SUCCESS job=j1')).toMatchObject({ kind: 'success', fields: {} });
    expect(parse('PROVISIONING-EVENT job=j1 {"phase":"up","n":3,"x":{"y":1}}')?.fields).toEqual({ phase: 'up' });
  });

  it('tell the progress, each event once however often the console shows it', () => {
    const line = 'PROVISIONING-EVENT job=j1 {"phase":"pull","container":"web","image":"nginx:1","status":"ok","digest":"d"}';
    const progress = progressOf('j1', [
      line,
      `cloud-init[9]: ${line}`,
      'PROVISIONING-EVENT job=j1 {"phase":"container","container":"web","image":"nginx:1","state":"running"}',
      'PROVISIONING-EVENT job=j1 {"phase":"health","container":"web","image":"nginx:1","health":"healthy"}',
      'PROVISIONING-SUCCESS job=j1 {"containers":"1"}',
    ]);
    expect(progress).toMatchObject({ outcome: 'succeeded', phase: 'done' });
    expect(progress.containers).toEqual([{ name: 'web', image: 'nginx:1', state: 'healthy' }]);
  });

  it('name the phase, the container and its last output in a failure', () => {
    const progress = progressOf('j1', [
      'PROVISIONING-EVENT job=j1 {"phase":"up","status":"ok"}',
      'PROVISIONING-FAILED job=j1 {"phase":"container","container":"api","image":"x:sandbox-exit","reason":"the container is exited (exit code 1, restarted 0 times)","output":"api-1 | boot\\napi-1 | fatal: no config"}',
    ]);
    expect(progress.outcome).toBe('failed');
    expect(describeInstanceFailure(progress.failure!)).toBe(
      'the instance reported a failure at phase container (container api, image x:sandbox-exit): ' +
        'the container is exited (exit code 1, restarted 0 times); last output: api-1 | boot | api-1 | fatal: no config',
    );
  });

  it('counts the running containers in words a person reads', () => {
    expect(containersRunning(1)).toBe('1 container running');
    expect(containersRunning(3)).toBe('3 containers running');
    expect(containersRunning(0)).toBe('0 containers running');
  });
});

describe('ConsoleTail', () => {
  it('returns each complete line once, holding back a line still being written', () => {
    const tail = new ConsoleTail();
    expect(tail.next('')).toEqual([]);
    expect(tail.next('a\nb\npart')).toEqual(['a', 'b']);
    expect(tail.next('a\nb\npartial\nc\n')).toEqual(['partial', 'c']);
    expect(tail.next('a\nb\npartial\nc\n')).toEqual([]);
    expect(tail.count).toBe(4);
  });

  it('continues after what it saw when the console dropped its beginning (EC2 keeps the newest 64 KB)', () => {
    const tail = new ConsoleTail();
    const lines = Array.from({ length: 30 }, (_, i) => `line ${i}`);
    expect(tail.next(`${lines.slice(0, 20).join('\n')}\n`)).toHaveLength(20);
    expect(tail.next(`${lines.slice(15, 30).join('\n')}\n`)).toEqual(lines.slice(20, 30));
  });

  it('takes everything as new when nothing it saw is left', () => {
    const tail = new ConsoleTail();
    tail.next('old 1\nold 2\n');
    expect(tail.next('new 1\nnew 2\n')).toEqual(['new 1', 'new 2']);
  });
});
