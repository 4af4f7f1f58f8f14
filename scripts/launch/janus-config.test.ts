import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { envOverrides, renderTemplate, writeJanusConfig, type JanusNodeSettings } from './janus-config.ts';

const settings: JanusNodeSettings = {
  nodeId: 'edge-1',
  role: 'edge',
  wsIp: '127.0.0.1',
  wsPort: 8189,
  mediaIp: '127.0.0.2',
  rtpPortRange: '21000-21999',
  logFile: '/var/log/fanout/janus-edge-1.log',
  apiSecret: 's3cret-s3cret-s3cret',
};

describe('renderTemplate', () => {
  it('fills placeholders, leaves comment lines alone, and comments out a line whose placeholders are all empty', () => {
    const out = renderTemplate('# ${NOT_FILLED}\na = "${A}"\nb = "${B}"\nc = "${A}${B}"', { A: 'x', B: '' }, 't');
    expect(out).toBe('# ${NOT_FILLED}\na = "x"\n#b = ""\nc = "x"');
  });

  it('an unknown placeholder fails naming the template and the placeholder', () => {
    expect(() => renderTemplate('a = ${NOPE}', {}, 'janus.jcfg.template')).toThrow('janus.jcfg.template: unknown placeholder ${NOPE}');
  });
});

describe('writeJanusConfig', () => {
  it('renders an edge node: its ports, interface, secret, log file; only VideoRoom, Streaming and WebSockets; admin API off', () => {
    const dir = mkdtempSync(join(tmpdir(), 'janus-cfg-'));
    expect(writeJanusConfig(settings, dir).sort()).toEqual([
      'janus.eventhandler.sampleevh.jcfg',
      'janus.jcfg',
      'janus.plugin.streaming.jcfg',
      'janus.plugin.videoroom.jcfg',
      'janus.transport.websockets.jcfg',
    ]);
    const core = readFileSync(join(dir, 'janus.jcfg'), 'utf8');
    expect(core).toContain(`configs_folder = "${dir}"`);
    expect(core).toContain('log_to_file = "/var/log/fanout/janus-edge-1.log"');
    expect(core).toContain('api_secret = "s3cret-s3cret-s3cret"');
    expect(core).toContain('\tinterface = "127.0.0.2"');
    expect(core).toContain('\tice_enforce_list = "127.0.0.2"');
    expect(core).toContain('rtp_port_range = "21000-21999"');
    expect(core).toContain('#\tnat_1_1_mapping = ""');
    expect(core).toMatch(/disable = "[^"]*libjanus_sip\.so[^"]*"/);
    expect(core).not.toMatch(/disable = "[^"]*libjanus_streaming\.so/);
    expect(core).not.toMatch(/disable = "[^"]*libjanus_videoroom\.so/);
    expect(core).not.toMatch(/disable = "[^"]*libjanus_websockets\.so/);
    const ws = readFileSync(join(dir, 'janus.transport.websockets.jcfg'), 'utf8');
    expect(ws).toContain('ws_port = 8189');
    expect(ws).toContain('ws_ip = "127.0.0.1"');
    expect(ws).toContain('admin_ws = false');
    expect(ws).toContain('wss = false');
    expect(readFileSync(join(dir, 'janus.plugin.videoroom.jcfg'), 'utf8')).toContain('admin_key = "s3cret-s3cret-s3cret"');
    const streaming = readFileSync(join(dir, 'janus.plugin.streaming.jcfg'), 'utf8');
    expect(streaming).toContain('admin_key = "s3cret-s3cret-s3cret"');
    expect(streaming).toMatch(/rtp_port_range = "\d+-\d+"/);
  });

  it('the admin API is off (no port, no admin_secret) unless adminWsPort is given; then on that port of wsIp with the API secret', () => {
    const off = mkdtempSync(join(tmpdir(), 'janus-cfg-'));
    writeJanusConfig(settings, off);
    expect(readFileSync(join(off, 'janus.transport.websockets.jcfg'), 'utf8')).toContain('#\tadmin_ws_port = \n');
    expect(readFileSync(join(off, 'janus.jcfg'), 'utf8')).toContain('#\tadmin_secret = ""');
    const on = mkdtempSync(join(tmpdir(), 'janus-cfg-'));
    writeJanusConfig({ ...settings, adminWsPort: 9189 }, on);
    const ws = readFileSync(join(on, 'janus.transport.websockets.jcfg'), 'utf8');
    expect(ws).toContain('\tadmin_ws = true\n');
    expect(ws).toContain('\tadmin_ws_port = 9189\n');
    expect(ws).toContain('\tadmin_ws_ip = "127.0.0.1"');
    expect(readFileSync(join(on, 'janus.jcfg'), 'utf8')).toContain('\tadmin_secret = "s3cret-s3cret-s3cret"');
  });

  it('with eventsUrl, Janus posts its media events (statistics every STATS_PERIOD s) there with the API secret; without, events are off', () => {
    const on = mkdtempSync(join(tmpdir(), 'janus-cfg-'));
    writeJanusConfig({ ...settings, eventsUrl: 'http://127.0.0.1:8790/janus/events' }, on);
    const core = readFileSync(join(on, 'janus.jcfg'), 'utf8');
    expect(core).toContain('\tbroadcast = true\n');
    expect(core).toContain('\tstats_period = 2\n');
    const evh = readFileSync(join(on, 'janus.eventhandler.sampleevh.jcfg'), 'utf8');
    expect(evh).toContain('\tenabled = true\n');
    expect(evh).toContain('\tevents = "media"\n');
    expect(evh).toContain('\tbackend = "http://127.0.0.1:8790/janus/events"\n');
    expect(evh).toContain('\tbackend_pwd = "s3cret-s3cret-s3cret"\n');
    const off = mkdtempSync(join(tmpdir(), 'janus-cfg-'));
    writeJanusConfig(settings, off);
    expect(readFileSync(join(off, 'janus.jcfg'), 'utf8')).toContain('\tbroadcast = false\n');
    expect(readFileSync(join(off, 'janus.eventhandler.sampleevh.jcfg'), 'utf8')).toContain('\tenabled = false\n');
    expect(readFileSync(join(off, 'janus.eventhandler.sampleevh.jcfg'), 'utf8')).toContain('#\tbackend = ""\n');
  });

  it('keeps a session whose transport closed for 30 s (reclaim_session_timeout), for a restarted bridge to claim, within session_timeout', () => {
    const dir = mkdtempSync(join(tmpdir(), 'janus-cfg-'));
    writeJanusConfig(settings, dir);
    const core = readFileSync(join(dir, 'janus.jcfg'), 'utf8');
    const reclaim = Number(/^\treclaim_session_timeout = (\d+)$/m.exec(core)?.[1]);
    const timeout = Number(/^\tsession_timeout = (\d+)$/m.exec(core)?.[1]);
    expect(reclaim).toBe(30);
    expect(timeout).toBeGreaterThanOrEqual(reclaim);
  });

  it('without a media address, leaves interface and ice_enforce_list to Janus (all interfaces)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'janus-cfg-'));
    writeJanusConfig({ ...settings, mediaIp: '' }, dir);
    const core = readFileSync(join(dir, 'janus.jcfg'), 'utf8');
    expect(core).toContain('#\tinterface = ""');
    expect(core).toContain('#\tice_enforce_list = ""');
  });
});

describe('role default overrides', () => {
  it('an override replaces a role default, and an empty one comments its line out so Janus uses its own default', () => {
    const tuned = mkdtempSync(join(tmpdir(), 'janus-cfg-'));
    writeJanusConfig({ ...settings, overrides: { EVENT_LOOPS: '4' } }, tuned);
    expect(readFileSync(join(tuned, 'janus.jcfg'), 'utf8')).toContain('\tevent_loops = 4\n');
    const unset = mkdtempSync(join(tmpdir(), 'janus-cfg-'));
    writeJanusConfig({ ...settings, overrides: { EVENT_LOOPS: '' } }, unset);
    expect(readFileSync(join(unset, 'janus.jcfg'), 'utf8')).toContain('#\tevent_loops = \n');
  });

  it('envOverrides reads FANOUT_JANUS_OVERRIDE_<NAME>, ignores other FANOUT_JANUS_ variables, and rejects unknown names and unsafe values', () => {
    expect(envOverrides({ FANOUT_JANUS_OVERRIDE_EVENT_LOOPS: '', FANOUT_JANUS_IP: '127.0.0.2', PATH: '/bin' })).toEqual({ EVENT_LOOPS: '' });
    expect(() => envOverrides({ FANOUT_JANUS_OVERRIDE_NOPE: '1' })).toThrow('FANOUT_JANUS_OVERRIDE_NOPE: NOPE is not a role default');
    expect(() => envOverrides({ FANOUT_JANUS_OVERRIDE_EVENT_LOOPS: '2"\nx' })).toThrow('must not contain quotes');
  });
});
