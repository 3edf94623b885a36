// A small OpenID Provider for the traefikstepup browser tests and demo.
// Development only: fixed users, a fixed second-factor code, in-memory state.
// Configuration: environment variables, see README.md.

import { generateKeyPairSync, randomBytes, createPublicKey, createPrivateKey } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';

import Provider, { errors } from 'oidc-provider';

import { loadConfig, issuerFor, ACR_LADDER } from './config.js';
import { findAccount } from './accounts.js';
import { buildPolicy } from './acr.js';
import { makeInteractions } from './interactions.js';
import {
  errorPage, loggedOutPage, logoutPage,
} from './views.js';

// signingKey returns the RS256 private JWK: from IDP_KEY_FILE when it exists,
// else freshly generated (and written there when a path is given).
function signingKey(file) {
  if (file && existsSync(file)) {
    const jwk = JSON.parse(readFileSync(file, 'utf8'));
    createPrivateKey({ key: jwk, format: 'jwk' }); // fail early on a bad file
    return jwk;
  }
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  const pub = createPublicKey(privateKey).export({ format: 'jwk' });
  const kid = Buffer.from(pub.n, 'base64url').subarray(0, 12).toString('base64url');
  const key = { ...jwk, kid, alg: 'RS256', use: 'sig' };
  if (file) writeFileSync(file, JSON.stringify(key), { mode: 0o600 });
  return key;
}

function providerConfig(cfg) {
  return {
    clients: cfg.clients,
    findAccount,
    jwks: { keys: [signingKey(cfg.keyFile)] },
    acrValues: ACR_LADDER,
    // acr, amr and auth_time ride with the openid scope so every ID token
    // carries them; the profile claims too, so an RP asking only "openid"
    // still gets email/name/groups. The usual scopes also name them.
    claims: {
      openid: ['sub', 'acr', 'amr', 'auth_time', 'email', 'email_verified', 'name', 'preferred_username', 'groups'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username'],
      groups: ['groups'],
    },
    scopes: ['openid', 'email', 'profile', 'groups'],
    // Scope claims go into the ID token itself, not only to userinfo.
    conformIdTokenClaims: false,
    pkce: { methods: ['S256'], required: () => true },
    clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
    enabledJWA: { idTokenSigningAlgValues: ['RS256'] },
    responseTypes: ['code'],
    features: {
      devInteractions: { enabled: false },
      claimsParameter: { enabled: true },
      userinfo: { enabled: true },
      revocation: { enabled: false },
      introspection: { enabled: false },
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          ctx.type = 'html';
          ctx.body = logoutPage({ form, autoSubmit: cfg.logoutAutoSubmit });
        },
        async postLogoutSuccessSource(ctx) {
          const { clientId } = ctx.oidc;
          ctx.type = 'html';
          ctx.body = loggedOutPage({ clientId });
        },
      },
    },
    interactions: {
      policy: buildPolicy(cfg),
      url: (ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    // Chromium drops SameSite=None cookies without Secure, and the IdP runs
    // on plain http: every cookie is SameSite=Lax, never Secure.
    cookies: {
      keys: [randomBytes(32).toString('base64url')],
      long: { signed: true, httpOnly: true, sameSite: 'lax' },
      short: { signed: true, httpOnly: true, sameSite: 'lax' },
    },
    ttl: {
      Session: cfg.sessionTTL,
      Grant: cfg.sessionTTL,
      Interaction: 600,
      AuthorizationCode: 60,
      AccessToken: cfg.tokenTTL,
      IdToken: cfg.tokenTTL,
    },
    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = errorPage({ error: out.error, description: out.error_description });
    },
  };
}

function log(cfg, line) {
  if (!cfg.quiet) process.stderr.write(`${new Date().toISOString()} ${line}\n`);
}

function sendError(res, err) {
  const status = err.statusCode || err.status || 500;
  if (res.headersSent) {
    res.end();
    return;
  }
  const code = err.error || (status >= 500 ? 'server_error' : 'invalid_request');
  const description = err.expose || err instanceof errors.OIDCProviderError
    ? (err.error_description || err.message) : 'internal error';
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.end(errorPage({ error: code, description }));
}

async function main() {
  const cfg = loadConfig();
  let handler;
  const server = http.createServer((req, res) => {
    const started = Date.now();
    res.on('finish', () => {
      log(cfg, `${req.method} ${req.url.split('?')[0]} ${res.statusCode} ${Date.now() - started}ms`);
    });
    if (!handler) {
      res.statusCode = 503;
      res.end();
      return;
    }
    handler(req, res);
  });

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(cfg.port, cfg.host, resolve);
  });
  const issuer = issuerFor(cfg, server.address().port);

  const provider = new Provider(issuer, providerConfig(cfg));
  provider.proxy = cfg.trustProxy;
  provider.on('server_error', (ctx, err) => log(cfg, `server_error: ${err.stack || err}`));
  const interactions = makeInteractions(provider, cfg);
  const oidc = provider.callback();

  handler = (req, res) => {
    const { pathname } = new URL(req.url, 'http://localhost');
    if (pathname.startsWith('/interaction/')) {
      interactions(req, res, pathname).then((handled) => {
        if (!handled) {
          res.statusCode = 404;
          res.end();
        }
      }).catch((err) => {
        if (!err.expose && !(err instanceof errors.OIDCProviderError)) log(cfg, `interaction error: ${err.stack || err}`);
        sendError(res, err);
      });
      return;
    }
    if (pathname === '/healthz') {
      res.setHeader('Content-Type', 'text/plain');
      res.end('ok\n');
      return;
    }
    oidc(req, res);
  };

  const stop = (signal) => {
    log(cfg, `${signal}: stopping`);
    server.close();
    server.closeAllConnections();
    process.exit(0);
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));

  process.stdout.write(`idp ready ${issuer}\n`);
}

main().catch((err) => {
  process.stderr.write(`idp: ${err.stack || err}\n`);
  process.exit(1);
});
