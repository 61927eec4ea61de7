// ovoflow dashboard: initial counts from /v1/stats, then live updates from
// /v1/live. Messages only touch the model; the DOM is redrawn at most once
// per animation frame, so 1,000 messages/s stay cheap.

import { LiveFeed, liveUrl, type ConnectionState } from './live.js';
import { DashboardModel } from './model.js';
import { DashboardView } from './render.js';
import type { Prediction, Stats } from './types.js';

// Counts are exact after a resync; live messages racing a snapshot may be
// counted twice or missed until the next one.
const RESYNC_MS = 10_000;

function byId<T extends HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`#${id} missing from index.html`);
  return e as T;
}

class Dashboard {
  private readonly model = new DashboardModel();
  private readonly view = new DashboardView(byId('tenants'), byId('latest'), byId('totals'));
  private readonly status = byId('connection');
  private readonly statusText = byId('connection-text');
  private readonly rate = byId('rate');
  private frameRequested = false;
  private syncing = false;
  private readonly feed = new LiveFeed(liveUrl(window.location), {
    onMessage: (p) => this.onMessage(p),
    onState: (s, detail) => this.onState(s, detail),
    onOpen: () => void this.resync(),
  });

  start(): void {
    this.feed.start();
    window.setInterval(() => void this.resync(), RESYNC_MS);
    window.setInterval(() => this.renderRate(), 500);
  }

  private onMessage(p: Prediction): void {
    this.model.apply(p, performance.now());
    this.scheduleRender();
  }

  private onState(state: ConnectionState, detail: string): void {
    this.status.dataset['state'] = state;
    this.statusText.textContent = detail;
  }

  private async resync(): Promise<void> {
    if (this.syncing) return;
    this.syncing = true;
    try {
      const res = await fetch('/v1/stats', { headers: { Accept: 'application/json' } });
      if (res.ok) {
        this.model.resetFromStats((await res.json()) as Stats);
        this.scheduleRender();
      }
    } catch {
      // The server is away; the live feed's reconnect loop says so.
    } finally {
      this.syncing = false;
    }
  }

  private scheduleRender(): void {
    if (this.frameRequested) return;
    this.frameRequested = true;
    requestAnimationFrame(() => {
      this.frameRequested = false;
      this.view.render(this.model);
    });
  }

  private renderRate(): void {
    const perSecond = this.model.ratePerSecond(performance.now());
    this.rate.textContent = perSecond >= 100 ? perSecond.toFixed(0) : perSecond.toFixed(1);
  }
}

new Dashboard().start();
