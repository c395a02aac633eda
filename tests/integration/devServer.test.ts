import { describe, expect, it, inject } from 'vitest';
import { Connection, Client } from '@temporalio/client';

describe('embedded Temporal dev server', () => {
  it('answers the default namespace', async () => {
    const connection = await Connection.connect({ address: inject('temporalAddress') });
    try {
      const client = new Client({ connection });
      const ns = await client.workflowService.describeNamespace({ namespace: 'default' });
      expect(ns.namespaceInfo?.name).toBe('default');
    } finally {
      await connection.close();
    }
  });
});
