// The dashboard in headless Chromium (Debian's /usr/bin/chromium; no browser
// is ever downloaded) against a running ovoflow API at OVOFLOW_URL, which
// must be receiving live predictions. Run by src/api/dashboard_e2e_test.cc:
//   OVOFLOW_URL=http://127.0.0.1:8080/ node --test web/test/dashboard.test.mjs
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium } from 'playwright-core';

const url = process.env.OVOFLOW_URL;
const screenshot = process.env.OVOFLOW_SCREENSHOT;
const CHROMIUM = process.env.OVOFLOW_CHROMIUM ?? '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const FIELDS = ['total', 'female', 'male', 'keep', 'divert', 'recheck'];

async function expectedCounts() {
  const res = await fetch(new URL('/v1/stats', url));
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

test('dashboard shows live eggs and per-hatchery counts matching /v1/stats',
  { skip: url ? false : 'set OVOFLOW_URL to a running ovoflow API', timeout: 120_000 }, async () => {
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 960 } });
      const problems = [];
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
      await page.goto(url);
      assert.match(await page.locator('h1').innerText(), /ovoflow — live in-ovo sexing/);

      // Live rows arrive over the WebSocket.
      await page.waitForSelector('#latest tr', { timeout: 60_000 });
      assert.equal(await page.getAttribute('#connection', 'data-state'), 'live');

      // The cards converge on the store's counts (initial /v1/stats + live + resync).
      let shown = {};
      let expected = {};
      for (let i = 0; i < 240; i++) {
        expected = await expectedCounts();
        shown = await shownCounts(page);
        if (JSON.stringify(shown) === JSON.stringify(expected) && Object.keys(expected).length > 0) break;
        await sleep(250);
      }
      assert.deepEqual(shown, expected);

      // The table shows eggs with coloured decisions and a latency.
      const rows = await page.$$eval('#latest tr', (trs) => trs.map((tr) => ({
        egg: tr.dataset.egg,
        decision: tr.querySelector('.decision')?.textContent,
        decisionClass: tr.querySelector('.decision')?.className,
        cells: tr.children.length,
      })));
      assert.ok(rows.length > 0 && rows.length <= 25, `rows: ${rows.length}`);
      for (const r of rows) {
        assert.match(r.decision ?? '', /^(KEEP|DIVERT|RECHECK)$/);
        assert.match(r.decisionClass ?? '', /decision-(keep|divert|recheck)/);
        assert.equal(r.cells, 8);
      }
      const ratio = await page.locator('[data-tenant] [data-field="female_ratio"]').first().innerText();
      assert.match(ratio, /% female/);

      // Let the ratio bars finish their transition before the picture.
      await sleep(500);
      if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
      assert.deepEqual(problems, []);
    } finally {
      await browser.close();
    }
  });
