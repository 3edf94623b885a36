// The project's own login and second-factor interactions (oidc-provider's
// devInteractions sets no acr/amr, so step-up needs these).
//
// Routes, all under /interaction/:uid:
//   GET  /interaction/:uid        show what the request still needs
//   POST /interaction/:uid/login  username + password  -> loa:1, amr [pwd]
//   POST /interaction/:uid/otp    second factor        -> loa:2, amr [pwd otp mfa]

import { ACR_LADDER } from './config.js';
import { checkPassword, sameSecret } from './accounts.js';
import {
  AMR_FOR, STEP_UP_REASON, rank, requestedAcrs, target,
} from './acr.js';
import { totpValid } from './totp.js';
import { loginPage, otpPage } from './views.js';

const MAX_BODY = 16 * 1024;
const PENDING_TTL_MS = 10 * 60 * 1000;

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY) {
      const err = new Error('request body too large');
      err.statusCode = 413;
      err.expose = true;
      throw err;
    }
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function send(res, status, html) {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(html);
}

function redirect(res, location) {
  res.statusCode = 303;
  res.setHeader('Location', location);
  res.setHeader('Content-Length', '0');
  res.end();
}

/**
 * makeInteractions returns a handler (req, res, pathname) for the
 * /interaction/* routes, or undefined for other paths.
 */
export function makeInteractions(provider, cfg) {
  // Password already checked in an interaction that also needs the second
  // factor: uid -> { accountId, exp }. In memory, like everything else here.
  const pending = new Map();

  function pendingFor(uid) {
    const now = Date.now();
    for (const [k, v] of pending) if (v.exp < now) pending.delete(k);
    return pending.get(uid);
  }

  // plan works out what this interaction still has to ask for.
  function plan(details) {
    const { params, prompt, session } = details;
    const requested = requestedAcrs(params.acr_values, params.claims);
    const want = target(requested, cfg.refuseAcr);
    const passed = pendingFor(details.uid);
    const hasSession = Boolean(session && session.accountId);
    // Anything but our step-up reason (no_session, login_prompt for
    // prompt=login or max_age=0, max_age, id_token_hint, ...) means a fresh
    // primary authentication.
    const freshLogin = !hasSession || prompt.reasons.some((r) => r !== STEP_UP_REASON);
    const needPassword = freshLogin && !passed;
    const haveRank = freshLogin ? (passed ? 1 : 0) : rank(session.acr);
    const needOtp = want.rank >= 2 && haveRank < want.rank;
    let accountId;
    if (passed) accountId = passed.accountId;
    else if (!freshLogin) accountId = session.accountId;
    return {
      requested, want, needPassword, needOtp, accountId,
    };
  }

  // grantFor creates (or extends) the Grant so that no consent page shows:
  // openid plus every requested scope and claims-parameter claim.
  async function grantFor(details, accountId) {
    const { params } = details;
    let grant;
    if (details.grantId) {
      grant = await provider.Grant.find(details.grantId);
      if (grant && grant.accountId !== accountId) grant = undefined;
    }
    if (!grant) grant = new provider.Grant({ accountId, clientId: params.client_id });
    grant.addOIDCScope(['openid', ...String(params.scope || '').split(' ').filter(Boolean)].join(' '));
    if (params.claims) {
      try {
        const claims = JSON.parse(params.claims);
        const names = new Set();
        for (const where of ['id_token', 'userinfo']) {
          if (claims[where] && typeof claims[where] === 'object') {
            for (const name of Object.keys(claims[where])) names.add(name);
          }
        }
        if (names.size) grant.addOIDCClaims([...names]);
      } catch {
        // oidc-provider already rejected malformed claims at /auth.
      }
    }
    return grant.save();
  }

  async function finishLogin(req, res, details, accountId, level) {
    const acr = ACR_LADDER[level - 1];
    const grantId = await grantFor(details, accountId);
    pending.delete(details.uid);
    await provider.interactionFinished(req, res, {
      login: { accountId, acr, amr: AMR_FOR[acr], remember: true },
      consent: { grantId },
    }, { mergeWithLastSubmission: false });
  }

  async function finishError(req, res) {
    await provider.interactionFinished(req, res, {
      error: 'unmet_authentication_requirements',
      error_description: 'the requested authentication context class cannot be satisfied',
    }, { mergeWithLastSubmission: false });
  }

  async function show(req, res, details, p, error, status = 200, username = '') {
    if (p.needPassword) {
      send(res, status, loginPage({
        uid: details.uid, clientId: details.params.client_id, requested: p.requested, error, username,
      }));
      return;
    }
    send(res, status, otpPage({
      uid: details.uid, accountId: p.accountId, error, otpIsDefault: cfg.otpIsDefault, totp: Boolean(cfg.totpKey),
    }));
  }

  async function getInteraction(req, res, details) {
    if (details.prompt.name === 'consent') {
      // A later request asked for more scopes/claims: grant them silently.
      const accountId = details.session && details.session.accountId;
      const grantId = await grantFor(details, accountId);
      await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
      return;
    }
    const p = plan(details);
    if (p.want.refused && cfg.refuseMode === 'error') {
      await finishError(req, res);
      return;
    }
    if (!p.needPassword && !p.needOtp) {
      // Password just checked and nothing more is needed (or possible).
      await finishLogin(req, res, details, p.accountId, Math.max(p.want.rank, 1));
      return;
    }
    await show(req, res, details, p);
  }

  async function postLogin(req, res, details) {
    const form = await readForm(req);
    const p = plan(details);
    if (!p.needPassword) {
      redirect(res, `/interaction/${details.uid}`);
      return;
    }
    const accountId = checkPassword(form.get('username'), form.get('password'));
    if (!accountId) {
      await show(req, res, details, p, 'Unknown user or wrong password.', 401, form.get('username') || '');
      return;
    }
    if (p.needOtp) {
      pending.set(details.uid, { accountId, exp: Date.now() + PENDING_TTL_MS });
      redirect(res, `/interaction/${details.uid}`); // shows the OTP form
      return;
    }
    await finishLogin(req, res, details, accountId, 1);
  }

  async function postOtp(req, res, details) {
    const form = await readForm(req);
    const p = plan(details);
    if (p.needPassword || !p.needOtp || !p.accountId) {
      redirect(res, `/interaction/${details.uid}`);
      return;
    }
    const code = String(form.get('otp') || '').trim();
    const ok = code !== '' && (sameSecret(code, cfg.otpCode) || (cfg.totpKey && totpValid(cfg.totpKey, code)));
    if (!ok) {
      await show(req, res, details, p, 'Wrong code. Try again.', 401);
      return;
    }
    await finishLogin(req, res, details, p.accountId, 2);
  }

  return async function handle(req, res, pathname) {
    const m = /^\/interaction\/([A-Za-z0-9_-]+)(\/login|\/otp)?$/.exec(pathname);
    if (!m) return false;
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== m[1]) {
      const err = new Error('interaction mismatch');
      err.statusCode = 400;
      err.expose = true;
      throw err;
    }
    const action = m[2] || '';
    if (req.method === 'GET' && action === '') await getInteraction(req, res, details);
    else if (req.method === 'POST' && action === '/login') await postLogin(req, res, details);
    else if (req.method === 'POST' && action === '/otp') await postOtp(req, res, details);
    else {
      res.statusCode = 405;
      res.end();
    }
    return true;
  };
}
