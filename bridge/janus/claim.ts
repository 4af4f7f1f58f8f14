/**
 * Taking back a Janus session after the bridge restarted. Janus keeps a session whose transport
 * closed for `reclaim_session_timeout` (janus-config/janus.jcfg.template), with its handles, their
 * PeerConnections and the media on them; a new transport takes it over with a `claim` request.
 *
 * Janode 1.8 has no claim and no way to build a session or handle from a known id: its Session
 * class is not exported, and `connection.create()` / `session.attach()` always ask Janus for new
 * ones. So this module speaks the claim itself through Janode's own objects: it builds a Session
 * with the old id, registers it in the connection's table (as `create()` does), and sends
 * `{"janus": "claim"}` through it; handles are rebuilt the same way (`new Plugin.Handle(session,
 * id)`, as `attach()` does). It touches Janode's private tables (`_sessions`, `_handles`), which is
 * why it lives here alone: pinned to Janode 1.8.0 (package.json) and covered by the restart tests.
 */
import Janode from 'janode';
import type { JanodeConnection, JanodeHandle, JanodePlugin, JanodeSession } from 'janode';
import { withTimeout } from './request.ts';

/** The private parts of Janode's objects this module uses. */
interface SessionInternals extends JanodeSession {
  _handles: Map<number, JanodeHandle>;
  sendRequest(request: Record<string, unknown>): Promise<unknown>;
  _signalDestroy(): void;
}
interface ConnectionInternals extends JanodeConnection {
  _sessions: Map<number, JanodeSession>;
}
type SessionClass = new (connection: JanodeConnection, id: number, kaSeconds: number) => SessionInternals;

let sessionClass: Promise<SessionClass> | undefined;

/** Janode's Session class, from the file next to its entry point (the package does not export it). */
function loadSessionClass(): Promise<SessionClass> {
  sessionClass ??= import(new URL('./session.js', import.meta.resolve('janode')).href).then((m: { default: SessionClass }) => m.default);
  return sessionClass;
}

/**
 * Claims Janus session `id` on `connection`; resolves with it once Janus said yes, and rejects
 * (leaving nothing registered) when Janus refuses (the session timed out or Janus restarted: 458).
 */
export async function claimSession(connection: JanodeConnection, id: number, kaSeconds: number, timeoutMs: number): Promise<JanodeSession> {
  const Session = await loadSessionClass();
  const conn = connection as ConnectionInternals;
  const session = new Session(connection, id, kaSeconds);
  conn._sessions.set(id, session);
  connection.setMaxListeners(connection.getMaxListeners() + 2);
  session.once(Janode.EVENT.SESSION_DESTROYED, () => {
    conn._sessions.delete(id);
    connection.setMaxListeners(connection.getMaxListeners() - 2);
  });
  try {
    await withTimeout(session.sendRequest({ janus: 'claim' }), timeoutMs, `claim session ${id}`);
  } catch (err) {
    session._signalDestroy();
    throw err;
  }
  return session;
}

/** A Janode handle object for handle `id` of a claimed session (Janus still has it; nothing is sent). */
export function adoptHandle<H extends JanodeHandle>(session: JanodeSession, plugin: JanodePlugin<H>, id: number): H {
  const s = session as SessionInternals;
  const existing = s._handles.get(id);
  if (existing !== undefined) return existing as H;
  const Handle = plugin.Handle as unknown as new (session: JanodeSession, id: number) => H;
  const handle = new Handle(session, id);
  s._handles.set(id, handle);
  session.setMaxListeners(session.getMaxListeners() + 1);
  handle.once(Janode.EVENT.HANDLE_DETACHED, () => {
    s._handles.delete(id);
    session.setMaxListeners(session.getMaxListeners() - 1);
  });
  return handle;
}
