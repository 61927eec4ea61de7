// ovoflow dashboard: sign-in (auth.ts), then initial counts from /v1/stats
// and live updates from /v1/live, both scoped by the API to the signed-in
// person's hatcheries. Messages only touch the model; the DOM is redrawn at
// most once per animation frame, so 1,000 messages/s stay cheap.

import { AuthSession } from './auth.js';
import { LiveFeed, liveUrl, type ConnectionState } from './live.js';
import { DashboardModel } from './model.js';
import { displayName, scopeLabel, type Me } from './oidc.js';
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
    token: () => this.auth.freshToken(),
  });

  constructor(private readonly auth: AuthSession) {}

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
      const res = await this.auth.fetch('/v1/stats', { headers: { Accept: 'application/json' } });
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

/** The page around the dashboard: who is signed in, or why no one is. */
class SessionView {
  private readonly session = byId('session');
  private readonly notice = byId('notice');
  private readonly dashboard = byId('dashboard');

  signedIn(name: string, scope: string, signOut: () => void): void {
    document.body.dataset['auth'] = 'signed-in';
    byId('user-name').textContent = name;
    byId('user-scope').textContent = scope;
    byId<HTMLButtonElement>('sign-out').onclick = signOut;
    this.session.hidden = false;
    this.notice.hidden = true;
    this.dashboard.hidden = false;
  }

  /** Signed in, but the API grants this account nothing (no ovoflow role). */
  refused(name: string, text: string, signOut: () => void): void {
    this.signedOut('No access', text, null);
    this.signedIn(name, 'no access', signOut);
    document.body.dataset['auth'] = 'refused';
    this.notice.hidden = false;
    this.dashboard.hidden = true;
  }

  /** No identity provider (the API runs with --no-auth): the dashboard as is. */
  local(): void {
    document.body.dataset['auth'] = 'disabled';
    this.dashboard.hidden = false;
  }

  /** Signed out, or refused: a message and, when possible, a way to sign in (again). */
  signedOut(title: string, text: string, signIn: (() => void) | null): void {
    document.body.dataset['auth'] = 'signed-out';
    byId('notice-heading').textContent = title;
    byId('notice-text').textContent = text;
    const button = byId<HTMLButtonElement>('sign-in');
    button.hidden = signIn === null;
    if (signIn) button.onclick = signIn;
    this.dashboard.hidden = true;
    this.notice.hidden = false;
    byId('connection').hidden = true;
  }
}

async function main(): Promise<void> {
  const view = new SessionView();
  let auth: AuthSession;
  try {
    auth = await AuthSession.load();
  } catch (e) {
    view.signedOut('Sign-in unavailable', `The identity provider cannot be reached: ${String(e)}`,
      () => window.location.reload());
    return;
  }
  const start = await auth.start();
  switch (start.kind) {
    case 'redirecting':
      return;
    case 'signed-out':
      view.signedOut('Signed out', start.reason, () => void auth.signIn());
      return;
    case 'disabled':
      view.local();
      break;
    case 'signed-in': {
      const res = await auth.fetch('/v1/me', { headers: { Accept: 'application/json' } });
      if (!res.ok) {
        view.refused(displayName(auth.identity, undefined), `ovoflow refused this account (HTTP ${res.status}).`,
          () => auth.signOut());
        return;
      }
      const me = (await res.json()) as Me;
      view.signedIn(displayName(auth.identity, me), scopeLabel(me), () => auth.signOut());
      break;
    }
  }
  new Dashboard(auth).start();
}

void main();
