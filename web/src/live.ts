// The /v1/live WebSocket with reconnection (exponential backoff with jitter).

import type { Prediction } from './types.js';

export type ConnectionState = 'connecting' | 'live' | 'reconnecting';

export interface LiveHandlers {
  onMessage(p: Prediction): void;
  onState(state: ConnectionState, detail: string): void;
  /** Called each time the socket opens (first time and after every reconnect). */
  onOpen(): void;
}

const MIN_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 10_000;

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
    const socket = new WebSocket(this.url);
    this.socket = socket;
    socket.onopen = () => {
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
      const delay = Math.round(this.backoffMs * (0.75 + Math.random() * 0.5));
      this.backoffMs = Math.min(this.backoffMs * 2, MAX_BACKOFF_MS);
      const why = event.reason ? ` (${event.reason})` : '';
      this.handlers.onState('reconnecting', `disconnected${why}; retrying in ${(delay / 1000).toFixed(1)} s`);
      window.setTimeout(() => this.connect(), delay);
    };
  }
}
