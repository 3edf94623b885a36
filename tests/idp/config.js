// Configuration of the test IdP, read once from environment variables.
// Every value has a development default so `node idp.js` runs on its own.

import { base32Decode } from './totp.js';

/** The assurance ladder, lowest first. Index + 1 is the level's rank. */
export const ACR_LADDER = ['urn:stepup:loa:1', 'urn:stepup:loa:2'];

/** The client registered when IDP_CLIENTS is not set (a demo convenience). */
const DEFAULT_CLIENTS = [{
  client_id: 'stepup-demo',
  client_secret: 'stepup-demo-secret',
  redirect_uris: ['http://127.0.0.1:8000/oauth2/callback'],
  post_logout_redirect_uris: ['http://127.0.0.1:8000/'],
  token_endpoint_auth_method: 'client_secret_basic',
}];

const AUTH_METHODS = new Set(['client_secret_basic', 'client_secret_post']);

function intFrom(env, name, fallback) {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new Error(`${name} must be a non-negative integer, got ${JSON.stringify(raw)}`);
  }
  return n;
}

function boolFrom(env, name, fallback) {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new Error(`${name} must be a boolean (1/0, true/false), got ${JSON.stringify(raw)}`);
}

// clientsFrom turns IDP_CLIENTS into oidc-provider client metadata, checking
// the few fields the tests depend on so a typo fails at startup, not mid-flow.
function clientsFrom(raw) {
  let list = DEFAULT_CLIENTS;
  if (raw !== undefined && raw !== '') {
    try {
      list = JSON.parse(raw);
    } catch (err) {
      throw new Error(`IDP_CLIENTS is not valid JSON: ${err.message}`);
    }
  }
  if (!Array.isArray(list) || list.length === 0) {
    throw new Error('IDP_CLIENTS must be a non-empty JSON array');
  }
  return list.map((c, i) => {
    if (!c || typeof c.client_id !== 'string' || typeof c.client_secret !== 'string') {
      throw new Error(`IDP_CLIENTS[${i}]: client_id and client_secret (strings) are required`);
    }
    if (!Array.isArray(c.redirect_uris) || c.redirect_uris.length === 0) {
      throw new Error(`IDP_CLIENTS[${i}]: redirect_uris must be a non-empty array`);
    }
    const method = c.token_endpoint_auth_method || 'client_secret_basic';
    if (!AUTH_METHODS.has(method)) {
      throw new Error(`IDP_CLIENTS[${i}]: token_endpoint_auth_method must be client_secret_basic or client_secret_post`);
    }
    return {
      // Extra registered metadata (e.g. default_acr_values) passes through.
      ...c,
      token_endpoint_auth_method: method,
      post_logout_redirect_uris: c.post_logout_redirect_uris || [],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      require_auth_time: c.require_auth_time !== undefined ? c.require_auth_time : true,
      id_token_signed_response_alg: 'RS256',
    };
  });
}

/**
 * loadConfig reads the IdP configuration from env (process.env by default).
 * The issuer may depend on the port actually bound, so it is completed later
 * by issuerFor().
 */
export function loadConfig(env = process.env) {
  const refuse = env.IDP_REFUSE_ACR || '';
  if (refuse !== '' && !ACR_LADDER.includes(refuse)) {
    throw new Error(`IDP_REFUSE_ACR must be one of ${ACR_LADDER.join(', ')}`);
  }
  if (refuse === ACR_LADDER[0]) {
    throw new Error('IDP_REFUSE_ACR cannot name the lowest level: nothing would be left to grant');
  }
  const refuseMode = env.IDP_REFUSE_MODE || 'downgrade';
  if (refuseMode !== 'downgrade' && refuseMode !== 'error') {
    throw new Error('IDP_REFUSE_MODE must be "downgrade" or "error"');
  }
  const otp = env.IDP_OTP_CODE || '123456';
  const totpKey = env.IDP_TOTP_SECRET ? base32Decode(env.IDP_TOTP_SECRET) : undefined;
  if (totpKey && totpKey.length < 10) throw new Error('IDP_TOTP_SECRET is too short (want >= 16 base32 characters)');
  return {
    host: env.IDP_HOST || '127.0.0.1',
    port: intFrom(env, 'IDP_PORT', 9400),
    issuer: env.IDP_ISSUER || '',
    clients: clientsFrom(env.IDP_CLIENTS),
    otpCode: otp,
    otpIsDefault: otp === '123456',
    totpKey,
    refuseAcr: refuse,
    refuseMode,
    sessionTTL: intFrom(env, 'IDP_SESSION_TTL', 3600),
    tokenTTL: intFrom(env, 'IDP_TOKEN_TTL', 600),
    keyFile: env.IDP_KEY_FILE || '',
    trustProxy: boolFrom(env, 'IDP_TRUST_PROXY', false),
    logoutAutoSubmit: boolFrom(env, 'IDP_LOGOUT_AUTOSUBMIT', true),
    quiet: boolFrom(env, 'IDP_QUIET', false),
  };
}

/** issuerFor completes the issuer once the listening port is known. */
export function issuerFor(cfg, port) {
  const issuer = cfg.issuer || `http://${cfg.host === '0.0.0.0' ? '127.0.0.1' : cfg.host}:${port}`;
  const u = new URL(issuer);
  if (u.pathname !== '/' || u.search || u.hash) {
    throw new Error('IDP_ISSUER must be an origin without a path (e.g. http://127.0.0.1:9400)');
  }
  return issuer.replace(/\/$/, '');
}
