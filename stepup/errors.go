package stepup

import "errors"

// Errors about the token itself. The adapter answers every one of them with
// 401 and error="invalid_token" (RFC 6750 §3.1), except ErrTokenMissing
// (a bare challenge) and ErrKeysUnavailable (an infrastructure failure).
var (
	// ErrTokenMissing means no configured token source carried a token.
	ErrTokenMissing = errors.New("token is missing")
	// ErrTokenAmbiguous means the request carried the token more than once
	// (for example two Authorization headers) and none was chosen.
	ErrTokenAmbiguous = errors.New("token is ambiguous")
	// ErrTokenTooLarge means the token exceeded the configured size bound.
	ErrTokenTooLarge = errors.New("token is too large")
	// ErrTokenMalformed means the token is not a well-formed compact JWS with
	// a JSON header and claims of the expected types.
	ErrTokenMalformed = errors.New("token is malformed")
	// ErrAlgorithmNotAllowed means the header's alg is not on the issuer's
	// allowlist, is "none", or does not fit the key.
	ErrAlgorithmNotAllowed = errors.New("token algorithm is not allowed")
	// ErrCriticalHeader means the header lists a crit extension this
	// implementation does not understand (RFC 7515 §4.1.11).
	ErrCriticalHeader = errors.New("token has an unsupported critical header")
	// ErrKeyNotFound means no key of the issuer matches the token's kid and alg.
	ErrKeyNotFound = errors.New("token signing key is unknown")
	// ErrSignatureInvalid means the signature does not verify.
	ErrSignatureInvalid = errors.New("token signature is invalid")
	// ErrIssuerInvalid means iss is missing or not a configured issuer.
	ErrIssuerInvalid = errors.New("token issuer is not accepted")
	// ErrAudienceInvalid means aud does not contain a configured audience.
	ErrAudienceInvalid = errors.New("token audience is not accepted")
	// ErrTypeInvalid means the typ header is not the one the issuer requires.
	ErrTypeInvalid = errors.New("token type is not accepted")
	// ErrExpired means exp is missing or in the past (beyond the leeway).
	ErrExpired = errors.New("token is expired")
	// ErrNotYetValid means nbf is in the future (beyond the leeway).
	ErrNotYetValid = errors.New("token is not valid yet")
	// ErrIssuedInFuture means iat or auth_time is in the future (beyond the leeway).
	ErrIssuedInFuture = errors.New("token is issued in the future")
	// ErrNonceInvalid means an ID token's nonce does not match the login flow.
	ErrNonceInvalid = errors.New("token nonce does not match")
	// ErrKeysUnavailable means the issuer's keys could not be obtained (JWKS or
	// discovery unreachable and nothing cached). It is not the caller's fault.
	ErrKeysUnavailable = errors.New("signing keys are unavailable")
)

// Errors about assurance: the token is valid but the route needs a stronger or
// fresher authentication. The adapter steps the user up (RFC 9470).
var (
	// ErrACRInsufficient means the token's acr is below the rule's level or
	// not among its accepted values.
	ErrACRInsufficient = errors.New("authentication level is too low")
	// ErrAMRInsufficient means the token's amr lacks a required method.
	ErrAMRInsufficient = errors.New("authentication methods are insufficient")
	// ErrAuthTooOld means auth_time is missing or older than the rule's max age.
	ErrAuthTooOld = errors.New("authentication is too old")
)

// ErrClaimMismatch means the token is valid and assured but lacks a claim
// value the rule requires (a group, a role). Stepping up cannot fix it: 403.
var ErrClaimMismatch = errors.New("required claim is missing")

// ErrPathInvalid means the request path cannot be mapped to one canonical
// path (bad percent-encoding, encoded separators, NUL bytes).
var ErrPathInvalid = errors.New("request path is not canonical")

// IsAssuranceError reports whether err calls for a step-up.
func IsAssuranceError(err error) bool {
	return errors.Is(err, ErrACRInsufficient) ||
		errors.Is(err, ErrAMRInsufficient) ||
		errors.Is(err, ErrAuthTooOld)
}

// Errors of the built-in OIDC relying party (the browser step-up loop).
var (
	// ErrFlowInvalid means the callback carries no login flow cookie for its
	// state, or the cookie cannot be opened or does not match.
	ErrFlowInvalid = errors.New("login flow is missing or invalid")
	// ErrFlowExpired means the login flow outlived its time to live.
	ErrFlowExpired = errors.New("login flow is expired")
	// ErrSealedInvalid means a sealed cookie value is malformed, too large or
	// fails authentication under every configured secret.
	ErrSealedInvalid = errors.New("sealed value is invalid")
	// ErrProviderUnavailable means the identity provider could not be reached
	// or answered unusably (discovery, token endpoint, timeouts, 5xx).
	ErrProviderUnavailable = errors.New("identity provider is unavailable")
	// ErrProviderRejected means the identity provider refused the request: an
	// error in the callback or an OAuth error from the token endpoint.
	ErrProviderRejected = errors.New("identity provider rejected the login")
	// ErrSessionTooLarge means a session token cannot fit the size bound even
	// without its extra claims.
	ErrSessionTooLarge = errors.New("session is too large")
)
