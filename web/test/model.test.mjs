// The dashboard's pure state (web/dist/model.js, built by `npm run build`):
// counting, the latest-eggs list, the 5 s throughput window and timestamps.
//   node --test web/test/model.test.mjs
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DashboardModel, LATEST_ROWS, latencyMs, parseRfc3339Ms } from '../dist/model.js';

function prediction(i, tenant, sex, decision) {
  return {
    egg_id: `EGG-${i}`, tenant_id: tenant, scanner_id: 's', tray_id: 't', tray_position: i, incubation_day: 12,
    sex, p_female: sex === 'SEX_FEMALE' ? 0.9 : 0.1, decision, model_name: 'm', model_version: '1',
    times: { captured_at: '2026-05-01T00:00:00Z', inferred_at: '2026-05-01T00:00:00.045123456Z' },
  };
}

test('parses RFC 3339 with up to nine fractional digits', () => {
  assert.equal(parseRfc3339Ms('1970-01-01T00:00:01Z'), 1000);
  assert.equal(parseRfc3339Ms('1970-01-01T01:00:01.5+01:00'), 1500);
  assert.ok(Number.isNaN(parseRfc3339Ms('yesterday')));
  assert.ok(Number.isNaN(parseRfc3339Ms(undefined)));
  assert.ok(Math.abs(latencyMs(prediction(1, 'a', 'SEX_MALE', 'DECISION_DIVERT')) - 45.123456) < 1e-3);
});

test('counts per tenant on top of a stats snapshot and keeps the latest rows', () => {
  const m = new DashboardModel();
  m.resetFromStats({
    total: 3, female: 2, male: 1, keep: 2, divert: 1, recheck: 0,
    tenants: [{ tenant_id: 'a', total: 3, female: 2, male: 1, keep: 2, divert: 1, recheck: 0 }],
  });
  m.apply(prediction(1, 'a', 'SEX_MALE', 'DECISION_DIVERT'), 1000);
  m.apply(prediction(2, 'b', 'SEX_FEMALE', 'DECISION_RECHECK'), 1000);
  assert.deepEqual(m.tenants.get('a'), { total: 4, female: 2, male: 2, keep: 2, divert: 2, recheck: 0 });
  assert.deepEqual(m.tenants.get('b'), { total: 1, female: 1, male: 0, keep: 0, divert: 0, recheck: 1 });
  assert.equal(m.overall().total, 5);
  assert.equal(m.latest[0].egg_id, 'EGG-2');
  for (let i = 0; i < 100; i++) m.apply(prediction(i, 'a', 'SEX_MALE', 'DECISION_DIVERT'), 1000);
  assert.equal(m.latest.length, LATEST_ROWS);
});

test('throughput is averaged over a sliding five-second window', () => {
  const m = new DashboardModel();
  const start = 1_000_000;
  for (let i = 0; i < 50; i++) m.apply(prediction(i, 'a', 'SEX_MALE', 'DECISION_DIVERT'), start + i * 20);
  assert.equal(m.ratePerSecond(start + 1000), 10);  // 50 messages / 5 s
  assert.equal(m.ratePerSecond(start + 4900), 10);
  assert.equal(m.ratePerSecond(start + 7000), 0);   // all of them left the window
});

test('keeps each tenant\'s live accuracy from the last stats snapshot', () => {
  const m = new DashboardModel();
  const row = {
    model_version: '1.0.0', outcomes: 4, correct: 3, accuracy: 0.75, decided: 3, decided_correct: 2,
    decided_accuracy: 2 / 3, rechecks: 1,
  };
  m.resetFromStats({
    total: 5, female: 3, male: 2, keep: 3, divert: 2, recheck: 0, accuracy: [row],
    tenants: [
      { tenant_id: 'a', total: 4, female: 2, male: 2, keep: 2, divert: 2, recheck: 0, accuracy: [row] },
      { tenant_id: 'b', total: 1, female: 1, male: 0, keep: 1, divert: 0, recheck: 0 },  // an older server: none
    ],
  });
  assert.deepEqual(m.accuracy.get('a'), [row]);
  assert.deepEqual(m.accuracy.get('b'), []);
  m.resetFromStats({ total: 0, female: 0, male: 0, keep: 0, divert: 0, recheck: 0, tenants: [] });
  assert.equal(m.accuracy.size, 0);
});
