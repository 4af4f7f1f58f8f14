/**
 * Renders Fanout's Janus templates (janus-config/*.template) for one node.
 * `${NAME}` is replaced by the node's value (not in comment lines); a line whose placeholders are all empty is written
 * commented out, so unset options keep Janus's defaults. An unknown placeholder is an error.
 *
 * A role default (janus-config/roles/*.env) can be overridden for every node without editing the
 * files: `FANOUT_JANUS_OVERRIDE_<NAME>=<value>` in the launcher's environment, e.g.
 * `FANOUT_JANUS_OVERRIDE_EVENT_LOOPS=` (empty) leaves `event_loops` unset, i.e. Janus's own
 * threading (the benchmark compares both). Only names the role files define can be overridden.
 */
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const TEMPLATE_DIR = new URL('../../janus-config/', import.meta.url).pathname;

export const JANUS_LIB_DIR = '/usr/lib/x86_64-linux-gnu/janus';

export interface JanusNodeSettings {
  nodeId: string;
  role: 'origin' | 'edge';
  /** Where the node's Janus API WebSocket listens. */
  wsIp: string;
  wsPort: number;
  /** Media/ICE address (FANOUT_JANUS_IP); empty for "all interfaces". */
  mediaIp: string;
  rtpPortRange: string;
  logFile: string;
  apiSecret: string;
  /**
   * Turns on Janus's admin API on `wsIp` at this port, with the API secret as its admin_secret
   * (tests count sessions and handles with it); off when undefined.
   */
  adminWsPort?: number | undefined;
  /** Public address for nat_1_1_mapping, when Janus runs behind NAT. */
  natMapping?: string;
  /** Where Janus posts its media statistics (the bridge's /janus/events); none when undefined. */
  eventsUrl?: string | undefined;
  libDir?: string;
  /** Replaces role defaults by name; default: from the environment (see `envOverrides`). */
  overrides?: Readonly<Record<string, string>>;
}

export const OVERRIDE_PREFIX = 'FANOUT_JANUS_OVERRIDE_';

/** Reads `KEY=VALUE` lines (comments and blanks ignored). */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    out[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return out;
}

export function roleDefaults(role: 'origin' | 'edge'): Record<string, string> {
  return parseEnvFile(readFileSync(join(TEMPLATE_DIR, 'roles', `${role}.env`), 'utf8'));
}

/**
 * The role-default overrides in an environment: `FANOUT_JANUS_OVERRIDE_<NAME>=<value>`. A name no
 * role file defines, or a value that could break out of its config line, is an error naming the
 * variable.
 */
export function envOverrides(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const known = new Set([...Object.keys(roleDefaults('origin')), ...Object.keys(roleDefaults('edge'))]);
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(OVERRIDE_PREFIX) || value === undefined) continue;
    const key = name.slice(OVERRIDE_PREFIX.length);
    if (!known.has(key)) throw new Error(`${name}: ${key} is not a role default (known: ${[...known].sort().join(', ')})`);
    if (/["\n\r{}]/.test(value)) throw new Error(`${name}: the value must not contain quotes, braces or line breaks`);
    out[key] = value;
  }
  return out;
}

export function renderTemplate(template: string, vars: Readonly<Record<string, string>>, name: string): string {
  return template
    .split('\n')
    .map((line) => {
      if (line.trimStart().startsWith('#')) return line;
      let placeholders = 0;
      let empty = 0;
      const out = line.replace(/\$\{([A-Z0-9_]+)\}/g, (_, key: string) => {
        const value = vars[key];
        if (value === undefined) throw new Error(`${name}: unknown placeholder \${${key}}`);
        placeholders++;
        if (value === '') empty++;
        return value;
      });
      return placeholders > 0 && placeholders === empty ? `#${out}` : out;
    })
    .join('\n');
}

export function janusVars(s: JanusNodeSettings, configDir: string): Record<string, string> {
  const lib = s.libDir ?? JANUS_LIB_DIR;
  return {
    ...roleDefaults(s.role),
    ...(s.overrides ?? envOverrides(process.env)),
    NODE_ID: s.nodeId,
    CONFIGS_FOLDER: configDir,
    PLUGINS_FOLDER: `${lib}/plugins`,
    TRANSPORTS_FOLDER: `${lib}/transports`,
    EVENTS_FOLDER: `${lib}/events`,
    LOGGERS_FOLDER: `${lib}/loggers`,
    LOG_FILE: s.logFile,
    API_SECRET: s.apiSecret,
    INTERFACE: s.mediaIp,
    ICE_ENFORCE_LIST: s.mediaIp,
    NAT_1_1_MAPPING: s.natMapping ?? '',
    RTP_PORT_RANGE: s.rtpPortRange,
    WS_PORT: String(s.wsPort),
    WS_IP: s.wsIp,
    EVENTS: s.eventsUrl === undefined || s.eventsUrl === '' ? 'false' : 'true',
    EVENTS_BACKEND: s.eventsUrl ?? '',
    ADMIN_WS: s.adminWsPort === undefined ? 'false' : 'true',
    ADMIN_WS_PORT: s.adminWsPort === undefined ? '' : String(s.adminWsPort),
    ADMIN_WS_IP: s.adminWsPort === undefined ? '' : s.wsIp,
    ADMIN_SECRET: s.adminWsPort === undefined ? '' : s.apiSecret,
  };
}

/** Writes every rendered template of the node into `configDir`; returns the file names. */
export function writeJanusConfig(s: JanusNodeSettings, configDir: string): string[] {
  mkdirSync(configDir, { recursive: true });
  const vars = janusVars(s, configDir);
  const written: string[] = [];
  for (const file of readdirSync(TEMPLATE_DIR)) {
    if (!file.endsWith('.template')) continue;
    const text = renderTemplate(readFileSync(join(TEMPLATE_DIR, file), 'utf8'), vars, file);
    const out = file.slice(0, -'.template'.length);
    writeFileSync(join(configDir, out), text, { mode: 0o600 });
    written.push(out);
  }
  return written;
}
