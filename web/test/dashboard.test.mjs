// The dashboard in headless Chromium (Debian's /usr/bin/chromium; no browser
// is ever downloaded) against running ovoflow APIs that are receiving live
// predictions. Run by src/api/dashboard_e2e_test.cc:
//   OVOFLOW_URL          an API that needs sign-in, trusting a Keycloak with
//                        ovoflow's realm (scripts/keycloak); the dashboard
//                        client must allow it as redirect URI and web origin
//   OVOFLOW_LOCAL_URL    an API without identity (auth disabled), same store
//   OVOFLOW_USER         who signs in (default operator-a; password dev-<user>)
//   node --test web/test/dashboard.test.mjs
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium } from 'playwright-core';

const url = process.env.OVOFLOW_URL;
const localUrl = process.env.OVOFLOW_LOCAL_URL;
const user = process.env.OVOFLOW_USER ?? 'operator-a';
const screenshot = process.env.OVOFLOW_SCREENSHOT;
const CHROMIUM = process.env.OVOFLOW_CHROMIUM ?? '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const FIELDS = ['total', 'female', 'male', 'keep', 'divert', 'recheck'];
// The dashboard client's access tokens are cut to this for the test (Keycloak's
// admin API), so that a renewal and the live feed's "token expired" happen.
const SHORT_TOKEN_LIFESPAN_S = 20;

/** Waits until `probe()` is truthy (returned), polling; fails with `what` on timeout. */
async function eventually(what, probe, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await probe();
    if (last) return last;
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(250);
  }
}

async function postForm(endpoint, form, token) {
  const res = await fetch(endpoint, {
    method: 'POST', body: new URLSearchParams(form),
    headers: token ? { Authorization: `Bearer ${token}` } : {},
  });
  const body = await res.json();
  assert.equal(res.status, 200, `${endpoint}: ${JSON.stringify(body)}`);
  return body;
}

/** A user's access token by the password grant of the CLI client (as `scripts/keycloak token --user`). */
async function passwordToken(issuer, name) {
  const body = await postForm(`${issuer}/protocol/openid-connect/token`,
    { grant_type: 'password', client_id: 'ovoflow-cli', username: name, password: `dev-${name}` });
  return body.access_token;
}

/** Sets attributes of the realm's ovoflow-dashboard client (Keycloak admin API); returns the old values. */
async function setDashboardClientAttributes(issuer, attributes) {
  const base = issuer.replace(/\/realms\/[^/]+$/, '');
  const realm = issuer.slice(issuer.lastIndexOf('/') + 1);
  const admin = await postForm(`${base}/realms/master/protocol/openid-connect/token`,
    { grant_type: 'password', client_id: 'admin-cli', username: 'admin', password: 'admin' });
  const headers = { Authorization: `Bearer ${admin.access_token}`, 'Content-Type': 'application/json' };
  const found = await (await fetch(`${base}/admin/realms/${realm}/clients?clientId=ovoflow-dashboard`, { headers })).json();
  assert.equal(found.length, 1, 'the realm has the ovoflow-dashboard client');
  const client = found[0];
  const old = Object.fromEntries(Object.keys(attributes).map((k) => [k, client.attributes?.[k] ?? '']));
  client.attributes = { ...client.attributes, ...attributes };
  const res = await fetch(`${base}/admin/realms/${realm}/clients/${client.id}`,
    { method: 'PUT', headers, body: JSON.stringify(client) });
  assert.equal(res.status, 204, `updating ovoflow-dashboard: HTTP ${res.status}`);
  return old;
}

async function statsCounts(base, token) {
  const res = await fetch(new URL('/v1/stats', base), { headers: token ? { Authorization: `Bearer ${token}` } : {} });
  assert.equal(res.status, 200);
  const stats = await res.json();
  const out = {};
  for (const t of stats.tenants) out[t.tenant_id] = Object.fromEntries(FIELDS.map((f) => [f, t[f]]));
  return out;
}

async function shownCounts(page) {
  return page.$$eval('[data-tenant]', (cards, fields) => {
    const out = {};
    for (const card of cards) {
      const counts = {};
      for (const f of fields) {
        const text = card.querySelector(`[data-field="${f}"]`)?.textContent ?? '';
        counts[f] = Number(text.replace(/[^0-9]/g, ''));
      }
      out[card.dataset.tenant] = counts;
    }
    return out;
  }, FIELDS);
}

/** The page's cards converge on /v1/stats (initial snapshot + live + resync); returns them. */
async function countsConverge(page, base, token) {
  let shown = {};
  let expected = {};
  for (let i = 0; i < 240; i++) {
    expected = await statsCounts(base, token);
    shown = await shownCounts(page);
    if (JSON.stringify(shown) === JSON.stringify(expected) && Object.keys(expected).length > 0) break;
    await sleep(250);
  }
  assert.deepEqual(shown, expected, 'the cards show what /v1/stats says for this caller');
  return shown;
}

async function latestRows(page) {
  return page.$$eval('#latest tr', (trs) => trs.map((tr) => ({
    egg: tr.dataset.egg,
    tenant: tr.children[1]?.textContent,
    decision: tr.querySelector('.decision')?.textContent,
    decisionClass: tr.querySelector('.decision')?.className,
    cells: tr.children.length,
  })));
}

function checkRows(rows) {
  assert.ok(rows.length > 0 && rows.length <= 25, `rows: ${rows.length}`);
  for (const r of rows) {
    assert.match(r.decision ?? '', /^(KEEP|DIVERT|RECHECK)$/);
    assert.match(r.decisionClass ?? '', /decision-(keep|divert|recheck)/);
    assert.equal(r.cells, 8);
  }
}

/** Console errors and uncaught exceptions of the dashboard's own pages (not the provider's). */
function watchProblems(page, origin) {
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && (m.location().url ?? '').startsWith(origin)) problems.push(`console: ${m.text()}`);
  });
  return problems;
}

test('without an identity provider the dashboard needs no sign-in and shows every hatchery',
  { skip: localUrl ? false : 'set OVOFLOW_LOCAL_URL to an ovoflow API without identity', timeout: 120_000 }, async () => {
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 960 } });
      const problems = watchProblems(page, new URL(localUrl).origin);
      await page.goto(localUrl);
      assert.match(await page.locator('h1').innerText(), /ovoflow — live in-ovo sexing/);
      await page.waitForSelector('body[data-auth="disabled"]', { timeout: 30_000 });
      assert.equal(await page.isVisible('#session'), false, 'no user, no Sign out');
      assert.equal(await page.isVisible('#notice'), false);

      await page.waitForSelector('#latest tr', { timeout: 60_000 });
      assert.equal(await page.getAttribute('#connection', 'data-state'), 'live');
      const shown = await countsConverge(page, localUrl);
      assert.deepEqual(Object.keys(shown).sort(), ['hatchery-a', 'hatchery-b', 'hatchery-c']);
      checkRows(await latestRows(page));
      const ratio = await page.locator('[data-tenant] [data-field="female_ratio"]').first().innerText();
      assert.match(ratio, /% female/);
      assert.deepEqual(problems, []);
    } finally {
      await browser.close();
    }
  });

test(`${user} signs in through Keycloak, sees only their hatchery live, the token renews, and signs out`,
  { skip: url ? false : 'set OVOFLOW_URL to an ovoflow API with sign-in', timeout: 240_000 }, async () => {
    const origin = new URL(url).origin;
    const configRes = await fetch(new URL('/v1/auth/config', url));
    assert.equal(configRes.status, 200);
    const config = await configRes.json();
    assert.equal(config.enabled, true, '/v1/auth/config: sign-in enabled');
    assert.equal(config.client_id, 'ovoflow-dashboard');
    const issuer = config.issuer;
    const tokenEndpoint = `${issuer}/protocol/openid-connect/token`;
    const userToken = await passwordToken(issuer, user);
    const adminToken = await passwordToken(issuer, 'platform-admin');
    const everything = await statsCounts(url, adminToken);
    const oldAttributes = await setDashboardClientAttributes(issuer,
      { 'access.token.lifespan': String(SHORT_TOKEN_LIFESPAN_S) });

    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 960 } });
      const problems = watchProblems(page, origin);
      const tokenCalls = [];
      page.on('response', (r) => {
        if (r.url() === tokenEndpoint && r.request().method() === 'POST') {
          const grant = new URLSearchParams(r.request().postData() ?? '').get('grant_type');
          tokenCalls.push({ grant, status: r.status() });
        }
      });
      const sockets = [];
      page.on('websocket', (ws) => {
        if (!new URL(ws.url()).pathname.endsWith('/v1/live')) return;
        const s = { ws, frames: 0, closed: false };
        ws.on('framereceived', () => { s.frames++; });
        ws.on('close', () => { s.closed = true; });
        sockets.push(s);
      });

      // 1. The dashboard sends the browser to Keycloak's login form.
      await page.goto(url);
      await page.waitForURL((u) => u.href.startsWith(`${issuer}/`), { timeout: 30_000 });
      const authorize = new URL(page.url());
      assert.equal(authorize.searchParams.get('code_challenge_method'), 'S256');
      assert.equal(authorize.searchParams.get('client_id'), 'ovoflow-dashboard');
      await page.locator('#username').fill(user);
      await page.locator('#password').fill(`dev-${user}`);
      await Promise.all([page.waitForURL((u) => u.origin === origin, { timeout: 30_000 }), page.locator('#kc-login').click()]);

      // 2. Back on the dashboard: signed in, the code gone from the address bar, no token in storage.
      await page.waitForSelector('body[data-auth="signed-in"]', { timeout: 30_000 });
      assert.equal(await page.locator('#user-name').innerText(), user, 'the signed-in user is shown');
      assert.match(await page.locator('#user-scope').innerText(), /hatchery-a/);
      assert.equal(await page.isVisible('#sign-out'), true);
      assert.equal(new URL(page.url()).hash, '', 'the authorization response is removed from the URL');
      const storage = await page.evaluate(() => ({ local: localStorage.length, session: Object.keys(sessionStorage) }));
      assert.deepEqual(storage, { local: 0, session: [] }, 'tokens live in memory only; the PKCE data is removed');
      assert.deepEqual(tokenCalls, [{ grant: 'authorization_code', status: 200 }]);

      // 3. Only hatchery-a, although the store holds the others too; live rows over the token's WebSocket.
      assert.ok(everything['hatchery-b'] && everything['hatchery-c'], 'the store holds other hatcheries');
      await page.waitForSelector('#latest tr', { timeout: 60_000 });
      assert.equal(await page.getAttribute('#connection', 'data-state'), 'live');
      const shown = await countsConverge(page, url, userToken);
      assert.deepEqual(Object.keys(shown), ['hatchery-a'], `${user} sees only hatchery-a`);
      const rows = await latestRows(page);
      checkRows(rows);
      assert.deepEqual([...new Set(rows.map((r) => r.tenant))], ['hatchery-a']);
      await sleep(500);  // the ratio bars' transition, before the picture
      if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });

      // 4. Silent renewal before expiry, and the live feed back with the new token after the server's 1008.
      await eventually('a refresh_token renewal', () => tokenCalls.some((c) => c.grant === 'refresh_token'),
        SHORT_TOKEN_LIFESPAN_S * 2000);
      assert.ok(tokenCalls.every((c) => c.status === 200), `token calls: ${JSON.stringify(tokenCalls)}`);
      await eventually('the live socket closed at token expiry and reopened', () =>
        sockets.length >= 2 && sockets[0].closed && sockets.at(-1).frames > 0, SHORT_TOKEN_LIFESPAN_S * 3000);
      assert.equal(await page.getAttribute('#connection', 'data-state'), 'live');
      assert.equal(await page.locator('body').getAttribute('data-auth'), 'signed-in');
      await countsConverge(page, url, userToken);

      // 5. Sign out: tokens dropped, the provider's session ended, back on a signed-out page.
      await Promise.all([page.waitForURL((u) => u.origin === origin, { timeout: 30_000 }), page.locator('#sign-out').click()]);
      await page.waitForSelector('body[data-auth="signed-out"]', { timeout: 30_000 });
      assert.match(await page.locator('#notice-text').innerText(), /signed out/i);
      assert.equal(await page.isVisible('#dashboard'), false);
      assert.equal(await page.isVisible('#session'), false);
      assert.deepEqual(await page.evaluate(() => Object.keys(sessionStorage)), []);
      // Signing in again needs the password: the Keycloak session is gone.
      await Promise.all([page.waitForURL((u) => u.href.startsWith(`${issuer}/`), { timeout: 30_000 }),
        page.locator('#sign-in').click()]);
      await page.waitForSelector('#username', { timeout: 30_000 });
      assert.deepEqual(problems, []);
    } finally {
      await browser.close();
      await setDashboardClientAttributes(issuer, oldAttributes);
    }
  });
