// End-to-end self test of the test IdP with a scripted client (Node's fetch
// only). Run: node --test tests/idp/selftest.mjs   (after npm ci there)

import { spawn } from 'node:child_process';
import { createHash, createPublicKey, randomBytes, verify } from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { base32Decode, hotp, totpValid } from './totp.js';

const IDP = fileURLToPath(new URL('./idp.js', import.meta.url));
const LOA1 = 'urn:stepup:loa:1';
const LOA2 = 'urn:stepup:loa:2';
const CALLBACK = 'http://127.0.0.1:9/cb'; // never fetched: the flow stops at it
const LOGGED_OUT = 'http://127.0.0.1:9/bye';

const CLIENTS = [
  {
    client_id: 'rp-basic',
    client_secret: 'rp-basic-secret',
    redirect_uris: [CALLBACK],
    post_logout_redirect_uris: [LOGGED_OUT],
    token_endpoint_auth_method: 'client_secret_basic',
  },
  {
    client_id: 'rp-post',
    client_secret: 'rp-post-secret',
    redirect_uris: [CALLBACK],
    token_endpoint_auth_method: 'client_secret_post',
  },
];

// startIdp runs idp.js on a free port and resolves once it prints its ready line.
async function startIdp(extraEnv = {}) {
  const child = spawn(process.execPath, [IDP], {
    env: {
      ...process.env,
      IDP_PORT: '0',
      IDP_QUIET: '1',
      IDP_CLIENTS: JSON.stringify(CLIENTS),
      ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const issuer = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`idp did not start: ${stderr}`)), 15000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = /^idp ready (\S+)$/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once('exit', (code) => reject(new Error(`idp exited ${code}: ${stderr}`)));
  });
  return {
    issuer,
    child,
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      const started = Date.now();
      child.kill('SIGTERM');
      const [code] = await once(child, 'exit');
      return { code, ms: Date.now() - started };
    },
  };
}

// Browser is a cookie-keeping user agent that follows redirects by hand and
// stops at the client's redirect URI.
class Browser {
  constructor() {
    this.jar = new Map(); // "name;path" -> { name, value, path }
  }

  cookieHeader(url) {
    const { pathname } = new URL(url);
    return [...this.jar.values()]
      .filter((c) => pathname.startsWith(c.path))
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }

  store(res) {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      let path = '/';
      let expired = value === '';
      for (const a of attrs) {
        const [k, v = ''] = a.split('=');
        if (/^path$/i.test(k)) path = v;
        if (/^expires$/i.test(k) && Date.parse(v) < Date.now()) expired = true;
        if (/^max-age$/i.test(k) && Number(v) <= 0) expired = true;
        if (/^samesite$/i.test(k)) assert.equal(v.toLowerCase(), 'lax', `cookie ${name} SameSite`);
        if (/^secure$/i.test(k)) assert.fail(`cookie ${name} is Secure over http`);
      }
      const key = `${name};${path}`;
      if (expired) this.jar.delete(key);
      else this.jar.set(key, { name, value, path });
    }
  }

  async request(url, { method = 'GET', form } = {}) {
    const headers = { cookie: this.cookieHeader(url) };
    let body;
    if (form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(form).toString();
    }
    const res = await fetch(url, {
      method, headers, body, redirect: 'manual',
    });
    this.store(res);
    return res;
  }

  // go requests url and follows redirects; it returns either
  // { callback: URL } or { url, status, html }.
  async go(url, opts) {
    let res = await this.request(url, opts);
    let current = url;
    for (let hops = 0; hops < 20; hops += 1) {
      if (res.status < 300 || res.status >= 400) {
        return { url: current, status: res.status, html: await res.text() };
      }
      const next = new URL(res.headers.get('location'), current).href;
      await res.arrayBuffer();
      if (next.startsWith(CALLBACK) || next.startsWith(LOGGED_OUT)) return { callback: new URL(next) };
      current = next;
      res = await this.request(next);
    }
    throw new Error('too many redirects');
  }
}

function formAction(page, id) {
  const m = new RegExp(`<form[^>]*id="${id}"[^>]*action="([^"]+)"`).exec(page.html)
    || new RegExp(`<form[^>]*action="([^"]+)"[^>]*id="${id}"`).exec(page.html);
  assert.ok(m, `form #${id} on ${page.url}:\n${page.html}`);
  return new URL(m[1].replace(/&amp;/g, '&'), page.url).href;
}

function b64url(buf) {
  return Buffer.from(buf).toString('base64url');
}

function pkce() {
  const verifier = b64url(randomBytes(32));
  return { verifier, challenge: b64url(createHash('sha256').update(verifier).digest()) };
}

// signIn runs one authorization request through the pages, answering the
// login and OTP forms, and returns the forms seen and the callback URL.
async function signIn(browser, issuer, {
  client = CLIENTS[0], user = 'alice', password, otp = '123456', params = {}, noPkce = false,
} = {}) {
  const p = pkce();
  const state = b64url(randomBytes(12));
  const nonce = b64url(randomBytes(12));
  const q = new URLSearchParams({
    response_type: 'code',
    client_id: client.client_id,
    redirect_uri: CALLBACK,
    scope: 'openid email profile groups',
    state,
    nonce,
    ...(noPkce ? {} : { code_challenge: p.challenge, code_challenge_method: 'S256' }),
    ...params,
  });
  const seen = [];
  let page = await browser.go(`${issuer}/auth?${q}`);
  for (let steps = 0; !page.callback && steps < 5; steps += 1) {
    if (page.html.includes('id="login-form"')) {
      seen.push('login');
      assert.match(page.html, /<h1[^>]*>Sign in<\/h1>/);
      for (const id of ['username', 'password', 'login-submit']) assert.ok(page.html.includes(`id="${id}"`), id);
      page = await browser.go(formAction(page, 'login-form'), {
        method: 'POST', form: { username: user, password: password || `${user}-password` },
      });
    } else if (page.html.includes('id="otp-form"')) {
      seen.push('otp');
      assert.match(page.html, /<h1[^>]*>Second factor required<\/h1>/);
      for (const id of ['otp', 'otp-submit']) assert.ok(page.html.includes(`id="${id}"`), id);
      assert.match(page.html, /stand-in for a TOTP/);
      page = await browser.go(formAction(page, 'otp-form'), { method: 'POST', form: { otp } });
    } else {
      assert.fail(`unexpected page ${page.status} ${page.url}:\n${page.html}`);
    }
  }
  assert.ok(page.callback, 'reached the callback');
  const cb = page.callback;
  assert.equal(cb.searchParams.get('state'), state);
  assert.equal(cb.searchParams.get('iss'), issuer);
  return {
    seen, cb, verifier: p.verifier, nonce, client,
  };
}

async function discovery(issuer) {
  const res = await fetch(`${issuer}/.well-known/openid-configuration`);
  assert.equal(res.status, 200);
  return res.json();
}

// exchange redeems the code and returns the verified ID token payload.
async function exchange(issuer, { cb, verifier, client }) {
  const code = cb.searchParams.get('code');
  assert.ok(code, `code in ${cb}`);
  const meta = await discovery(issuer);
  const form = {
    grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: verifier,
  };
  const headers = { 'content-type': 'application/x-www-form-urlencoded' };
  if (client.token_endpoint_auth_method === 'client_secret_post') {
    form.client_id = client.client_id;
    form.client_secret = client.client_secret;
  } else {
    const enc = (s) => encodeURIComponent(s);
    headers.authorization = `Basic ${Buffer.from(`${enc(client.client_id)}:${enc(client.client_secret)}`).toString('base64')}`;
  }
  const res = await fetch(meta.token_endpoint, {
    method: 'POST', headers, body: new URLSearchParams(form).toString(),
  });
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  const [h, p, s] = body.id_token.split('.');
  const header = JSON.parse(Buffer.from(h, 'base64url'));
  assert.equal(header.alg, 'RS256');
  const { keys } = await (await fetch(meta.jwks_uri)).json();
  const jwk = keys.find((k) => k.kid === header.kid);
  assert.ok(jwk, 'signing key published');
  const ok = verify('sha256', Buffer.from(`${h}.${p}`), createPublicKey({ key: jwk, format: 'jwk' }), Buffer.from(s, 'base64url'));
  assert.ok(ok, 'ID token signature');
  const claims = JSON.parse(Buffer.from(p, 'base64url'));
  assert.equal(claims.iss, issuer);
  assert.equal(claims.aud, client.client_id);
  return { claims, tokens: body };
}

async function loginAndExchange(browser, issuer, opts) {
  const r = await signIn(browser, issuer, opts);
  const { claims, tokens } = await exchange(issuer, r);
  assert.equal(claims.nonce, r.nonce);
  return { seen: r.seen, claims, tokens };
}

describe('test IdP', () => {
  let idp;
  before(async () => { idp = await startIdp(); });
  after(async () => { await idp.stop(); });

  test('discovery advertises the ladder, PKCE S256, claims parameter and logout', async () => {
    const meta = await discovery(idp.issuer);
    assert.equal(meta.issuer, idp.issuer);
    assert.deepEqual(meta.acr_values_supported, [LOA1, LOA2]);
    assert.deepEqual(meta.code_challenge_methods_supported, ['S256']);
    assert.equal(meta.claims_parameter_supported, true);
    assert.equal(meta.end_session_endpoint, `${idp.issuer}/session/end`);
    assert.deepEqual(meta.token_endpoint_auth_methods_supported.sort(), ['client_secret_basic', 'client_secret_post']);
    assert.ok(meta.id_token_signing_alg_values_supported.includes('RS256'));
  });

  test('password login, step-up with only the second factor, SSO, max_age=0', async () => {
    const b = new Browser();
    const t0 = Math.floor(Date.now() / 1000);

    const one = await loginAndExchange(b, idp.issuer, { params: { acr_values: LOA1 } });
    assert.deepEqual(one.seen, ['login']);
    assert.equal(one.claims.sub, 'alice');
    assert.equal(one.claims.acr, LOA1);
    assert.deepEqual(one.claims.amr, ['pwd']);
    assert.equal(typeof one.claims.auth_time, 'number');
    assert.ok(one.claims.auth_time >= t0 - 1);
    assert.equal(one.claims.email, 'alice@example.test');
    assert.equal(one.claims.name, 'Alice Admin');
    assert.deepEqual(one.claims.groups, ['staff', 'admins']);

    // Same session asks for loa:2: only the OTP form appears.
    const two = await loginAndExchange(b, idp.issuer, { params: { acr_values: LOA2 } });
    assert.deepEqual(two.seen, ['otp']);
    assert.equal(two.claims.sub, 'alice');
    assert.equal(two.claims.acr, LOA2);
    assert.deepEqual(two.claims.amr, ['pwd', 'otp', 'mfa']);
    assert.ok(two.claims.auth_time >= one.claims.auth_time);

    // Asked again: the session already has loa:2, no page at all.
    const sso = await loginAndExchange(b, idp.issuer, { params: { acr_values: LOA2 } });
    assert.deepEqual(sso.seen, []);
    assert.equal(sso.claims.acr, LOA2);
    assert.equal(sso.claims.auth_time, two.claims.auth_time);

    // A lower request on a loa:2 session keeps loa:2 (the ladder).
    const low = await loginAndExchange(b, idp.issuer, { params: { acr_values: LOA1 } });
    assert.deepEqual(low.seen, []);
    assert.equal(low.claims.acr, LOA2);

    // max_age=0 forces the password again, and the second factor for loa:2.
    await new Promise((r) => { setTimeout(r, 1100); });
    const fresh = await loginAndExchange(b, idp.issuer, { params: { acr_values: LOA2, max_age: '0' } });
    assert.deepEqual(fresh.seen, ['login', 'otp']);
    assert.equal(fresh.claims.acr, LOA2);
    assert.ok(fresh.claims.auth_time > two.claims.auth_time);
  });

  test('loa:2 from scratch, client_secret_post, bob', async () => {
    const b = new Browser();
    const r = await loginAndExchange(b, idp.issuer, {
      client: CLIENTS[1], user: 'bob', params: { acr_values: LOA2 },
    });
    assert.deepEqual(r.seen, ['login', 'otp']);
    assert.equal(r.claims.sub, 'bob');
    assert.equal(r.claims.acr, LOA2);
    assert.deepEqual(r.claims.groups, ['staff']);
  });

  test('essential acr in the claims parameter steps up too', async () => {
    const b = new Browser();
    const one = await loginAndExchange(b, idp.issuer, {});
    assert.deepEqual(one.seen, ['login']);
    assert.equal(one.claims.acr, LOA1);
    const claims = JSON.stringify({ id_token: { acr: { essential: true, values: [LOA2] } } });
    const two = await loginAndExchange(b, idp.issuer, { params: { claims } });
    assert.deepEqual(two.seen, ['otp']);
    assert.equal(two.claims.acr, LOA2);
  });

  test('prompt=login asks for the password again', async () => {
    const b = new Browser();
    await loginAndExchange(b, idp.issuer, {});
    const again = await loginAndExchange(b, idp.issuer, { params: { prompt: 'login' } });
    assert.deepEqual(again.seen, ['login']);
    assert.equal(again.claims.acr, LOA1);
  });

  test('max_age above the session age does not prompt; auth_time is issued', async () => {
    const b = new Browser();
    const one = await loginAndExchange(b, idp.issuer, {});
    const two = await loginAndExchange(b, idp.issuer, { params: { max_age: '300' } });
    assert.deepEqual(two.seen, []);
    assert.equal(two.claims.auth_time, one.claims.auth_time);
  });

  test('wrong password and wrong code are refused with an error', async () => {
    const b = new Browser();
    const p = pkce();
    const q = new URLSearchParams({
      response_type: 'code',
      client_id: CLIENTS[0].client_id,
      redirect_uri: CALLBACK,
      scope: 'openid',
      code_challenge: p.challenge,
      code_challenge_method: 'S256',
      acr_values: LOA2,
    });
    let page = await b.go(`${idp.issuer}/auth?${q}`);
    page = await b.go(formAction(page, 'login-form'), { method: 'POST', form: { username: 'alice', password: 'nope' } });
    assert.equal(page.status, 401);
    assert.match(page.html, /id="error"/);
    assert.match(page.html, /id="login-form"/);
    page = await b.go(formAction(page, 'login-form'), { method: 'POST', form: { username: 'alice', password: 'alice-password' } });
    assert.match(page.html, /id="otp-form"/);
    page = await b.go(formAction(page, 'otp-form'), { method: 'POST', form: { otp: '000000' } });
    assert.equal(page.status, 401);
    assert.match(page.html, /id="error"/);
    page = await b.go(formAction(page, 'otp-form'), { method: 'POST', form: { otp: '123456' } });
    assert.ok(page.callback && page.callback.searchParams.get('code'));
  });

  test('PKCE is required and checked', async () => {
    const b = new Browser();
    const q = new URLSearchParams({
      response_type: 'code', client_id: CLIENTS[0].client_id, redirect_uri: CALLBACK, scope: 'openid', state: 's',
    });
    const page = await b.go(`${idp.issuer}/auth?${q}`);
    assert.ok(page.callback);
    assert.equal(page.callback.searchParams.get('error'), 'invalid_request');

    const r = await signIn(b, idp.issuer, {});
    const res = await fetch(`${idp.issuer}/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from('rp-basic:rp-basic-secret').toString('base64')}`,
      },
      body: new URLSearchParams({
        grant_type: 'authorization_code', code: r.cb.searchParams.get('code'), redirect_uri: CALLBACK, code_verifier: pkce().verifier,
      }).toString(),
    });
    assert.equal(res.status, 400);
    assert.equal((await res.json()).error, 'invalid_grant');
  });

  test('logout ends the IdP session and returns to post_logout_redirect_uri', async () => {
    const b = new Browser();
    const { tokens } = await loginAndExchange(b, idp.issuer, {});
    const q = new URLSearchParams({
      id_token_hint: tokens.id_token, post_logout_redirect_uri: LOGGED_OUT, state: 'bye',
    });
    const page = await b.go(`${idp.issuer}/session/end?${q}`);
    assert.match(page.html, /<h1[^>]*>Sign out<\/h1>/);
    assert.match(page.html, /getElementById\("logout-submit"\)\.click\(\)/);
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(page.html)[1];
    const done = await b.go(formAction(page, 'op.logoutForm'), { method: 'POST', form: { xsrf, logout: 'yes' } });
    assert.ok(done.callback, 'redirected to the client');
    assert.equal(done.callback.origin + done.callback.pathname, LOGGED_OUT);
    assert.equal(done.callback.searchParams.get('state'), 'bye');
    const again = await signIn(b, idp.issuer, {});
    assert.deepEqual(again.seen, ['login']);
  });

  test('SIGTERM stops it promptly', async () => {
    const other = await startIdp();
    const { code, ms } = await other.stop();
    assert.equal(code, 0);
    assert.ok(ms < 2000, `stopped in ${ms}ms`);
  });
});

describe('test IdP with IDP_REFUSE_ACR', () => {
  let idp;
  before(async () => { idp = await startIdp({ IDP_REFUSE_ACR: LOA2 }); });
  after(async () => { await idp.stop(); });

  test('asked for loa:2, grants only loa:1 and does not loop', async () => {
    const b = new Browser();
    const one = await loginAndExchange(b, idp.issuer, { params: { acr_values: LOA2 } });
    assert.deepEqual(one.seen, ['login']);
    assert.equal(one.claims.acr, LOA1);
    assert.deepEqual(one.claims.amr, ['pwd']);

    const again = await loginAndExchange(b, idp.issuer, { params: { acr_values: LOA2 } });
    assert.deepEqual(again.seen, []);
    assert.equal(again.claims.acr, LOA1);

    const claims = JSON.stringify({ id_token: { acr: { essential: true, value: LOA2 } } });
    const ess = await loginAndExchange(b, idp.issuer, { params: { claims } });
    assert.deepEqual(ess.seen, []);
    assert.equal(ess.claims.acr, LOA1);

    const fresh = await loginAndExchange(b, idp.issuer, { params: { acr_values: LOA2, prompt: 'login' } });
    assert.deepEqual(fresh.seen, ['login']);
    assert.equal(fresh.claims.acr, LOA1);
  });
});

describe('test IdP with IDP_REFUSE_MODE=error', () => {
  let idp;
  before(async () => { idp = await startIdp({ IDP_REFUSE_ACR: LOA2, IDP_REFUSE_MODE: 'error' }); });
  after(async () => { await idp.stop(); });

  test('a refused level comes back as unmet_authentication_requirements', async () => {
    const b = new Browser();
    const q = (extra) => new URLSearchParams({
      response_type: 'code',
      client_id: CLIENTS[0].client_id,
      redirect_uri: CALLBACK,
      scope: 'openid',
      state: 'st',
      code_challenge: pkce().challenge,
      code_challenge_method: 'S256',
      ...extra,
    });
    const first = await b.go(`${idp.issuer}/auth?${q({ acr_values: LOA2 })}`);
    assert.ok(first.callback, 'no page shown');
    assert.equal(first.callback.searchParams.get('error'), 'unmet_authentication_requirements');
    assert.equal(first.callback.searchParams.get('state'), 'st');

    const one = await loginAndExchange(b, idp.issuer, { params: { acr_values: LOA1 } });
    assert.equal(one.claims.acr, LOA1);
    const stepUp = await b.go(`${idp.issuer}/auth?${q({ acr_values: LOA2 })}`);
    assert.equal(stepUp.callback.searchParams.get('error'), 'unmet_authentication_requirements');
  });
});

describe('TOTP (RFC 6238)', () => {
  // RFC 6238 Appendix B, SHA-1 key "12345678901234567890", last 6 digits.
  const key = base32Decode('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ');
  const cases = [
    { name: 'T=59', t: 59, want: '287082' },
    { name: 'T=1111111109', t: 1111111109, want: '081804' },
    { name: 'T=1234567890', t: 1234567890, want: '005924' },
    { name: 'T=2000000000', t: 2000000000, want: '279037' },
  ];
  for (const c of cases) {
    test(c.name, () => {
      assert.equal(hotp(key, Math.floor(c.t / 30)), c.want);
      assert.ok(totpValid(key, c.want, (c.t + 30) * 1000), 'one step of drift accepted');
      assert.ok(!totpValid(key, c.want, (c.t + 90) * 1000), 'three steps late refused');
    });
  }

  test('IdP accepts a current TOTP and a custom fixed code', async () => {
    const secret = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';
    const idp = await startIdp({ IDP_TOTP_SECRET: secret, IDP_OTP_CODE: '424242' });
    try {
      const now = hotp(base32Decode(secret), Math.floor(Date.now() / 30000));
      const a = await loginAndExchange(new Browser(), idp.issuer, { otp: now, params: { acr_values: LOA2 } });
      assert.deepEqual(a.seen, ['login', 'otp']);
      assert.equal(a.claims.acr, LOA2);
      const b = await loginAndExchange(new Browser(), idp.issuer, { otp: '424242', params: { acr_values: LOA2 } });
      assert.equal(b.claims.acr, LOA2);
    } finally {
      await idp.stop();
    }
  });
});
