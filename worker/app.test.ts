import { describe, expect, it } from 'vitest';
import { Scenario, callWorker, json, node } from './testing.ts';

describe('GET /health', () => {
  it('with the bridge up and every node up answers 200 listing every node', async () => {
    const s = new Scenario('health-up');
    const resp = await callWorker('http://127.0.0.1:8787/health', {}, s.env());
    expect(resp.status).toBe(200);
    const body = await json(resp);
    expect(body).toMatchObject({ status: 'ok', bridge: 'up', mode: 'FEWESTCALLS', loadBalancing: true });
    expect(body).toHaveProperty('nodes', [
      expect.objectContaining({ id: 'origin', role: 'origin', host: 'origin.localhost:8787', up: true }),
      expect.objectContaining({ id: 'edge-1', role: 'edge', up: true }),
      expect.objectContaining({ id: 'edge-2', role: 'edge', up: true }),
    ]);
  });
});
