// The dashboard's sign-in, its pure parts (web/dist/oidc.js and live.js,
// built by `npm run build`): PKCE, the URLs sent to the provider, the checks
// on what comes back, and when tokens are renewed.
//   node --test web/test/auth.test.mjs
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AuthError, PENDING_LOGIN_MAX_AGE_MS, acceptCallback, authorizeUrl, base64UrlEncode, checkIdToken, codeTokenRequest,
  discoveryUrl, displayName, endSessionUrl, isAllowedEndpoint, newPendingLogin, parseCallback, parseProviderMetadata,
  parseTokenResponse, pkceChallenge, randomToken, redirectUriOf, refreshExpired, refreshTokenRequest, renewalDelayMs,
  scopeLabel,
} from '../dist/oidc.js';
import { closedForExpiredToken, liveProtocols } from '../dist/live.js';

const ISSUER = 'http://127.0.0.1:18180/realms/ovoflow';
const META = {
  issuer: ISSUER,
  authorization_endpoint: `${ISSUER}/protocol/openid-connect/auth`,
  token_endpoint: `${ISSUER}/protocol/openid-connect/token`,
  end_session_endpoint: `${ISSUER}/protocol/openid-connect/logout`,
};
const NOW = 1_777_593_600_000;

function jwt(claims) {
  const part = (o) => base64UrlEncode(new TextEncoder().encode(JSON.stringify(o)));
  return `${part({ alg: 'RS256', typ: 'JWT' })}.${part(claims)}.c2ln`;
}

function pending(overrides = {}) {
  return { state: 's-1', nonce: 'n-1', verifier: 'v'.repeat(43), redirectUri: 'http://127.0.0.1:18080/',
    issuer: ISSUER, createdAtMs: NOW, ...overrides };
}

test('PKCE S256 challenge matches RFC 7636 appendix B', async () => {
  assert.equal(await pkceChallenge('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk'),
    'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM');
  await assert.rejects(pkceChallenge('too-short'), AuthError);
  await assert.rejects(pkceChallenge('x'.repeat(42) + '+'), AuthError);
});

test('random state, nonce and verifier are 43 base64url characters, never repeated', () => {
  const seen = new Set();
  for (let i = 0; i < 100; i++) {
    const t = randomToken();
    assert.match(t, /^[A-Za-z0-9_-]{43}$/);
    seen.add(t);
  }
  assert.equal(seen.size, 100);
  const p = newPendingLogin(ISSUER, 'http://127.0.0.1:18080/', NOW);
  assert.equal(new Set([p.state, p.nonce, p.verifier]).size, 3);
  assert.equal(p.createdAtMs, NOW);
});

test('the authorization request asks for a code with PKCE S256, state and nonce, answered in the fragment', async () => {
  const p = pending();
  const url = new URL(authorizeUrl(META, 'ovoflow-dashboard', p, 'CHALLENGE'));
  assert.equal(url.origin + url.pathname, META.authorization_endpoint);
  assert.deepEqual(Object.fromEntries(url.searchParams), {
    response_type: 'code', client_id: 'ovoflow-dashboard', redirect_uri: 'http://127.0.0.1:18080/',
    scope: 'openid', state: 's-1', nonce: 'n-1', code_challenge: 'CHALLENGE', code_challenge_method: 'S256',
    response_mode: 'fragment',
  });
  assert.equal(url.searchParams.get('code_verifier'), null, 'the verifier never leaves the browser before the token request');
  assert.equal(redirectUriOf({ origin: 'https://localhost:8080', pathname: '/' }), 'https://localhost:8080/');
});

test('discovery: the document must name the trusted issuer and HTTPS (or loopback) endpoints', () => {
  assert.equal(discoveryUrl(`${ISSUER}/`), `${ISSUER}/.well-known/openid-configuration`);
  assert.deepEqual(parseProviderMetadata({ ...META, jwks_uri: 'x' }, ISSUER), META);
  const { end_session_endpoint: _, ...withoutLogout } = META;
  assert.deepEqual(parseProviderMetadata(withoutLogout, ISSUER), withoutLogout);
  assert.throws(() => parseProviderMetadata({ ...META, issuer: 'https://evil.example' }, ISSUER), /issuer/);
  assert.throws(() => parseProviderMetadata({ ...META, token_endpoint: 'http://evil.example/token' }, ISSUER),
    /token_endpoint/);
  assert.throws(() => parseProviderMetadata({ ...META, authorization_endpoint: undefined }, ISSUER), /authorization/);
  assert.throws(() => parseProviderMetadata('nope', ISSUER), AuthError);
  assert.ok(isAllowedEndpoint('https://id.example.com/token'));
  assert.ok(isAllowedEndpoint('http://localhost:8180/x') && isAllowedEndpoint('http://[::1]:8180/x'));
  assert.ok(!isAllowedEndpoint('http://10.0.0.1/token') && !isAllowedEndpoint('javascript:alert(1)'));
});

test('callback parsing: code, provider error, or nothing', () => {
  assert.deepEqual(parseCallback(''), { kind: 'none' });
  assert.deepEqual(parseCallback('#section-2'), { kind: 'none' });
  assert.deepEqual(parseCallback(`#state=s-1&session_state=x&iss=${encodeURIComponent(ISSUER)}&code=c-1`),
    { kind: 'code', code: 'c-1', state: 's-1', iss: ISSUER });
  assert.deepEqual(parseCallback('#error=access_denied&error_description=no+way&state=s-1'),
    { kind: 'error', error: 'access_denied', description: 'no way', state: 's-1' });
  assert.throws(() => parseCallback('#code=c-1'), /without state/);
});

test('a callback is accepted only for the pending sign-in: state, age and issuer', () => {
  const cb = parseCallback(`#state=s-1&iss=${encodeURIComponent(ISSUER)}&code=c-1`);
  assert.equal(acceptCallback(cb, pending(), NOW + 1000), 'c-1');
  assert.throws(() => acceptCallback(cb, pending({ state: 's-2' }), NOW), /state mismatch/);
  assert.throws(() => acceptCallback(cb, null, NOW), /no sign-in was started/);
  assert.throws(() => acceptCallback(cb, pending(), NOW + PENDING_LOGIN_MAX_AGE_MS + 1), /too long/);
  assert.throws(() => acceptCallback(cb, pending({ issuer: 'https://other.example' }), NOW), /issuer/);
  // An error response with a foreign state is a state mismatch; with ours, the provider's refusal.
  assert.throws(() => acceptCallback(parseCallback('#error=access_denied&state=zz'), pending(), NOW), /state mismatch/);
  assert.throws(() => acceptCallback(parseCallback('#error=access_denied&state=s-1'), pending(), NOW), /access_denied/);
  assert.throws(() => acceptCallback({ kind: 'none' }, pending(), NOW), AuthError);
});

test('token requests: the code with its PKCE verifier, and the refresh grant; no client secret', () => {
  const p = pending();
  assert.deepEqual(Object.fromEntries(codeTokenRequest('ovoflow-dashboard', 'c-1', p)), {
    grant_type: 'authorization_code', client_id: 'ovoflow-dashboard', code: 'c-1',
    redirect_uri: 'http://127.0.0.1:18080/', code_verifier: p.verifier,
  });
  assert.deepEqual(Object.fromEntries(refreshTokenRequest('ovoflow-dashboard', 'r-1')),
    { grant_type: 'refresh_token', client_id: 'ovoflow-dashboard', refresh_token: 'r-1' });
});

test('token responses: expiry on this clock, errors refused', () => {
  const t = parseTokenResponse({ access_token: 'a', token_type: 'Bearer', expires_in: 300, refresh_expires_in: 1800,
    refresh_token: 'r', id_token: 'i' }, NOW);
  assert.deepEqual(t, { accessToken: 'a', idToken: 'i', refreshToken: 'r', obtainedAtMs: NOW,
    expiresAtMs: NOW + 300_000, refreshExpiresAtMs: NOW + 1_800_000 });
  assert.equal(parseTokenResponse({ access_token: 'a', token_type: 'bearer', expires_in: 60, refresh_expires_in: 0 }, NOW)
    .refreshExpiresAtMs, undefined);
  assert.throws(() => parseTokenResponse({ error: 'invalid_grant', error_description: 'Code not valid' }, NOW),
    /invalid_grant \(Code not valid\)/);
  assert.throws(() => parseTokenResponse({ access_token: 'a', token_type: 'DPoP', expires_in: 60 }, NOW), /Bearer/);
  assert.throws(() => parseTokenResponse({ access_token: 'a', token_type: 'Bearer' }, NOW), /expires_in/);
  assert.throws(() => parseTokenResponse({ token_type: 'Bearer', expires_in: 60 }, NOW), /access_token/);
});

test('ID token: issuer, audience, nonce, expiry; on renewal the same subject', () => {
  const claims = { iss: ISSUER, aud: 'ovoflow-dashboard', sub: 'u-1', nonce: 'n-1', exp: NOW / 1000 + 300,
    preferred_username: 'operator-a' };
  const want = { issuer: ISSUER, clientId: 'ovoflow-dashboard', nonce: 'n-1', nowMs: NOW };
  assert.equal(checkIdToken(jwt(claims), want).preferred_username, 'operator-a');
  assert.throws(() => checkIdToken(jwt({ ...claims, nonce: 'n-2' }), want), /nonce/);
  assert.throws(() => checkIdToken(jwt({ ...claims, nonce: undefined }), want), /nonce/);
  assert.throws(() => checkIdToken(jwt({ ...claims, iss: 'https://evil.example' }), want), /issuer/);
  assert.throws(() => checkIdToken(jwt({ ...claims, aud: 'another-client' }), want), /aud/);
  assert.throws(() => checkIdToken(jwt({ ...claims, aud: ['ovoflow-dashboard', 'x'], azp: 'x' }), want), /azp/);
  assert.ok(checkIdToken(jwt({ ...claims, aud: ['ovoflow-dashboard', 'x'], azp: 'ovoflow-dashboard' }), want));
  assert.throws(() => checkIdToken(jwt({ ...claims, exp: NOW / 1000 - 3600 }), want), /expired/);
  assert.throws(() => checkIdToken('not.a-jwt', want), AuthError);
  assert.throws(() => checkIdToken('a.b', want), /not a JWT/);
  // Renewal: nonce may be left out; the subject may not change.
  const renewal = { ...want, subject: 'u-1' };
  assert.ok(checkIdToken(jwt({ ...claims, nonce: undefined }), renewal));
  assert.throws(() => checkIdToken(jwt({ ...claims, sub: 'u-2' }), renewal), /another subject/);
});

test('renewal is scheduled before expiry, never immediately for a fresh token', () => {
  const tokens = (lifetimeS) => ({ accessToken: 'a', refreshToken: 'r', obtainedAtMs: NOW,
    expiresAtMs: NOW + lifetimeS * 1000 });
  assert.equal(renewalDelayMs(tokens(300), NOW), 225_000);        // three quarters of 5 min
  assert.equal(renewalDelayMs(tokens(3600), NOW), 2_700_000);     // three quarters of an hour
  assert.equal(renewalDelayMs(tokens(120), NOW), 60_000);         // a minute before expiry
  assert.equal(renewalDelayMs(tokens(60), NOW), 30_000);          // half of a short lifetime
  assert.equal(renewalDelayMs(tokens(10), NOW), 5_000);
  assert.equal(renewalDelayMs(tokens(300), NOW + 200_000), 25_000);
  assert.equal(renewalDelayMs(tokens(300), NOW + 400_000), 0);    // overdue: now
  assert.ok(!refreshExpired({ ...tokens(300), refreshExpiresAtMs: NOW + 1000 }, NOW));
  assert.ok(refreshExpired({ ...tokens(300), refreshExpiresAtMs: NOW + 1000 }, NOW + 1000));
  assert.ok(refreshExpired({ ...tokens(300), refreshToken: undefined }, NOW));
  assert.ok(!refreshExpired(tokens(300), NOW + 10_000_000), 'no refresh expiry known: try it');
});

test('sign-out: RP-initiated logout with the ID token as hint and the page to return to', () => {
  const url = new URL(endSessionUrl(META, 'ovoflow-dashboard', 'ID.TOKEN.X', 'http://127.0.0.1:18080/'));
  assert.equal(url.origin + url.pathname, META.end_session_endpoint);
  assert.deepEqual(Object.fromEntries(url.searchParams), {
    id_token_hint: 'ID.TOKEN.X', client_id: 'ovoflow-dashboard', post_logout_redirect_uri: 'http://127.0.0.1:18080/',
  });
  const { end_session_endpoint: _, ...noLogout } = META;
  assert.equal(endSessionUrl(noLogout, 'ovoflow-dashboard', 'x', 'http://127.0.0.1:18080/'), null);
});

test('who is shown: preferred name, else name, else the API\'s subject; their hatcheries and roles', () => {
  assert.equal(displayName({ preferred_username: 'operator-a', name: 'Otto' }, { subject: 'u-1' }), 'operator-a');
  assert.equal(displayName({ name: 'Otto Operator' }, { subject: 'u-1' }), 'Otto Operator');
  assert.equal(displayName(undefined, { subject: 'u-1' }), 'u-1');
  const me = { subject: 'u-1', issuer: ISSUER, all_tenants: false, tenants: ['hatchery-a'], roles: ['operator'] };
  assert.equal(scopeLabel(me), 'hatchery-a · operator');
  assert.equal(scopeLabel({ ...me, all_tenants: true, roles: ['platform-admin'] }), 'all hatcheries · platform-admin');
});

test('the live feed offers its token as a subprotocol and reconnects at once after "token expired"', () => {
  assert.deepEqual(liveProtocols('h.p.s'), ['ovoflow.v1', 'bearer.h.p.s']);
  assert.deepEqual(liveProtocols(null), ['ovoflow.v1']);
  assert.ok(closedForExpiredToken(1008, 'token expired'));
  assert.ok(!closedForExpiredToken(1008, 'client too slow: more than 1024 messages waiting'));
  assert.ok(!closedForExpiredToken(1006, ''));
});
