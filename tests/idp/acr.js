// The ACR ladder, what an authorization request asks for, and the login
// policy check that makes oidc-provider prompt again when the session's
// level is below the requested one (plain acr_values does not, by default).

import { interactionPolicy, errors } from 'oidc-provider';

import { ACR_LADDER } from './config.js';

const { Check, base } = interactionPolicy;

/** The reason name our check reports in interaction.prompt.reasons. */
export const STEP_UP_REASON = 'acr_below_requested';

/** The amr values issued for each level (RFC 8176). */
export const AMR_FOR = {
  'urn:stepup:loa:1': ['pwd'],
  'urn:stepup:loa:2': ['pwd', 'otp', 'mfa'],
};

/** rank returns 1.. for a ladder ACR, 0 for anything else (or nothing). */
export function rank(acr) {
  return ACR_LADDER.indexOf(acr) + 1;
}

function parseClaims(claims) {
  if (!claims) return undefined;
  if (typeof claims === 'object') return claims;
  try {
    return JSON.parse(claims);
  } catch {
    return undefined;
  }
}

/**
 * requestedAcrs lists the ladder ACRs an authorization request asks for:
 * acr_values (space separated, OIDC Core 3.1.2.1) and the `acr` member of
 * the claims parameter, id_token or userinfo (OIDC Core 5.5.1.1). Values not
 * on the ladder are ignored.
 */
export function requestedAcrs(acrValues, claims) {
  const found = [];
  if (typeof acrValues === 'string') {
    found.push(...acrValues.split(' ').filter(Boolean));
  }
  const parsed = parseClaims(claims);
  for (const where of ['id_token', 'userinfo']) {
    const acr = parsed && parsed[where] && parsed[where].acr;
    if (acr && typeof acr === 'object') {
      if (typeof acr.value === 'string') found.push(acr.value);
      if (Array.isArray(acr.values)) found.push(...acr.values.filter((v) => typeof v === 'string'));
    }
  }
  return [...new Set(found)].filter((v) => rank(v) > 0);
}

/**
 * target decides which level this IdP will try to reach for a request: the
 * lowest requested level it is willing to grant (on a ladder a higher level
 * satisfies a lower one). When every requested level is refused it settles
 * for the highest level below them that is not refused ({refused: true}).
 */
export function target(requested, refuseAcr) {
  if (requested.length === 0) return { rank: 1, refused: false };
  const ranks = requested.filter((a) => a !== refuseAcr).map(rank);
  if (ranks.length > 0) return { rank: Math.min(...ranks), refused: false };
  let r = Math.min(...requested.map(rank)) - 1;
  while (r > 1 && ACR_LADDER[r - 1] === refuseAcr) r -= 1;
  return { rank: Math.max(r, 1), refused: true };
}

/** unmetError is what IDP_REFUSE_MODE=error returns to the client. */
export function unmetError() {
  // OpenID Connect Core Unmet Authentication Requirements 1.0.
  return new errors.CustomOIDCProviderError(
    'unmet_authentication_requirements',
    'the requested authentication context class cannot be satisfied',
  );
}

/**
 * buildPolicy returns the interaction policy: the default prompts, with the
 * built-in essential acr checks (exact match, and they loop when the IdP
 * grants less) replaced by one ladder-aware check.
 */
export function buildPolicy(cfg) {
  const policy = base();
  const login = policy.get('login');
  login.checks.remove('essential_acrs');
  login.checks.remove('essential_acr');
  login.checks.add(new Check(
    STEP_UP_REASON,
    'the session does not meet the requested authentication context class',
    'login_required',
    (ctx) => {
      const { oidc } = ctx;
      if (!oidc.session.accountId) return Check.NO_NEED_TO_PROMPT; // no_session prompts
      // Just back from an interaction: it granted what it could; asking
      // again would loop when the IdP refuses the level.
      if (oidc.result && oidc.result.login) return Check.NO_NEED_TO_PROMPT;
      const requested = requestedAcrs(oidc.params.acr_values, oidc.claims);
      if (requested.length === 0) return Check.NO_NEED_TO_PROMPT;
      const want = target(requested, cfg.refuseAcr);
      if (want.refused && cfg.refuseMode === 'error') throw unmetError();
      if (rank(oidc.acr) >= want.rank) return Check.NO_NEED_TO_PROMPT;
      return Check.REQUEST_PROMPT;
    },
    ({ oidc }) => ({ requested_acr: requestedAcrs(oidc.params.acr_values, oidc.claims) }),
  ));
  return policy;
}
