// The /v1/live WebSocket with reconnection (exponential backoff with jitter).
// Browsers cannot set headers on a WebSocket, so the access token rides as
// the subprotocol "bearer.<jwt>" beside "ovoflow.v1" (the one the server
// answers). The server closes with 1008 "token expired" when the token the
// socket opened with expires; the feed then reconnects at once with the
// session's current token.

import type { Prediction } from './types.js';

export type ConnectionState = 'connecting' | 'live' | 'reconnecting';

export interface LiveHandlers {
  onMessage(p: Prediction): void;
  onState(state: ConnectionState, detail: string): void;
  /** Called each time the socket opens (first time and after every reconnect). */
  onOpen(): void;
  /** The access token to open the socket with (renewed if about to expire); null without identity. */
  token(): Promise<string | null>;
}

const MIN_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 10_000;
// A socket closed for an expired token sooner than this after opening is
// retried with backoff (clocks apart), not at once.
const MIN_LIFETIME_FOR_QUICK_RECONNECT_MS = 5_000;
/** Close code of a policy violation: the server's "token expired" (RFC 6455 7.4.1). */
export const CLOSE_POLICY = 1008;
export const LIVE_SUBPROTOCOL = 'ovoflow.v1';

/** The subprotocols to offer: ovoflow.v1, and the token when there is one. */
export function liveProtocols(token: string | null): string[] {
  return token ? [LIVE_SUBPROTOCOL, `bearer.${token}`] : [LIVE_SUBPROTOCOL];
}

/** True for the server's close at token expiry: reconnect now, with a fresh token, no backoff. */
export function closedForExpiredToken(code: number, reason: string): boolean {
  return code === CLOSE_POLICY && reason === 'token expired';
}

export function liveUrl(location: Location): string {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/v1/live`;
}

export class LiveFeed {
  private socket: WebSocket | null = null;
  private backoffMs = MIN_BACKOFF_MS;
  private stopped = false;

  constructor(private readonly url: string, private readonly handlers: LiveHandlers) {}

  start(): void {
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.socket?.close(1000, 'page closed');
  }

  private connect(): void {
    this.handlers.onState('connecting', 'connecting…');
    this.handlers.token().then(
      (token) => this.open(token),
      () => this.retry('no access token'),
    );
  }

  private open(token: string | null): void {
    if (this.stopped) return;
    let socket: WebSocket;
    try {
      socket = new WebSocket(this.url, liveProtocols(token));
    } catch (e) {
      this.retry(e instanceof Error ? e.message : String(e));
      return;
    }
    this.socket = socket;
    let openedAt = Number.POSITIVE_INFINITY;
    socket.onopen = () => {
      openedAt = performance.now();
      this.backoffMs = MIN_BACKOFF_MS;
      this.handlers.onState('live', 'live');
      this.handlers.onOpen();
    };
    socket.onmessage = (event: MessageEvent) => {
      if (typeof event.data !== 'string') return;
      try {
        this.handlers.onMessage(JSON.parse(event.data) as Prediction);
      } catch {
        // A malformed message is skipped; the feed goes on.
      }
    };
    socket.onclose = (event: CloseEvent) => {
      if (this.stopped) return;
      const lived = performance.now() - openedAt;
      if (closedForExpiredToken(event.code, event.reason) && lived >= MIN_LIFETIME_FOR_QUICK_RECONNECT_MS) {
        this.handlers.onState('reconnecting', 'token expired; reconnecting');
        this.connect();
        return;
      }
      this.retry(event.reason);
    };
  }

  private retry(reason: string): void {
    if (this.stopped) return;
    const delay = Math.round(this.backoffMs * (0.75 + Math.random() * 0.5));
    this.backoffMs = Math.min(this.backoffMs * 2, MAX_BACKOFF_MS);
    const why = reason ? ` (${reason})` : '';
    this.handlers.onState('reconnecting', `disconnected${why}; retrying in ${(delay / 1000).toFixed(1)} s`);
    window.setTimeout(() => this.connect(), delay);
  }
}
