// Package traefikstepup is a Traefik middleware plugin that enforces step-up
// authentication: it verifies the caller's JWT, finds the rule for the
// request's path and method, and lets the request through, challenges it
// (RFC 9470) or redirects a browser to sign in with the assurance the route
// needs. The engine lives in the stepup package; this file is the adapter.
package traefikstepup

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/stepup-auth/traefikstepup/stepup"
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
	// TrustForwardedHeaders lets X-Forwarded-Proto say whether the client used
	// HTTPS (return URLs, the login's cookie names) and X-Forwarded-Host name
	// the host. Enable it only when Traefik's entry point sets or sanitises
	// them. Default false.
	TrustForwardedHeaders bool `mapstructure:"trustForwardedHeaders"`
	// LogLevel chooses what the middleware writes to Traefik's standard output:
	// "debug" (one line per challenged or refused request), "info", "warn"
	// (default: risky settings at start-up) or "error".
	LogLevel string `mapstructure:"logLevel"`

	// OIDC turns on the built-in browser login: instead of redirecting to
	// SignInURL, the middleware itself sends browsers to the identity
	// provider with the rule's step-up parameters, handles the callback and
	// keeps the result in a signed session cookie. Off unless ClientID is set.
	OIDC OIDCConfig `mapstructure:"oidc"`

	// Unknown collects keys that match no field, so New can reject typos.
	Unknown map[string]interface{} `mapstructure:",remain"`
}

// OIDCConfig configures the built-in OpenID Connect relying party.
type OIDCConfig struct {
	// Issuer is the provider's issuer; its discovery document supplies the
	// endpoints not set below. Required unless every endpoint is set.
	Issuer string `mapstructure:"issuer"`
	// AuthorizationURL, TokenURL, EndSessionURL and JWKSURL override discovery.
	AuthorizationURL string `mapstructure:"authorizationURL"`
	TokenURL         string `mapstructure:"tokenURL"`
	EndSessionURL    string `mapstructure:"endSessionURL"`
	JWKSURL          string `mapstructure:"jwksURL"`
	// ClientID is this relying party's client_id. Setting it enables the login.
	ClientID string `mapstructure:"clientID"`
	// ClientSecret authenticates the client at the token endpoint. On
	// Kubernetes write "urn:k8s:secret:<secret>:<key>".
	ClientSecret string `mapstructure:"clientSecret"`
	// ClientAuthMethod is "client_secret_basic" (default) or "client_secret_post".
	ClientAuthMethod string `mapstructure:"clientAuthMethod"`
	// Scopes are requested besides "openid" (always sent). Default: profile, email.
	Scopes []string `mapstructure:"scopes"`
	// RedirectURL is the absolute callback URL registered at the provider.
	// Default: the request's scheme and host + CallbackPath.
	RedirectURL string `mapstructure:"redirectURL"`
	// CallbackPath receives the provider's answer. Default "/_stepup/callback".
	// The router carrying this middleware must match it.
	CallbackPath string `mapstructure:"callbackPath"`
	// LogoutPath clears the session. Default "/_stepup/logout".
	LogoutPath string `mapstructure:"logoutPath"`
	// PostLogoutRedirectURL is where logout ends. Default "/".
	PostLogoutRedirectURL string `mapstructure:"postLogoutRedirectURL"`
	// ProviderLogout continues logout at the provider's end_session_endpoint.
	ProviderLogout bool `mapstructure:"providerLogout"`
	// AuthParams are extra authorization request parameters (for example
	// Entra's "claims"); they cannot override the protocol's own.
	AuthParams map[string]string `mapstructure:"authParams"`
	// EssentialACRClaims also asks for the ACRs as an essential claim
	// (claims={"id_token":{"acr":{"essential":true,"values":[...]}}}), for
	// providers that ignore acr_values.
	EssentialACRClaims bool `mapstructure:"essentialACRClaims"`
	// IDTokenAlgorithms are accepted for ID tokens. Default: RS256.
	IDTokenAlgorithms []string `mapstructure:"idTokenAlgorithms"`
	// ACRClaim names the ID token claim holding the ACR. Default "acr".
	ACRClaim string `mapstructure:"acrClaim"`
	// SessionSecret signs sessions and seals login flows: at least 32
	// bytes, the same on every replica. Required with ClientID.
	SessionSecret string `mapstructure:"sessionSecret"`
	// PreviousSessionSecrets still verify sessions and flows after a rotation.
	PreviousSessionSecrets []string `mapstructure:"previousSessionSecrets"`
	// SessionLifetime is how long a session cookie is trusted. Default "1h".
	SessionLifetime string `mapstructure:"sessionLifetime"`
	// SessionCookie names the session cookie; on HTTPS it gets the
	// "__Host-" prefix. Default "stepup_session".
	SessionCookie string `mapstructure:"sessionCookie"`
	// SessionClaims are ID token claims copied into the session (for
	// example email, groups) for claim rules and headers.
	SessionClaims []string `mapstructure:"sessionClaims"`

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

// Defaults applied by New when the configuration leaves a field empty.
const (
	defaultLeeway       = 60 * time.Second
	defaultMaxTokenSize = 16 << 10
	defaultReturnParam  = "rd"
	defaultFetchTimeout = 10 * time.Second
	defaultKeyCooldown  = 30 * time.Second
	// defaultKeyRefresh is how old a fetched key set may get before it is
	// refetched (in the background), so that a key the issuer removed stops
	// verifying even when no new kid appears.
	defaultKeyRefresh = 15 * time.Minute
)

// defaultTokenSources is used when TokenSources is empty.
var defaultTokenSources = []string{"bearer", "cookie:stepup_session"}

// stepUpMiddleware is the http.Handler Traefik calls for every request.
type stepUpMiddleware struct {
	next     http.Handler
	name     string
	verifier *stepup.Verifier
	policy   *stepup.Policy
	sources  []stepup.TokenSource
	maxToken int
	leeway   time.Duration
	now      func() time.Time
	log      *logger

	headers       []claimHeader
	stripHeaders  []string // identity and forward headers in every spelling a backend may merge
	forwardHeader string
	stripToken    bool
	audit         bool
	realm         string

	signIn      *url.URL
	returnParam string
	trustProxy  bool

	// login is the built-in OIDC login, nil unless configured. sourcesTLS
	// then reads the session from its "__Host-" cookie on HTTPS requests.
	login      *browserLogin
	sourcesTLS []stepup.TokenSource

	// gate admits the requests whose decision is already known (see
	// stepup.Gate); built last by compile.
	gate *stepup.Gate
}

// claimHeader maps one claim to one upstream request header.
type claimHeader struct {
	claim  string
	header string
}

// deps are what tests replace: the clock, the HTTP client used for JWKS and
// discovery, and the log destination.
type deps struct {
	now    func() time.Time
	client *http.Client
	logOut io.Writer
}

// New builds the middleware from its configuration. It fetches nothing: keys
// published at a JWKS URL or through discovery are fetched on first use. Every
// configuration problem is reported at once.
func New(ctx context.Context, next http.Handler, config *Config, name string) (http.Handler, error) {
	// Not "return newMiddleware(...)": Yaegi v0.16.1 loses the error when a
	// call whose result types differ is returned directly.
	m, err := newMiddleware(ctx, next, config, name, deps{})
	if err != nil {
		return nil, err
	}

	return m, nil
}

func newMiddleware(
	ctx context.Context,
	next http.Handler,
	config *Config,
	name string,
	d deps,
) (*stepUpMiddleware, error) {
	if config == nil {
		config = CreateConfig()
	}
	realClock := d.now == nil
	if d.now == nil {
		d.now = time.Now
	}
	if d.client == nil {
		d.client = &http.Client{Timeout: defaultFetchTimeout}
	}
	if d.logOut == nil {
		d.logOut = os.Stdout
	}
	log, logProblem := newLogger(d.logOut, config.LogLevel, name)

	c := &configCompiler{ctx: ctx, deps: d, realClock: realClock}
	if logProblem != "" {
		c.problem("logLevel", logProblem)
	}
	m := c.compile(config, name)
	if len(c.problems) > 0 {
		return nil, fmt.Errorf("%s: invalid configuration: %s", name, strings.Join(c.problems, "; "))
	}
	m.next = next
	m.log = log
	m.now = d.now
	for i := 0; i < len(c.warnings); i++ {
		log.warn(c.warnings[i])
	}

	return m, nil
}

// ServeHTTP enforces the rule that matches the request.
//
// It is the hot path, and Yaegi allocates every function's whole frame on
// each call and charges microseconds per call: the requests whose decision
// is already known (a public route, a cached token that met this rule) are
// admitted by stepup.Admit in one frame; decide takes the others.
//
// Identity headers are the backend's proof of who is calling: a client must
// never be able to supply them, on public routes included, nor in a spelling
// with "_" that CGI-style backends (PHP, WSGI, Rack) merge with the real one.
// Admit removes them (m.stripHeaders) from every request, whatever it says.
func (m *stepUpMiddleware) ServeHTTP(rw http.ResponseWriter, req *http.Request) {
	rule, err := stepup.Admit(m.gate, req)
	if rule == stepup.Admitted {
		m.next.ServeHTTP(rw, req)
		return
	}
	decide(m, rw, req, rule, err)
}

// decide is the full path: the login's own paths, then the rule, the token,
// its verification and the rule's check. rule, when not nil, is the
// protected rule Admit matched (a path with one reading, no method override,
// not a login path), which MatchRequest would return; verifyErr, when not
// nil, is why the token Admit read and verified for that rule is not valid,
// which authorize would find again. (A function, not a method: cheaper to
// call under Yaegi.) A check added here must be added to stepup.Admit too,
// or make it leave such requests here: Admit passes what it knows this path
// would pass, without coming here.
func decide(m *stepUpMiddleware, rw http.ResponseWriter, req *http.Request, rule *stepup.Rule, verifyErr error) {
	if verifyErr != nil {
		m.fail(rw, req, rule, 0, verifyErr)
		return
	}
	if rule != nil {
		authorize(m, rw, req, rule, nil)
		return
	}
	decideFull(m, rw, req)
}

// decideFull is decide for a request whose rule Admit did not find: kept
// apart so that a protected request Admit matched does not allocate this
// frame under Yaegi.
func decideFull(m *stepUpMiddleware, rw http.ResponseWriter, req *http.Request) {
	if m.login != nil && m.serveLogin(rw, req) {
		return
	}

	rule, err := m.policy.MatchRequest(req.Method, req.URL.EscapedPath())
	if err != nil {
		m.fail(rw, req, nil, http.StatusBadRequest, err)
		return
	}
	// A method override makes many frameworks act on another method than the
	// request's: the rule of that method must hold too.
	var also *stepup.Rule
	if req.Header["X-Http-Method-Override"] != nil || req.Header["X-Http-Method"] != nil ||
		req.Header["X-Method-Override"] != nil {
		rule, also, err = m.overriddenRules(req, rule)
		if err != nil {
			m.fail(rw, req, nil, http.StatusBadRequest, err)
			return
		}
	}
	if rule.Public() {
		m.next.ServeHTTP(rw, req)
		return
	}
	authorize(m, rw, req, rule, also)
}

// overriddenRules returns the rules to enforce when the request names another
// method in X-HTTP-Method-Override, X-HTTP-Method or X-Method-Override: the
// one protected rule, or both when both are protected and differ.
func (m *stepUpMiddleware) overriddenRules(req *http.Request, rule *stepup.Rule) (*stepup.Rule, *stepup.Rule, error) {
	names := []string{"X-Http-Method-Override", "X-Http-Method", "X-Method-Override"}
	var also *stepup.Rule
	for i := 0; i < len(names); i++ {
		values := req.Header[names[i]]
		for j := 0; j < len(values); j++ {
			other, err := m.policy.MatchRequest(strings.TrimSpace(values[j]), req.URL.EscapedPath())
			if err != nil {
				return nil, nil, err
			}
			switch {
			case other == rule || other.Public() || other == also:
			case rule.Public():
				rule = other
			case also == nil:
				also = other
			default:
				return nil, nil, fmt.Errorf("several method overrides: %w", stepup.ErrPathInvalid)
			}
		}
	}

	return rule, also, nil
}

// authorize lets a request on a protected route through if its token is
// valid and meets the rule, with the identity headers set. (A function, not
// a method: cheaper to call under Yaegi; apart from ServeHTTP so that public
// routes do not allocate its frame.)
func authorize(m *stepUpMiddleware, rw http.ResponseWriter, req *http.Request, rule, also *stepup.Rule) {
	sources := m.sources
	if m.sourcesTLS != nil && stepup.IsTLS(req, m.trustProxy) {
		sources = m.sourcesTLS
	}
	token, source, err := stepup.TokenFromRequest(req, sources, m.maxToken)
	if err != nil {
		m.fail(rw, req, rule, 0, err)
		return
	}
	claims, err := m.verifier.Verify(req.Context(), token)
	if err != nil {
		m.fail(rw, req, rule, 0, err)
		return
	}
	if err := rule.Check(claims, m.now(), m.leeway); err != nil {
		m.deny(rw, req, rule, claims, err)
		if !m.audit {
			return
		}
	}
	if also != nil {
		if err := also.Check(claims, m.now(), m.leeway); err != nil {
			m.deny(rw, req, also, claims, err)
			if !m.audit {
				return
			}
		}
	}

	for i := 0; i < len(m.headers); i++ {
		if v, ok := stepup.HeaderValue(claims, m.headers[i].claim); ok {
			req.Header[m.headers[i].header] = []string{v} // Header.Set, canonical name
		}
	}
	if m.stripToken || m.forwardHeader != "" {
		stepup.PassToken(req, token, sources[source], m.stripToken, m.forwardHeader)
	}
	m.next.ServeHTTP(rw, req)
}

// serveLogin answers the built-in login's callback and logout paths, and
// reports whether it did.
func (m *stepUpMiddleware) serveLogin(rw http.ResponseWriter, req *http.Request) bool {
	switch req.URL.Path {
	case m.login.callbackPath:
		m.callback(rw, req)
		return true
	case m.login.logoutPath:
		m.logout(rw, req)
		return true
	}

	return false
}

// fail answers a request whose token could not be read or verified, or
// whose path is invalid (status 400, rule nil), and lets it through without
// identity headers when the middleware only audits.
func (m *stepUpMiddleware) fail(rw http.ResponseWriter, req *http.Request, rule *stepup.Rule, status int, err error) {
	if status != 0 {
		m.refuse(rw, req, rule, status, err)
	} else {
		m.deny(rw, req, rule, nil, err)
	}
	if m.audit {
		m.next.ServeHTTP(rw, req)
	}
}
