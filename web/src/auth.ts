// The dashboard's sign-in session: OpenID Connect authorization code + PKCE
// against the provider /v1/auth/config names (docs/dashboard-auth.md).
// Tokens live in this object only, never in localStorage, sessionStorage or
// cookies: a script injected later cannot read them from storage, and
// closing the tab forgets them. Only the PKCE verifier, state and nonce of a
// sign-in in progress sit in sessionStorage for the redirect round trip, and
// are removed on return. The checks themselves are in oidc.ts.

import {
  AuthError, acceptCallback, authorizeUrl, checkIdToken, codeTokenRequest, discoveryUrl, endSessionUrl,
  newPendingLogin, parseCallback, parseProviderMetadata, parseTokenResponse, pkceChallenge, redirectUriOf,
  refreshExpired, refreshTokenRequest, renewalDelayMs,
  type AuthConfig, type PendingLogin, type ProviderMetadata, type Tokens,
} from './oidc.js';

const PENDING_KEY = 'ovoflow.auth.pending';
// Set just before the provider's logout, so the page it returns to shows
// "signed out" instead of signing in again at once. Holds no secret.
const SIGNED_OUT_KEY = 'ovoflow.auth.signed_out';
// After a renewal failed for a network reason, try again this soon.
const RENEW_RETRY_MS = 15_000;

export type SessionStart =
  | { kind: 'disabled' }                  // the API runs without identity (--no-auth)
  | { kind: 'signed-in' }
  | { kind: 'signed-out'; reason: string } // after Sign out, or a refused sign-in
  | { kind: 'redirecting' };              // on the way to the provider

async function getJson(url: string, init?: RequestInit): Promise<unknown> {
  const res = await fetch(url, { ...init, headers: { Accept: 'application/json', ...init?.headers } });
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new AuthError(`${url}: HTTP ${res.status}, not JSON`);
  }
  if (!res.ok && (typeof body !== 'object' || body === null || !('error' in body))) {
    throw new AuthError(`${url}: HTTP ${res.status}`);
  }
  return body;
}

export class AuthSession {
  private tokens: Tokens | null = null;
  private idClaims: Record<string, unknown> | undefined;
  private nonce = '';
  private renewTimer: number | undefined;
  private renewing: Promise<boolean> | null = null;
  private redirecting = false;

  private constructor(private readonly config: AuthConfig, private readonly meta: ProviderMetadata | null) {}

  /** Reads /v1/auth/config and, when sign-in is on, the provider's discovery document. */
  static async load(): Promise<AuthSession> {
    const config = (await getJson('/v1/auth/config')) as AuthConfig;
    if (!config.enabled) return new AuthSession(config, null);
    if (!config.issuer || !config.client_id) throw new AuthError('/v1/auth/config names no issuer or client');
    const meta = parseProviderMetadata(await getJson(discoveryUrl(config.issuer)), config.issuer);
    return new AuthSession(config, meta);
  }

  get enabled(): boolean {
    return this.config.enabled;
  }

  /** The ID token's claims (preferred_username, ...) once signed in. */
  get identity(): Record<string, unknown> | undefined {
    return this.idClaims;
  }

  /**
   * Finishes a sign-in whose response is in the location's fragment, or
   * starts one. After Sign out, and when a response is refused, the page
   * stays signed out (no automatic loop through the provider).
   */
  async start(): Promise<SessionStart> {
    if (!this.enabled) return { kind: 'disabled' };
    const hash = window.location.hash;
    if (/^#(.*&)?(code|error)=/.test(hash)) {
      const pending = this.takePending();
      // The code must not stay in the address bar or the history.
      window.history.replaceState(null, '', window.location.pathname);
      try {
        const code = acceptCallback(parseCallback(hash), pending, Date.now());
        await this.exchange(codeTokenRequest(this.clientId, code, pending!), pending!.nonce);
        return { kind: 'signed-in' };
      } catch (e) {
        this.drop();
        return { kind: 'signed-out', reason: `Sign-in refused: ${e instanceof Error ? e.message : String(e)}` };
      }
    }
    if (sessionStorage.getItem(SIGNED_OUT_KEY) !== null) {
      sessionStorage.removeItem(SIGNED_OUT_KEY);
      return { kind: 'signed-out', reason: 'You signed out.' };
    }
    await this.signIn();
    return { kind: 'redirecting' };
  }

  /** Sends the browser to the provider's sign-in page (never resolves usefully: the page goes away). */
  async signIn(): Promise<void> {
    if (this.redirecting) return;  // one pending sign-in at a time
    this.redirecting = true;
    const meta = this.requireMeta();
    const pending = newPendingLogin(meta.issuer, redirectUriOf(window.location), Date.now());
    const challenge = await pkceChallenge(pending.verifier);
    sessionStorage.setItem(PENDING_KEY, JSON.stringify(pending));
    sessionStorage.removeItem(SIGNED_OUT_KEY);
    window.location.assign(authorizeUrl(meta, this.clientId, pending, challenge));
  }

  /** Forgets the tokens, then ends the provider's session (RP-initiated logout) and comes back signed out. */
  signOut(): void {
    const idToken = this.tokens?.idToken;
    this.drop();
    sessionStorage.setItem(SIGNED_OUT_KEY, '1');
    const back = redirectUriOf(window.location);
    const url = endSessionUrl(this.requireMeta(), this.clientId, idToken, back);
    window.location.assign(url ?? back);
  }

  /** The current access token; null without identity or when signed out. */
  accessToken(): string | null {
    return this.tokens?.accessToken ?? null;
  }

  /** An access token valid for at least `minValidityMs` more (renewed first if need be); null if there is none. */
  async freshToken(minValidityMs = 10_000): Promise<string | null> {
    if (!this.enabled) return null;
    if (this.tokens && this.tokens.expiresAtMs - Date.now() < minValidityMs) await this.renew();
    return this.accessToken();
  }

  /**
   * fetch() with the bearer token. A 401 makes it renew the token once and
   * try again; if that fails too, the person signs in again.
   */
  async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const send = (token: string | null) => {
      const headers = new Headers(init.headers);
      if (token) headers.set('Authorization', `Bearer ${token}`);
      return fetch(path, { ...init, headers });
    };
    const res = await send(await this.freshToken());
    if (res.status !== 401 || !this.enabled) return res;
    if (await this.renew()) {
      const again = await send(this.accessToken());
      if (again.status !== 401) return again;
    }
    void this.signIn();
    return res;
  }

  private get clientId(): string {
    return this.config.client_id ?? '';
  }

  private requireMeta(): ProviderMetadata {
    if (!this.meta) throw new AuthError('sign-in is not enabled');
    return this.meta;
  }

  private takePending(): PendingLogin | null {
    const raw = sessionStorage.getItem(PENDING_KEY);
    sessionStorage.removeItem(PENDING_KEY);  // one use, whatever happens next
    if (raw === null) return null;
    try {
      return JSON.parse(raw) as PendingLogin;
    } catch {
      return null;
    }
  }

  private async exchange(body: URLSearchParams, nonce: string): Promise<void> {
    const meta = this.requireMeta();
    const now = Date.now();
    const tokens = parseTokenResponse(await getJson(meta.token_endpoint, { method: 'POST', body }), now);
    if (!tokens.idToken) throw new AuthError('token response without id_token');
    const subject = this.idClaims?.['sub'];
    const claims = checkIdToken(tokens.idToken, {
      issuer: meta.issuer, clientId: this.clientId, nonce, nowMs: now,
      ...(typeof subject === 'string' ? { subject } : {}),
    });
    this.tokens = tokens;
    this.idClaims = claims;
    this.nonce = nonce;
    this.scheduleRenewal(renewalDelayMs(tokens, Date.now()));
  }

  /** Renews with the refresh token (one at a time); false when it could not. */
  private renew(): Promise<boolean> {
    if (!this.renewing) {
      this.renewing = this.doRenew().finally(() => {
        this.renewing = null;
      });
    }
    return this.renewing;
  }

  private async doRenew(): Promise<boolean> {
    const tokens = this.tokens;
    if (!tokens || refreshExpired(tokens, Date.now())) {
      void this.signIn();
      return false;
    }
    try {
      await this.exchange(refreshTokenRequest(this.clientId, tokens.refreshToken!), this.nonce);
      return true;
    } catch (e) {
      // Refused (the provider's session ended, or the refresh token is spent):
      // sign in again. Unreachable: try again while the access token lasts.
      if (e instanceof AuthError || tokens.expiresAtMs <= Date.now() + RENEW_RETRY_MS) {
        this.drop();
        void this.signIn();
      } else {
        this.scheduleRenewal(RENEW_RETRY_MS);
      }
      return false;
    }
  }

  private scheduleRenewal(delayMs: number): void {
    window.clearTimeout(this.renewTimer);
    this.renewTimer = window.setTimeout(() => void this.renew(), Math.min(delayMs, 0x7fffffff));
  }

  private drop(): void {
    window.clearTimeout(this.renewTimer);
    this.tokens = null;
    this.idClaims = undefined;
  }
}
