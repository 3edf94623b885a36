// Package traefikstepup is a Traefik middleware plugin that enforces step-up
// authentication: it verifies the caller's JWT, finds the rule for the
// request's path and method, and lets the request through, challenges it
// (RFC 9470) or redirects a browser to sign in with the assurance the route
// needs. The engine lives in the stepup package; this file is the adapter.
package traefikstepup

import (
	"context"
	"net/http"
)

// Config is the plugin's dynamic configuration. Traefik decodes it with
// mapstructure from the file provider, labels (every value a string) and CRDs
// (JSON types). Durations are strings such as "10m". Unknown keys are an error.
type Config struct {
	// Issuers are the token issuers this middleware trusts. Required.
	Issuers []IssuerConfig `mapstructure:"issuers"`
	// TokenSources lists where the token is looked for, in order: "bearer"
	// (Authorization: Bearer), "cookie:<name>", "header:<name>".
	// Default: ["bearer", "cookie:stepup_session"].
	TokenSources []string `mapstructure:"tokenSources"`
	// ACRLevels is the ordered ladder of ACR values, weakest first. A rule's
	// minACR is satisfied by that value or any later one.
	ACRLevels []string `mapstructure:"acrLevels"`
	// Rules map path prefixes (and optionally methods) to requirements. The
	// longest matching prefix wins; a rule with methods beats one without at
	// the same prefix. Paths no rule matches need a valid token and nothing
	// more; add a rule for "/" to change that.
	Rules []RuleConfig `mapstructure:"rules"`
	// SignInURL is where browser navigations are redirected when they need to
	// (re)authenticate. The return URL and the rule's acr_values and max_age
	// are added to its query. Empty: browsers get the 401 challenge too.
	SignInURL string `mapstructure:"signInURL"`
	// ReturnParam names the query parameter carrying the return URL. Default "rd".
	ReturnParam string `mapstructure:"returnParam"`
	// ClaimHeaders maps claim names to request headers set for the backend
	// ("amr" and other arrays are joined with ","). Client-sent copies of
	// these headers are always removed. Default: sub→X-Stepup-Subject,
	// acr→X-Stepup-ACR, amr→X-Stepup-AMR.
	ClaimHeaders map[string]string `mapstructure:"claimHeaders"`
	// ForwardTokenHeader, when set, carries the verified token to the backend
	// in this header ("Authorization" gets "Bearer <token>"). Default: none.
	ForwardTokenHeader string `mapstructure:"forwardTokenHeader"`
	// StripToken removes the token from the upstream request (the cookie from
	// the Cookie header, or the header it came in). Default false.
	StripToken bool `mapstructure:"stripToken"`
	// AuditMode evaluates and logs every decision but lets every request through.
	AuditMode bool `mapstructure:"auditMode"`
	// Realm is the realm of the WWW-Authenticate challenge. Default: the middleware name.
	Realm string `mapstructure:"realm"`
	// Leeway is the clock skew allowed on exp, nbf, iat and auth_time. Default "60s".
	Leeway string `mapstructure:"leeway"`
	// MaxTokenSize bounds the token length in bytes. Default 16384.
	MaxTokenSize int `mapstructure:"maxTokenSize"`
	// CacheSize bounds the number of verified tokens kept. Default 10000; -1 disables.
	CacheSize int `mapstructure:"cacheSize"`

	// Unknown collects keys that match no field, so New can reject typos.
	Unknown map[string]interface{} `mapstructure:",remain"`
}

// IssuerConfig describes one trusted issuer and how its tokens are verified.
type IssuerConfig struct {
	// Issuer is the exact iss value. Required unless InsecureSkipIssuerCheck.
	Issuer string `mapstructure:"issuer"`
	// Audience lists accepted aud values; a token must carry one of them.
	// Required unless InsecureSkipAudienceCheck.
	Audience []string `mapstructure:"audience"`
	// Algorithms is the allowlist of JWS algorithms (RS256, ES256, EdDSA, HS256...). Required.
	Algorithms []string `mapstructure:"algorithms"`
	// JWKSURL is fetched lazily and cached.
	JWKSURL string `mapstructure:"jwksURL"`
	// Discovery fetches <issuer>/.well-known/openid-configuration and uses its jwks_uri.
	Discovery bool `mapstructure:"discovery"`
	// PublicKeys holds inline keys: PEM blocks (SPKI, PKCS#1, certificate), a JWK or a JWKS.
	PublicKeys string `mapstructure:"publicKeys"`
	// Secret is an HMAC secret for HS256/384/512.
	Secret string `mapstructure:"secret"`
	// TokenType, when set, must equal the typ header (for example "at+jwt").
	TokenType string `mapstructure:"tokenType"`
	// ACRClaim names the claim carrying the ACR; default "acr". An array claim
	// such as Entra's "acrs" is accepted.
	ACRClaim string `mapstructure:"acrClaim"`
	// InsecureSkipIssuerCheck accepts tokens without checking iss.
	InsecureSkipIssuerCheck bool `mapstructure:"insecureSkipIssuerCheck"`
	// InsecureSkipAudienceCheck accepts tokens whatever their aud.
	InsecureSkipAudienceCheck bool `mapstructure:"insecureSkipAudienceCheck"`

	Unknown map[string]interface{} `mapstructure:",remain"`
}

// RuleConfig is what a path prefix (and optionally some methods) requires.
type RuleConfig struct {
	// PathPrefix is matched against the canonical request path. Required.
	PathPrefix string `mapstructure:"pathPrefix"`
	// Methods restricts the rule to these HTTP methods; empty = all. GET covers HEAD.
	Methods []string `mapstructure:"methods"`
	// Public lets requests through without a token.
	Public bool `mapstructure:"public"`
	// MinACR is the lowest acceptable level on ACRLevels.
	MinACR string `mapstructure:"minACR"`
	// ACRValues is a set of acceptable ACRs, for IdPs without a ladder.
	ACRValues []string `mapstructure:"acrValues"`
	// AMR lists methods that must all be in amr.
	AMR []string `mapstructure:"amr"`
	// AMRAny lists methods of which at least one must be in amr.
	AMRAny []string `mapstructure:"amrAny"`
	// MaxAge is the longest time since auth_time, such as "10m".
	MaxAge string `mapstructure:"maxAge"`
	// Claims are other claim values required (403 when absent).
	Claims []ClaimConfig `mapstructure:"claims"`

	Unknown map[string]interface{} `mapstructure:",remain"`
}

// ClaimConfig requires that a claim equal one of Values, or, when the claim is
// an array, contain one of them.
type ClaimConfig struct {
	Name   string   `mapstructure:"name"`
	Values []string `mapstructure:"values"`

	Unknown map[string]interface{} `mapstructure:",remain"`
}

// CreateConfig returns the default configuration. Slices and maps stay empty
// because Traefik merges user values into defaults; New applies the defaults.
func CreateConfig() *Config {
	return &Config{}
}

// New builds the middleware. STUB until the adapter lands.
func New(ctx context.Context, next http.Handler, config *Config, name string) (http.Handler, error) {
	return next, nil
}
