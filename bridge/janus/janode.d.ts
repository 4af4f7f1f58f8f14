/**
 * Types for the parts of Janode 1.8.0 (plain JavaScript, no types of its own) that the bridge uses.
 * Everything Janus sends back is typed `unknown` here on purpose: replies are validated with
 * valibot where they enter the bridge (see ./videoroom.ts).
 */
declare module 'janode' {
  import type { EventEmitter } from 'node:events';

  export interface JanodeServerConfig {
    address: { url: string; apisecret?: string } | Array<{ url: string; apisecret?: string }>;
    retry_time_secs?: number;
    max_retries?: number;
    is_admin?: boolean;
    ws_options?: Record<string, unknown>;
  }

  export interface JanodeConnection extends EventEmitter {
    readonly id: number;
    create(ka_interval?: number): Promise<JanodeSession>;
    close(): Promise<void>;
    getInfo(): Promise<unknown>;
  }

  export interface JanodeSession extends EventEmitter {
    readonly id: number;
    attach<H extends JanodeHandle>(plugin: JanodePlugin<H>): Promise<H>;
    destroy(): Promise<void>;
  }

  export interface JanodeHandle extends EventEmitter {
    readonly id: number;
    message(body: Record<string, unknown>, jsep?: Jsep): Promise<unknown>;
    trickle(candidate: unknown): Promise<unknown>;
    trickleComplete(): Promise<unknown>;
    hangup(): Promise<unknown>;
    detach(): Promise<void>;
  }

  export interface JanodePlugin<H extends JanodeHandle = JanodeHandle> {
    id: string;
    Handle: new (...args: never[]) => H;
    EVENT: Record<string, string>;
  }

  export interface Jsep {
    type: 'offer' | 'answer';
    sdp: string;
    e2ee?: boolean;
  }

  export interface JanodeLogger {
    setLevel(level: 'debug' | 'verb' | 'info' | 'warn' | 'error' | 'none'): string;
  }

  const Janode: {
    connect(config: JanodeServerConfig): Promise<JanodeConnection>;
    Logger: JanodeLogger;
    EVENT: {
      CONNECTION_CLOSED: 'connection_closed';
      SESSION_DESTROYED: 'session_destroyed';
      HANDLE_DETACHED: 'handle_detached';
      HANDLE_ICE_FAILED: 'handle_ice_failed';
      HANDLE_HANGUP: 'handle_hangup';
      HANDLE_MEDIA: 'handle_media';
      HANDLE_WEBRTCUP: 'handle_webrtcup';
      HANDLE_SLOWLINK: 'handle_slowlink';
      HANDLE_TRICKLE: 'handle_trickle';
      CONNECTION_ERROR: 'connection_error';
    };
  };
  export default Janode;
}

declare module 'janode/plugins/videoroom' {
  import type { JanodePlugin, JanodeHandle } from 'janode';
  const VideoRoomPlugin: JanodePlugin<JanodeHandle>;
  export default VideoRoomPlugin;
}

declare module 'janode/plugins/streaming' {
  import type { JanodePlugin, JanodeHandle } from 'janode';
  const StreamingPlugin: JanodePlugin<JanodeHandle>;
  export default StreamingPlugin;
}
