/**
 * The worker's configuration: AGENT_URLS, the node=url pairs that send each node's requests to its
 * own agent, and the rule that every other node is served at BRIDGE_URL.
 */
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { CdnError } from '../protocol/index.ts';
import { readConfig, type Env } from './env.ts';

const BRIDGE = 'http://127.0.0.1:8790';

function config(agentUrls: string | undefined, bridgeUrl = BRIDGE): ReturnType<typeof readConfig> {
  const vars: Env = { ...env, BRIDGE_URL: bridgeUrl };
  if (agentUrls !== undefined) vars.AGENT_URLS = agentUrls;
  return readConfig(vars);
}

/** The message readConfig refuses `agentUrls` with. */
function refusal(agentUrls: string): string {
  try {
    config(agentUrls);
  } catch (err) {
    expect(err).toBeInstanceOf(CdnError);
    expect(err).toMatchObject({ code: 'FAILED_PRECONDITION' });
    return err instanceof Error ? err.message : String(err);
  }
  throw new Error(`AGENT_URLS=${agentUrls} was accepted`);
}

describe('AGENT_URLS', () => {
  it('unset: every node is served at BRIDGE_URL, the one agent', () => {
    const c = config(undefined, `${BRIDGE}/`);
    expect(c.agentUrl('origin')).toBe(BRIDGE);
    expect(c.agentUrl('edge-7')).toBe(BRIDGE);
    expect(c.agentUrls).toEqual([BRIDGE]);
    expect(c.agents).toEqual({ defaultUrl: BRIDGE, byNode: {} });
  });

  it('maps each listed node to its url (trailing slash dropped, spaces and empty entries ignored) and the rest to BRIDGE_URL', () => {
    const c = config(' origin=http://127.0.0.1:8791/ , edge-1=https://edge-1.agents.example.com,, edge-2=http://127.0.0.1:8791');
    expect(c.agentUrl('origin')).toBe('http://127.0.0.1:8791');
    expect(c.agentUrl('edge-1')).toBe('https://edge-1.agents.example.com');
    expect(c.agentUrl('edge-2')).toBe('http://127.0.0.1:8791');
    expect(c.agentUrl('edge-3')).toBe(BRIDGE);
    expect(c.agentUrl('constructor')).toBe(BRIDGE);
    expect(c.agentUrls).toEqual([BRIDGE, 'http://127.0.0.1:8791', 'https://edge-1.agents.example.com']);
  });

  it('a link presents the credential of the one node whose own agent is at its url; the one bridge (a url AGENT_URLS does not list, or lists for several nodes) gets BRIDGE_SECRET', () => {
    const c = config(`origin=${BRIDGE},edge-1=http://127.0.0.1:8792,edge-2=http://127.0.0.1:8799,edge-3=http://127.0.0.1:8799`);
    expect(c.agentNodeOf(BRIDGE)).toBe('origin');
    expect(c.agentNodeOf('http://127.0.0.1:8792')).toBe('edge-1');
    expect(c.agentNodeOf('http://127.0.0.1:8799')).toBeUndefined();
    expect(config(undefined).agentNodeOf(BRIDGE)).toBeUndefined();
  });

  it('lists BRIDGE_URL once when a pair names it too', () => {
    expect(config(`origin=${BRIDGE},edge-1=http://127.0.0.1:8792`).agentUrls).toEqual([BRIDGE, 'http://127.0.0.1:8792']);
  });

  it('empty: the same as unset', () => {
    expect(config(' ').agentUrls).toEqual([BRIDGE]);
  });

  it('refuses a pair without "=", naming the pair and the form', () => {
    expect(refusal('origin=http://127.0.0.1:8791,edge-1 http://127.0.0.1:8792')).toBe(
      'worker configuration: AGENT_URLS: "edge-1 http://127.0.0.1:8792": there is no "=" between the node id and the url (the form is node=url, comma-separated, e.g. "edge-1=http://127.0.0.1:8792") (set in wrangler.toml [vars], .dev.vars or --var)',
    );
  });

  it('refuses a node id the topology would refuse, naming it and the rule', () => {
    expect(refusal('Edge_1=http://127.0.0.1:8792')).toContain('AGENT_URLS: "Edge_1=http://127.0.0.1:8792": "Edge_1" is not a node id: lowercase letters, digits and dashes, starting with a letter');
    expect(refusal('=http://127.0.0.1:8792')).toContain('AGENT_URLS: "=http://127.0.0.1:8792": there is no node id before "="');
  });

  it('refuses a url that is not an http(s) URL, naming the pair and the node', () => {
    expect(refusal('edge-1=ws://127.0.0.1:8792')).toContain('AGENT_URLS: "edge-1=ws://127.0.0.1:8792": the url of node edge-1 must be an http:// or https:// URL');
    expect(refusal('edge-1=127.0.0.1:8792')).toContain('AGENT_URLS: "edge-1=127.0.0.1:8792": the url of node edge-1 must be a URL such as "http://127.0.0.1:8790"');
    expect(refusal('edge-1=')).toContain('AGENT_URLS: "edge-1=": node edge-1 has no url after "="');
  });

  it('refuses a node listed twice, even with the same url', () => {
    expect(refusal('edge-1=http://127.0.0.1:8792,origin=http://127.0.0.1:8791,edge-1=http://127.0.0.1:8792')).toContain(
      'AGENT_URLS: "edge-1=http://127.0.0.1:8792": node edge-1 is listed twice: a node has one agent',
    );
  });
});
