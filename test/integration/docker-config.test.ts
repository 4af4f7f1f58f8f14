/**
 * The Docker deployment, validated without a Docker engine (none runs here):
 *  - docker-compose.yml through `docker-compose config` (Debian's docker-compose 1.29.2: schema,
 *    interpolation, required secrets), read back as data;
 *  - for each Janus service, the configuration its container would render (janus-config/render.sh
 *    run with the service's environment, through the image's entrypoint) is byte for byte what the
 *    launcher's renderer (scripts/launch/janus-config.ts) makes of the same settings, and agrees
 *    with the topology file the bridge container mounts;
 *  - real Janus starts on the origin's rendered configuration through the entrypoint's own command
 *    line, and answers the API with the secret, its event handler loaded;
 *  - both Dockerfiles pass dockerfile-utils' lint, the shell scripts pass ShellCheck (POSIX sh), and
 *    every package the bridge imports is a production dependency (the image runs `npm ci --omit=dev`).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as v from 'valibot';
import WebSocket from 'ws';
import { loadTopology } from '../../bridge/topology/index.ts';
import { JANUS_LIB_DIR, writeJanusConfig, type JanusNodeSettings } from '../../scripts/launch/janus-config.ts';
import { ROOT, requireNamespace } from '../harness/stack.ts';

const SECRETS = {
  JANUS_API_SECRET: 'janus-secret-0123456789',
  PUBLIC_IP: '203.0.113.10',
  AGENT_SECRET_ORIGIN: 'agent-secret-origin-0123456789',
  AGENT_SECRET_EDGE_1: 'agent-secret-edge-1-0123456789',
  AGENT_SECRET_EDGE_2: 'agent-secret-edge-2-0123456789',
};
const NODE_IDS = ['origin', 'edge-1', 'edge-2'] as const;
/** Each node's agent service and the variable of its credential. */
const agentOf = (id: (typeof NODE_IDS)[number]): { service: `agent-${typeof id}`; secret: keyof typeof SECRETS } => ({
  service: `agent-${id}`,
  secret: `AGENT_SECRET_${id.toUpperCase().replace('-', '_')}` as keyof typeof SECRETS,
});
const temps: string[] = [];
const children: ChildProcess[] = [];

afterAll(async () => {
  for (const c of children) {
    c.kill('SIGTERM');
    const timer = setTimeout(() => c.kill('SIGKILL'), 4000);
    await new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(undefined) : c.once('exit', r)));
    clearTimeout(timer);
  }
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

function temp(): string {
  const d = mkdtempSync(join(tmpdir(), 'fanout-docker-'));
  temps.push(d);
  return d;
}

/** Only what the scripts need: no FANOUT_JANUS_OVERRIDE_ from the test's own environment. */
function baseEnv(): Record<string, string> {
  return { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: tmpdir() };
}

function run(cmd: string, args: string[], env: Record<string, string> = baseEnv()): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { cwd: ROOT, env, encoding: 'utf8' });
  if (r.error !== undefined) throw new Error(`${cmd}: ${r.error.message} (npm test installs it: scripts/test.mjs)`);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const Env = v.record(v.string(), v.string());
const Agent = v.object({
  network_mode: v.literal('host'),
  environment: Env,
  command: v.array(v.string()),
  build: v.object({ context: v.string(), dockerfile: v.string() }),
  volumes: v.array(v.string()),
});
const Compose = v.object({
  services: v.object({
    origin: v.object({ network_mode: v.literal('host'), environment: Env, build: v.object({ context: v.string() }) }),
    'edge-1': v.object({ network_mode: v.literal('host'), environment: Env }),
    'edge-2': v.object({ network_mode: v.literal('host'), environment: Env }),
    'agent-origin': Agent,
    'agent-edge-1': Agent,
    'agent-edge-2': Agent,
  }),
  volumes: v.optional(v.record(v.string(), v.nullable(v.record(v.string(), v.unknown())))),
});
type Compose = v.InferOutput<typeof Compose>;

/** `docker-compose config` (normalized, interpolated) read back as data. */
function composeConfig(): Compose {
  const r = run('docker-compose', ['-f', 'docker-compose.yml', 'config'], { ...baseEnv(), ...SECRETS });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  // docker-compose is Python and brings PyYAML: turn its YAML into JSON there.
  const json = spawnSync('python3', ['-c', 'import sys, json, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)'], { input: r.stdout, encoding: 'utf8' });
  expect(json.status).toBe(0);
  return v.parse(Compose, JSON.parse(json.stdout));
}

/** Renders with the container's entrypoint renderer, as the image lays it out; returns file name -> text. */
function renderLikeContainer(env: Record<string, string>, outDir: string): Map<string, string> {
  const r = run(join(ROOT, 'janus-config/render.sh'), [join(ROOT, 'janus-config'), outDir], { ...baseEnv(), JANUS_LIB_DIR, ...env });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return readDir(outDir);
}

function readDir(dir: string): Map<string, string> {
  return new Map(readdirSync(dir).sort().map((f) => [f, readFileSync(join(dir, f), 'utf8')]));
}

/** The launcher's settings equivalent to a Janus service's container environment. */
function launcherSettings(env: Record<string, string>): JanusNodeSettings {
  const role = env['FANOUT_ROLE'];
  if (role !== 'origin' && role !== 'edge') throw new Error(`bad role ${role}`);
  return {
    nodeId: env['FANOUT_NODE_ID'] ?? '',
    role,
    wsIp: env['JANUS_WS_IP'] ?? '127.0.0.1',
    wsPort: Number(env['JANUS_WS_PORT'] ?? '8188'),
    mediaIp: env['JANUS_MEDIA_IP'] ?? '',
    rtpPortRange: env['JANUS_RTP_PORT_RANGE'] ?? '20000-20999',
    logFile: env['JANUS_LOG_FILE'] ?? '',
    apiSecret: env['JANUS_API_SECRET'] ?? '',
    natMapping: env['JANUS_NAT_1_1_MAPPING'] ?? '',
    eventsUrl: env['FANOUT_EVENTS_URL'],
    overrides: {},
  };
}

describe('docker-compose.yml', () => {
  it('is valid for docker-compose config, with host networking: one agent beside each Janus node, each with its own credential; it refuses to start without its secrets', () => {
    const c = composeConfig();
    expect(Object.keys(c.services).sort()).toEqual(['agent-edge-1', 'agent-edge-2', 'agent-origin', 'edge-1', 'edge-2', 'origin']);
    for (const [i, id] of NODE_IDS.entries()) {
      const { service, secret } = agentOf(id);
      const agent = c.services[service];
      expect(agent.build.dockerfile).toBe('bridge/Dockerfile');
      expect(agent.command).toEqual(['--node', id]);
      expect(agent.environment).toMatchObject({ BRIDGE_SECRET: SECRETS[secret], JANUS_API_SECRET: SECRETS.JANUS_API_SECRET, FANOUT_BRIDGE_HOST: '127.0.0.1', FANOUT_BRIDGE_PORT: String(8791 + i) });
    }
    const { JANUS_API_SECRET: _j, ...withoutJanus } = SECRETS;
    const missing = run('docker-compose', ['-f', 'docker-compose.yml', 'config'], { ...baseEnv(), ...withoutJanus });
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toContain('set JANUS_API_SECRET');
    const { AGENT_SECRET_EDGE_2: _e, ...withoutEdge2 } = SECRETS;
    const noCredential = run('docker-compose', ['-f', 'docker-compose.yml', 'config'], { ...baseEnv(), ...withoutEdge2 });
    expect(noCredential.status).not.toBe(0);
    expect(noCredential.stderr).toContain('set AGENT_SECRET_EDGE_2 (npm run agent-secret -- edge-2)');
  });

  it('each agent keeps its journal on a named volume of its own, at FANOUT_BRIDGE_STATE_DIR, so a restarted container re-adopts its streams', () => {
    const c = composeConfig();
    const names = new Set<string>();
    for (const id of NODE_IDS) {
      const agent = c.services[agentOf(id).service];
      const dir = agent.environment['FANOUT_BRIDGE_STATE_DIR'];
      expect(dir).toBe('/var/lib/fanout/bridge');
      const mount = agent.volumes.find((x) => x.split(':')[1] === dir);
      // A named volume (not a host path): docker-compose config writes it as "<name>:<dir>:rw".
      expect(mount).toMatch(/^[a-z][a-z0-9_-]*:\/var\/lib\/fanout\/bridge(:rw)?$/);
      const name = mount?.split(':')[0] ?? '';
      expect(Object.keys(c.volumes ?? {})).toContain(name);
      names.add(name);
    }
    expect(names.size).toBe(NODE_IDS.length);
  });

  it('each Janus service renders exactly the launcher\'s configuration, on the topology\'s ports and ranges, with the public IP and the events URL', () => {
    const c = composeConfig();
    const volume = c.services['agent-origin'].volumes.find((x) => x.endsWith(':/etc/fanout/loadbalancing.xml:ro'));
    const topology = loadTopology(volume?.split(':')[0] ?? '');
    for (const id of NODE_IDS) {
      const env = c.services[id].environment;
      const out = join(temp(), 'janus');
      const container = renderLikeContainer(env, out);
      rmSync(out, { recursive: true });
      writeJanusConfig({ ...launcherSettings(env), libDir: JANUS_LIB_DIR }, out);
      const launcher = readDir(out);
      expect([...container.keys()]).toEqual([...launcher.keys()]);
      for (const [file, text] of launcher) expect(container.get(file), `${id}: ${file}`).toBe(text);

      const node = topology.nodes.find((n) => n.id === id);
      const core = container.get('janus.jcfg') ?? '';
      const ws = container.get('janus.transport.websockets.jcfg') ?? '';
      expect(ws).toContain(`\tws_port = ${new URL(node?.janusUrl ?? 'ws://x').port}\n`);
      expect(core).toContain(`\trtp_port_range = "${node?.rtpPortRange}"\n`);
      expect(core).toContain(`\tnat_1_1_mapping = "${SECRETS.PUBLIC_IP}"\n`);
      expect(core).toContain(`\tapi_secret = "${SECRETS.JANUS_API_SECRET}"\n`);
      expect(core).toContain('\tbroadcast = true\n');
      // Janus keeps a session whose agent went away for the restarted agent to claim.
      expect(core).toContain('\treclaim_session_timeout = 30\n');
      // Each node posts its statistics to its own agent.
      const port = c.services[agentOf(id).service].environment['FANOUT_BRIDGE_PORT'];
      expect(container.get('janus.eventhandler.sampleevh.jcfg')).toContain(`\tbackend = "http://127.0.0.1:${port}/janus/events"\n`);
    }
  });

  it('the renderer refuses a bad environment naming the variable', () => {
    const bad = (env: Record<string, string>): string => run(join(ROOT, 'janus-config/render.sh'), [join(ROOT, 'janus-config'), join(temp(), 'x')], { ...baseEnv(), ...env }).stderr;
    const good = { FANOUT_NODE_ID: 'edge-1', FANOUT_ROLE: 'edge', JANUS_API_SECRET: 's' };
    expect(bad({ ...good, FANOUT_ROLE: 'relay' })).toContain('FANOUT_ROLE must be origin or edge');
    expect(bad({ ...good, JANUS_API_SECRET: '' })).toContain('JANUS_API_SECRET must be set');
    expect(bad({ ...good, JANUS_WS_PORT: '99999' })).toContain('JANUS_WS_PORT must be a port number');
    expect(bad({ ...good, JANUS_NAT_1_1_MAPPING: '1.2.3.4"' })).toContain('JANUS_NAT_1_1_MAPPING: the value must not contain quotes');
    expect(bad({ ...good, FANOUT_JANUS_OVERRIDE_NOPE: '1' })).toContain('FANOUT_JANUS_OVERRIDE_NOPE: NOPE is not a role default');
  });

  it('an override in the container environment is applied as the launcher applies it', () => {
    const env = { FANOUT_NODE_ID: 'edge-2', FANOUT_ROLE: 'edge', JANUS_API_SECRET: 's', FANOUT_JANUS_OVERRIDE_EVENT_LOOPS: '4', FANOUT_JANUS_OVERRIDE_DEBUG_LEVEL: '' };
    const out = join(temp(), 'janus');
    const container = renderLikeContainer(env, out);
    rmSync(out, { recursive: true });
    writeJanusConfig({ ...launcherSettings(env), libDir: JANUS_LIB_DIR, overrides: { EVENT_LOOPS: '4', DEBUG_LEVEL: '' } }, out);
    expect(container).toEqual(readDir(out));
    expect(container.get('janus.jcfg')).toContain('\tevent_loops = 4\n');
  });
});

describe('the Janus node image', () => {
  it('its entrypoint starts real Janus on the origin\'s rendered configuration, answering the API with the secret', async () => {
    requireNamespace();
    const env = { ...baseEnv(), ...composeConfig().services.origin.environment, JANUS_LIB_DIR, FANOUT_HOME: join(ROOT, 'janus-config'), FANOUT_TEMPLATES_DIR: join(ROOT, 'janus-config'), FANOUT_JANUS_CONFIG_DIR: join(temp(), 'janus') };
    const janus = spawn(join(ROOT, 'janus-config/docker-entrypoint.sh'), [], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(janus);
    let output = '';
    janus.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    janus.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    const info = await janusInfo('ws://127.0.0.1:8188', SECRETS.JANUS_API_SECRET, 15_000).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${output}`);
    });
    expect(info).toMatchObject({ janus: 'server_info', name: 'Janus WebRTC Server', 'server-name': 'fanout-origin' });
    expect(Object.keys(v.parse(v.object({ plugins: v.record(v.string(), v.unknown()) }), info).plugins)).toContain('janus.plugin.videoroom');
    expect(Object.keys(v.parse(v.object({ events: v.record(v.string(), v.unknown()) }), info).events)).toEqual(['janus.eventhandler.sampleevh']);
    // Logs go to stdout (docker logs), the entrypoint says what it started.
    expect(output).toContain('fanout: Janus node origin (origin): API ws://127.0.0.1:8188, media ports 20000-20999, public 203.0.113.10');
    expect(output).toMatch(/Janus commit|Starting Meetecho Janus/);
    // `info` is public; creating a session is not: it needs the API secret.
    const refused = await janusRequest('ws://127.0.0.1:8188', { janus: 'create', apisecret: 'wrong-secret' }, 5000);
    expect(refused).toMatchObject({ janus: 'error', error: { code: 403 } });
    const created = await janusRequest('ws://127.0.0.1:8188', { janus: 'create', apisecret: SECRETS.JANUS_API_SECRET }, 5000);
    expect(created).toMatchObject({ janus: 'success' });
  });
});

describe('the Dockerfiles and scripts', () => {
  it('both Dockerfiles pass dockerfile-utils lint', () => {
    for (const file of ['janus-config/Dockerfile', 'bridge/Dockerfile']) {
      const r = run(join(ROOT, 'node_modules/.bin/dockerfile-utils'), ['lint', file]);
      expect(r.stdout + r.stderr, file).toBe('');
      expect(r.status, file).toBe(0);
    }
  });

  it('the renderer and the entrypoint pass ShellCheck as POSIX sh', () => {
    const r = run('shellcheck', ['-s', 'sh', 'janus-config/render.sh', 'janus-config/docker-entrypoint.sh']);
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('every package the bridge imports is a production dependency (the image installs with --omit=dev)', () => {
    const pkg = v.parse(v.object({ dependencies: v.record(v.string(), v.string()) }), JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')));
    const imported = new Set<string>();
    const walk = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) walk(path);
        // What the image holds: .dockerignore leaves out tests and their fakes.
        else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') && !entry.name.startsWith('fake-')) {
          for (const m of readFileSync(path, 'utf8').matchAll(/^(?:import|export)[^'"]*from '([^'.][^']*)'/gm)) {
            const spec = m[1] ?? '';
            if (spec.startsWith('node:')) continue;
            imported.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : (spec.split('/')[0] ?? spec));
          }
        }
      }
    };
    walk(join(ROOT, 'bridge'));
    walk(join(ROOT, 'protocol'));
    expect([...imported].sort()).toEqual(expect.arrayContaining(['janode', 'pino', 'prom-client', 'valibot', 'ws']));
    expect([...imported].filter((name) => pkg.dependencies[name] === undefined)).toEqual([]);
    expect(pkg.dependencies['tsx']).toBeDefined();
    const dockerfile = readFileSync(join(ROOT, 'bridge/Dockerfile'), 'utf8');
    expect(dockerfile).toContain('npm ci --omit=dev');
    // The bridge imports the contracts in protocol/, and the fakes the walk skipped stay out.
    expect(dockerfile).toContain('COPY protocol/ ./protocol/');
    expect(readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n')).toContain('**/fake-*.ts');
    // Arguments (`--node <id>`) go to the bridge, so one image runs every agent and the one bridge.
    expect(dockerfile).toContain('ENTRYPOINT ["node", "--import", "tsx", "bridge/main.ts"]');
    expect(dockerfile).toContain('CMD []');
  });
});

/** Janus `info` over its WebSocket API, retried until Janus is up. */
function janusInfo(url: string, apiSecret: string, timeoutMs: number): Promise<unknown> {
  return janusRequest(url, { janus: 'info', apisecret: apiSecret }, timeoutMs);
}

/** One Janus API request over a fresh WebSocket, retried until Janus answers. */
function janusRequest(url: string, body: Record<string, unknown>, timeoutMs: number): Promise<unknown> {
  const deadline = Date.now() + timeoutMs;
  const attempt = (): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(url, 'janus-protocol');
      const timer = setTimeout(() => {
        ws.terminate();
        reject(new Error('no answer'));
      }, 3000);
      ws.once('open', () => ws.send(JSON.stringify({ ...body, transaction: 't1' })));
      ws.once('message', (d) => {
        clearTimeout(timer);
        ws.close();
        resolve(JSON.parse(String(d)));
      });
      ws.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  const loop = async (): Promise<unknown> => {
    for (;;) {
      try {
        return await attempt();
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`Janus at ${url} did not answer within ${timeoutMs} ms: ${String(err)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  };
  return loop();
}
