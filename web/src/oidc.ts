// OpenID Connect for the dashboard, the parts without side effects:
// authorization code + PKCE (RFC 7636, S256), the URLs and form bodies sent
// to the provider, the checks on what comes back (state, iss, nonce,
// audience, expiry) and when to renew. No DOM, storage, timers or network
// here (auth.ts does those), so node tests all of it (web/test/auth.test.mjs).
// docs/dashboard-auth.md describes the flow.

/** GET /v1/auth/config */
export interface AuthConfig {
  enabled: boolean;
  issuer?: string;
  client_id?: string;
  audience?: string;
}

/** The fields of the provider's discovery document the dashboard uses. */
export interface ProviderMetadata {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  end_session_endpoint?: string;
}

/** What the dashboard keeps for the redirect round trip (sessionStorage, removed on return). */
export interface PendingLogin {
  state: string;
  nonce: string;
  verifier: string;
  redirectUri: string;
  issuer: string;
  createdAtMs: number;
}

/** Tokens of a session: in memory only. Times are this browser's clock (from expires_in). */
export interface Tokens {
  accessToken: string;
  idToken?: string;
  refreshToken?: string;
  obtainedAtMs: number;
  expiresAtMs: number;
  /** When the refresh token stops working; undefined when the provider does not say. */
  refreshExpiresAtMs?: number;
}

/** A refusal of the sign-in: shown to the person, never retried automatically. */
export class AuthError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuthError';
  }
}

/** A pending login older than this is refused (the person took too long, or it is replayed). */
export const PENDING_LOGIN_MAX_AGE_MS = 10 * 60_000;
/** Clock skew allowed on the ID token's exp/iat. */
const LEEWAY_S = 60;

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** HTTPS, or plain HTTP to a loopback address (a development provider). */
export function isAllowedEndpoint(url: string): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  return u.protocol === 'https:' || (u.protocol === 'http:' && LOOPBACK_HOSTS.has(u.hostname));
}

export function discoveryUrl(issuer: string): string {
  return issuer.replace(/\/+$/, '') + '/.well-known/openid-configuration';
}

/**
 * The discovery document's endpoints, checked: its issuer must be exactly
 * the one the API trusts (OpenID Connect Discovery 1.0, 4.3) and every
 * endpoint HTTPS (or loopback HTTP).
 */
export function parseProviderMetadata(doc: unknown, expectedIssuer: string): ProviderMetadata {
  if (typeof doc !== 'object' || doc === null) throw new AuthError('discovery document is not a JSON object');
  const d = doc as Record<string, unknown>;
  if (d['issuer'] !== expectedIssuer) {
    throw new AuthError(`discovery document names issuer ${String(d['issuer'])}, expected ${expectedIssuer}`);
  }
  const endpoint = (name: string, required: boolean): string | undefined => {
    const v = d[name];
    if (v === undefined && !required) return undefined;
    if (typeof v !== 'string' || !isAllowedEndpoint(v)) throw new AuthError(`discovery document: bad ${name}`);
    return v;
  };
  const meta: ProviderMetadata = {
    issuer: expectedIssuer,
    authorization_endpoint: endpoint('authorization_endpoint', true)!,
    token_endpoint: endpoint('token_endpoint', true)!,
  };
  const endSession = endpoint('end_session_endpoint', false);
  if (endSession !== undefined) meta.end_session_endpoint = endSession;
  return meta;
}

export function base64UrlEncode(bytes: Uint8Array): string {
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function base64UrlDecode(text: string): Uint8Array {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new AuthError('not base64url');
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4);
  const binary = atob(b64);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

/** `bytes` random bytes (WebCrypto), base64url: 32 give the 43 characters RFC 7636 asks of a verifier. */
export function randomToken(bytes = 32): string {
  return base64UrlEncode(crypto.getRandomValues(new Uint8Array(bytes)));
}

/** code_challenge = BASE64URL(SHA-256(ASCII(code_verifier))) (RFC 7636, 4.2). */
export async function pkceChallenge(verifier: string): Promise<string> {
  if (!/^[A-Za-z0-9\-._~]{43,128}$/.test(verifier)) throw new AuthError('PKCE verifier must be 43-128 unreserved characters');
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  return base64UrlEncode(new Uint8Array(digest));
}

/** A fresh state, nonce and PKCE verifier for one sign-in. */
export function newPendingLogin(issuer: string, redirectUri: string, nowMs: number): PendingLogin {
  return { state: randomToken(), nonce: randomToken(), verifier: randomToken(), redirectUri, issuer, createdAtMs: nowMs };
}

/**
 * The authorization request (code flow, PKCE S256). The response comes back
 * in the fragment (response_mode=fragment): it never reaches a server log or
 * a Referer, and the API's "/" takes no query parameters.
 */
export function authorizeUrl(meta: ProviderMetadata, clientId: string, pending: PendingLogin, codeChallenge: string): string {
  const u = new URL(meta.authorization_endpoint);
  const p = u.searchParams;
  p.set('response_type', 'code');
  p.set('client_id', clientId);
  p.set('redirect_uri', pending.redirectUri);
  p.set('scope', 'openid');
  p.set('state', pending.state);
  p.set('nonce', pending.nonce);
  p.set('code_challenge', codeChallenge);
  p.set('code_challenge_method', 'S256');
  p.set('response_mode', 'fragment');
  return u.toString();
}

/** The redirect URI of a dashboard at `location`: its origin and path, no query or fragment. */
export function redirectUriOf(location: { origin: string; pathname: string }): string {
  return location.origin + location.pathname;
}

export type Callback =
  | { kind: 'none' }
  | { kind: 'code'; code: string; state: string; iss?: string }
  | { kind: 'error'; error: string; description?: string; state?: string };

/** The authorization response in a location fragment ("#state=...&code=..."). */
export function parseCallback(fragment: string): Callback {
  const params = new URLSearchParams(fragment.startsWith('#') ? fragment.slice(1) : fragment);
  const state = params.get('state') ?? undefined;
  const error = params.get('error');
  if (error !== null) {
    const out: Callback = { kind: 'error', error };
    const description = params.get('error_description');
    if (description !== null) out.description = description;
    if (state !== undefined) out.state = state;
    return out;
  }
  const code = params.get('code');
  if (code === null) return { kind: 'none' };
  if (state === undefined) throw new AuthError('authorization response without state');
  const out: Callback = { kind: 'code', code, state };
  const iss = params.get('iss');
  if (iss !== null) out.iss = iss;
  return out;
}

/**
 * The code of an authorization response, after checking it answers the
 * pending login: the same state (CSRF, RFC 6749 10.12), not too old, and,
 * when the provider names itself (RFC 9207), the expected issuer (mix-up).
 * Throws AuthError otherwise, and for an error response.
 */
export function acceptCallback(cb: Callback, pending: PendingLogin | null, nowMs: number): string {
  if (cb.kind === 'none') throw new AuthError('no authorization response');
  if (!pending) throw new AuthError('an authorization response arrived, but no sign-in was started here');
  if (cb.state !== pending.state) throw new AuthError('state mismatch: this sign-in response was not for this page');
  if (cb.kind === 'error') {
    throw new AuthError(`the identity provider refused the sign-in: ${cb.error}${cb.description ? ` (${cb.description})` : ''}`);
  }
  if (nowMs - pending.createdAtMs > PENDING_LOGIN_MAX_AGE_MS || nowMs < pending.createdAtMs) {
    throw new AuthError('the sign-in took too long; sign in again');
  }
  if (cb.iss !== undefined && cb.iss !== pending.issuer) throw new AuthError(`response from issuer ${cb.iss}, expected ${pending.issuer}`);
  return cb.code;
}

/** The token request for an authorization code (a public client: no secret, the PKCE verifier instead). */
export function codeTokenRequest(clientId: string, code: string, pending: PendingLogin): URLSearchParams {
  return new URLSearchParams({
    grant_type: 'authorization_code', client_id: clientId, code, redirect_uri: pending.redirectUri,
    code_verifier: pending.verifier,
  });
}

export function refreshTokenRequest(clientId: string, refreshToken: string): URLSearchParams {
  return new URLSearchParams({ grant_type: 'refresh_token', client_id: clientId, refresh_token: refreshToken });
}

/** A token endpoint's answer (RFC 6749 5.1); expiry from expires_in, on this browser's clock. */
export function parseTokenResponse(body: unknown, nowMs: number): Tokens {
  if (typeof body !== 'object' || body === null) throw new AuthError('token response is not a JSON object');
  const b = body as Record<string, unknown>;
  if (typeof b['error'] === 'string') {
    const description = typeof b['error_description'] === 'string' ? ` (${b['error_description']})` : '';
    throw new AuthError(`token endpoint: ${b['error']}${description}`);
  }
  const access = b['access_token'];
  if (typeof access !== 'string' || access === '') throw new AuthError('token response without access_token');
  if (typeof b['token_type'] !== 'string' || b['token_type'].toLowerCase() !== 'bearer') {
    throw new AuthError('token response: token_type is not Bearer');
  }
  const expiresIn = b['expires_in'];
  if (typeof expiresIn !== 'number' || !(expiresIn > 0)) throw new AuthError('token response without expires_in');
  const tokens: Tokens = { accessToken: access, obtainedAtMs: nowMs, expiresAtMs: nowMs + expiresIn * 1000 };
  if (typeof b['id_token'] === 'string') tokens.idToken = b['id_token'];
  if (typeof b['refresh_token'] === 'string') tokens.refreshToken = b['refresh_token'];
  const refreshIn = b['refresh_expires_in'];
  // Keycloak says 0 for refresh tokens that do not expire on their own (offline).
  if (typeof refreshIn === 'number' && refreshIn > 0) tokens.refreshExpiresAtMs = nowMs + refreshIn * 1000;
  return tokens;
}

/** The payload of a JWS compact token, not verified (see checkIdToken). */
export function decodeJwtPayload(jwt: string): Record<string, unknown> {
  const parts = jwt.split('.');
  if (parts.length !== 3) throw new AuthError('not a JWT');
  let claims: unknown;
  try {
    claims = JSON.parse(new TextDecoder().decode(base64UrlDecode(parts[1]!)));
  } catch {
    throw new AuthError('JWT payload is not JSON');
  }
  if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) throw new AuthError('JWT payload is not an object');
  return claims as Record<string, unknown>;
}

export interface IdTokenExpectations {
  issuer: string;
  clientId: string;
  nonce: string;
  nowMs: number;
  /**
   * On renewal: the subject of the session's first ID token, which must not
   * change; the nonce may then be absent, and if present is the original one.
   */
  subject?: string;
}

/**
 * The claims of an ID token received straight from the token endpoint over
 * TLS, checked as OpenID Connect Core 3.1.3.7 asks (the TLS connection
 * stands in for the signature there): issuer, audience (and azp when there
 * are several), nonce, expiry; on renewal the same subject (12.2).
 */
export function checkIdToken(idToken: string, want: IdTokenExpectations): Record<string, unknown> {
  const c = decodeJwtPayload(idToken);
  if (c['iss'] !== want.issuer) throw new AuthError(`ID token from issuer ${String(c['iss'])}, expected ${want.issuer}`);
  const aud = c['aud'];
  const audiences = Array.isArray(aud) ? aud : [aud];
  if (!audiences.includes(want.clientId)) throw new AuthError('ID token is not for this client (aud)');
  if (audiences.length > 1 && c['azp'] !== want.clientId) throw new AuthError('ID token is not for this client (azp)');
  const renewal = want.subject !== undefined;
  if (c['nonce'] !== want.nonce && !(renewal && c['nonce'] === undefined)) throw new AuthError('ID token nonce mismatch');
  const exp = c['exp'];
  if (typeof exp !== 'number' || exp * 1000 + LEEWAY_S * 1000 < want.nowMs) throw new AuthError('ID token expired');
  if (typeof c['sub'] !== 'string' || c['sub'] === '') throw new AuthError('ID token without sub');
  if (want.subject !== undefined && c['sub'] !== want.subject) throw new AuthError('renewed ID token names another subject');
  return c;
}

/**
 * Milliseconds until the access token should be renewed: when three quarters
 * of its lifetime have passed, or a minute before it expires if that comes
 * later (but never past half of a short lifetime). 0 when already due.
 */
export function renewalDelayMs(tokens: Tokens, nowMs: number): number {
  const lifetime = Math.max(0, tokens.expiresAtMs - tokens.obtainedAtMs);
  const margin = Math.max(lifetime * 0.25, Math.min(60_000, lifetime / 2));
  return Math.max(0, Math.round(tokens.expiresAtMs - margin - nowMs));
}

/** True when the refresh token is known to have expired (renewal would fail: sign in again). */
export function refreshExpired(tokens: Tokens, nowMs: number): boolean {
  if (!tokens.refreshToken) return true;
  return tokens.refreshExpiresAtMs !== undefined && tokens.refreshExpiresAtMs <= nowMs;
}

/**
 * RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) with the ID
 * token as hint, so the provider ends the session without asking; null when
 * the provider has no end_session_endpoint.
 */
export function endSessionUrl(meta: ProviderMetadata, clientId: string, idTokenHint: string | undefined,
  postLogoutRedirectUri: string): string | null {
  if (!meta.end_session_endpoint) return null;
  const u = new URL(meta.end_session_endpoint);
  if (idTokenHint) u.searchParams.set('id_token_hint', idTokenHint);
  u.searchParams.set('client_id', clientId);
  u.searchParams.set('post_logout_redirect_uri', postLogoutRedirectUri);
  return u.toString();
}

/** GET /v1/me */
export interface Me {
  subject: string;
  issuer: string;
  all_tenants: boolean;
  tenants: string[];
  roles: string[];
  expires_at_unix?: number;
}

/** Who to show as signed in: the ID token's preferred_username, else its name, else the API's subject. */
export function displayName(idClaims: Record<string, unknown> | undefined, me: Pick<Me, 'subject'> | undefined): string {
  for (const k of ['preferred_username', 'name']) {
    const v = idClaims?.[k];
    if (typeof v === 'string' && v.trim() !== '') return v;
  }
  return me?.subject ?? '';
}

/** "hatchery-a · operator" for the header. */
export function scopeLabel(me: Me): string {
  const where = me.all_tenants ? 'all hatcheries' : me.tenants.length > 0 ? me.tenants.join(', ') : 'no hatchery';
  return me.roles.length > 0 ? `${where} · ${me.roles.join(', ')}` : where;
}
