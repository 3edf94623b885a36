package stepup

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults of RelyingPartyOptions.
const (
	// DefaultProviderTimeout bounds each request to the identity provider.
	DefaultProviderTimeout = 10 * time.Second
	// DefaultIDTokenAlgorithm is the ID token algorithm every OpenID
	// provider supports (OIDC Core §3.1.3.7, item 7).
	DefaultIDTokenAlgorithm = "RS256"
)

// Client authentication methods at the token endpoint (OIDC Core §9).
const (
	ClientSecretBasic = "client_secret_basic"
	ClientSecretPost  = "client_secret_post"
	ClientAuthNone    = "none"
)

// reservedAuthParams are the authorization request parameters the relying
// party sets itself: ExtraAuthParams may not carry them, so configuration
// cannot weaken state, nonce, PKCE or the step-up request, nor switch to
// form_post (whose cross-site POST drops the SameSite=Lax flow cookie).
var reservedAuthParams = map[string]bool{
	"response_type": true, "response_mode": true, "client_id": true,
	"client_secret": true, "redirect_uri": true, "scope": true,
	"state": true, "nonce": true, "code_challenge": true,
	"code_challenge_method": true, "acr_values": true, "max_age": true,
	"prompt": true, "claims": true, "login_hint": true,
	"id_token_hint": true, "request": true, "request_uri": true,
}

// RelyingPartyOptions configures the OpenID Connect relying party used for
// the browser step-up loop (authorization code flow with PKCE).
type RelyingPartyOptions struct {
	// Issuer is the provider's issuer identifier, exactly as it appears in
	// its ID tokens. Required. It is also the discovery base when endpoints
	// are missing.
	Issuer string
	// AuthorizationURL and TokenURL are the provider's endpoints. When
	// either is empty, they are read from the discovery document at
	// Issuer + "/.well-known/openid-configuration" on first use, together
	// with EndSessionURL; an explicit value always wins. With both set,
	// there is no discovery and EndSessionURL is used as given (empty: the
	// provider has no logout).
	AuthorizationURL string
	TokenURL         string
	EndSessionURL    string
	// JWKSURL is the provider's key set. Default: the jwks_uri of the
	// discovery document.
	JWKSURL string
	// ClientID is the client registered at the provider. Required.
	ClientID string
	// ClientSecret authenticates the client at the token endpoint; empty
	// for a public client (PKCE only).
	ClientSecret string
	// ClientAuthMethod is ClientSecretBasic (default with a secret),
	// ClientSecretPost, or ClientAuthNone (default without a secret).
	ClientAuthMethod string
	// Scopes requested; "openid" is always sent first, duplicates dropped.
	Scopes []string
	// ExtraAuthParams are added to every authorization request (for
	// example "ui_locales"). The parameters the relying party sets itself
	// (state, nonce, PKCE, scope, acr_values, max_age, prompt, claims,
	// response_mode, ...) are refused.
	ExtraAuthParams map[string]string
	// EssentialACRClaims also requests the ACRs as an essential claim,
	// claims={"id_token":{"acr":{"essential":true,"value":"..."}}} (or
	// "values" for several; the claim named by ACRClaim, such as Entra's
	// "acrs") (OIDC Core §5.5.1.1), for providers that ignore acr_values.
	EssentialACRClaims bool
	// ACRClaim names the ID token claim carrying the ACR, "acr" by default;
	// an array claim such as Entra ID's "acrs" fills Claims.ACRs.
	ACRClaim string
	// IDTokenAlgorithms is the allowlist for ID token signatures. Default
	// ["RS256"].
	IDTokenAlgorithms []string
	// Client sends the requests. Default: a client of its own.
	Client *http.Client
	// Timeout bounds each request to the provider. Default 10s.
	Timeout time.Duration
	// Context is the lifetime of the relying party (Traefik cancels it on
	// reload); key fetches run under it. Default context.Background().
	Context context.Context
	// Leeway is the clock skew allowed on the ID token's time claims.
	Leeway time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// RelyingParty runs the provider side of the browser login: it builds the
// authorization request, exchanges the code and verifies the ID token. It
// fetches nothing when built; discovery and keys are fetched lazily and
// cached. It is safe for concurrent use.
//
// The adapter drives one login as follows:
//
//	// the route needs a step-up and the request is a navigation:
//	f, _ := stepup.NewLoginFlow(r.URL.RequestURI(), acrs, maxAge, hasMaxAge, ruleID, now, ttl)
//	u, err := rp.AuthorizationRequestURL(ctx, f, redirectURI, "")
//	_ = flowCookies.Write(w, r, f)
//	http.Redirect(w, r, u, http.StatusFound)
//
//	// on the callback path:
//	f, err := flowCookies.Take(w, r, q.Get("state")) // first: consumes the cookie
//	err = stepup.CallbackError(q)                     // the provider refused
//	raw, err := rp.Exchange(ctx, q.Get("code"), f.CodeVerifier, redirectURI)
//	claims, err := rp.VerifyIDToken(ctx, raw, f.Nonce)
//	// re-check claims against rule f.RuleID, mint the session, then
//	http.Redirect(w, r, stepup.SafeReturnPath(f.ReturnTo), http.StatusFound)
type RelyingParty struct {
	opts       RelyingPartyOptions // defaults applied
	scope      string
	authMethod string
	verifier   *Verifier

	mu       sync.Mutex
	resolved *providerEndpoints // nil until known
	lastErr  error              // last discovery failure
	lastTry  time.Time
}

// providerEndpoints are the resolved endpoints of the provider.
type providerEndpoints struct {
	authorization string
	token         string
	endSession    string
}

// NewRelyingParty checks opts and returns a RelyingParty. It reports every
// configuration problem at once and fetches nothing.
func NewRelyingParty(opts RelyingPartyOptions) (*RelyingParty, error) {
	rp := &RelyingParty{opts: opts}
	rp.applyDefaults()

	problems := rp.checkOptions()
	scope, scopeProblems := joinScopes(opts.Scopes)
	problems = append(problems, scopeProblems...)
	if len(problems) > 0 {
		return nil, joinProblems(problems)
	}
	rp.scope = scope

	v, err := rp.newVerifier()
	if err != nil {
		return nil, err
	}
	rp.verifier = v
	if rp.opts.AuthorizationURL != "" && rp.opts.TokenURL != "" {
		rp.resolved = rp.explicitEndpoints()
	}

	return rp, nil
}

// applyDefaults fills the zero options.
func (rp *RelyingParty) applyDefaults() {
	o := &rp.opts
	if len(o.IDTokenAlgorithms) == 0 {
		o.IDTokenAlgorithms = []string{DefaultIDTokenAlgorithm}
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultProviderTimeout
	}
	if o.Context == nil {
		o.Context = context.Background()
	}
	if o.Client == nil {
		o.Client = &http.Client{}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	rp.authMethod = o.ClientAuthMethod
	if rp.authMethod == "" && o.ClientSecret != "" {
		rp.authMethod = ClientSecretBasic
	}
	if rp.authMethod == "" {
		rp.authMethod = ClientAuthNone
	}
}

// checkOptions reports configuration problems, each with its location.
func (rp *RelyingParty) checkOptions() []string {
	o := rp.opts
	var problems []string
	if o.Issuer == "" {
		problems = append(problems, "issuer: required")
	}
	if o.ClientID == "" {
		problems = append(problems, "clientID: required")
	}
	urls := []string{o.Issuer, o.AuthorizationURL, o.TokenURL, o.EndSessionURL, o.JWKSURL}
	names := []string{"issuer", "authorizationURL", "tokenURL", "endSessionURL", "jwksURL"}
	for i := 0; i < len(urls); i++ {
		if urls[i] != "" && !IsHTTPURL(urls[i]) {
			problems = append(problems, names[i]+": not an absolute http(s) URL")
		}
	}
	switch rp.authMethod {
	case ClientSecretBasic, ClientSecretPost:
		if o.ClientSecret == "" {
			problems = append(problems, "clientSecret: required by "+rp.authMethod)
		}
	case ClientAuthNone:
		if o.ClientSecret != "" {
			problems = append(problems, "clientAuthMethod: \"none\" with a client secret")
		}
	default:
		problems = append(problems, "clientAuthMethod: unknown method "+strconv.Quote(rp.authMethod))
	}
	for _, k := range sortedStringKeys(o.ExtraAuthParams) {
		if k == "" || reservedAuthParams[k] {
			problems = append(problems, "extraAuthParams: "+strconv.Quote(k)+" cannot be set")
		}
	}

	return problems
}

// newVerifier builds the ID token verifier: the issuer's keys from JWKSURL
// or the discovery document, audience = client ID, no cache (each ID token
// is verified once).
func (rp *RelyingParty) newVerifier() (*Verifier, error) {
	remote := &RemoteKeysOptions{
		JWKSURL: rp.opts.JWKSURL,
		Issuer:  rp.opts.Issuer,
		Client:  rp.opts.Client,
		Timeout: rp.opts.Timeout,
		Context: rp.opts.Context,
		// Refreshed in the background, so keys the provider removed stop
		// verifying ID tokens.
		MaxAge: providerKeysMaxAge,
	}
	if remote.JWKSURL == "" {
		remote.DiscoveryURL = discoveryURL(rp.opts.Issuer)
	}

	return NewVerifier(VerifierOptions{
		Issuers: []IssuerOptions{{
			Issuer:     rp.opts.Issuer,
			Audience:   []string{rp.opts.ClientID},
			Algorithms: rp.opts.IDTokenAlgorithms,
			ACRClaim:   rp.opts.ACRClaim,
			Keys:       NewKeySet(nil, remote),
		}},
		Leeway:    rp.opts.Leeway,
		CacheSize: -1,
		Now:       rp.opts.Now,
	})
}

// providerKeysMaxAge is how old the provider's key set may get before it is
// refetched.
const providerKeysMaxAge = 15 * time.Minute

// discoveryURL is where OIDC Discovery §4 puts the configuration of issuer:
// a trailing "/" is removed before the well-known path is appended.
func discoveryURL(issuer string) string {
	return strings.TrimSuffix(issuer, "/") + discoverySuffix
}

// joinScopes returns the scope parameter: "openid" first, then the others
// once each, in order. Scope tokens must fit RFC 6749 §3.3.
func joinScopes(scopes []string) (string, []string) {
	out := []string{"openid"}
	var problems []string
	for i := 0; i < len(scopes); i++ {
		s := scopes[i]
		if !isScopeToken(s) {
			problems = append(problems, fmt.Sprintf("scopes[%d]: invalid scope %q", i, s))
			continue
		}
		if !scopeListed(out, s) {
			out = append(out, s)
		}
	}

	return strings.Join(out, " "), problems
}

// isScopeToken reports whether s is a scope-token: 1*( %x21 / %x23-5B /
// %x5D-7E ) (RFC 6749 §3.3).
func isScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}

	return true
}

// scopeListed reports whether s is in list.
func scopeListed(list []string, s string) bool {
	for i := 0; i < len(list); i++ {
		if list[i] == s {
			return true
		}
	}
	return false
}

func sortedStringKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sortAuthParamKeys(keys)

	return keys
}

// sortStrings sorts in place (insertion sort: the lists are tiny).
func sortAuthParamKeys(list []string) {
	for i := 1; i < len(list); i++ {
		for j := i; j > 0 && list[j] < list[j-1]; j-- {
			list[j], list[j-1] = list[j-1], list[j]
		}
	}
}

// IsHTTPURL reports whether raw is an absolute http or https URL with a host.
func IsHTTPURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

// AuthorizationRequestURL returns the URL to redirect the browser to for
// flow f (OIDC Core §3.1.2.1): response_type=code, client_id, redirect_uri,
// scope, state, nonce, PKCE S256 (RFC 7636 §4.3), and the step-up request
// from the flow: acr_values when it has ACRs, max_age when it has one,
// prompt=login when it demands a new authentication, the essential acr
// claim when EssentialACRClaims is set. loginHint, when not empty, is sent as
// login_hint. A query already in the authorization endpoint is kept. It may
// run discovery first (errors wrap ErrProviderUnavailable).
func (rp *RelyingParty) AuthorizationRequestURL(
	ctx context.Context,
	f *LoginFlow,
	redirectURI string,
	loginHint string,
) (string, error) {
	ep, err := rp.endpoints(ctx)
	if err != nil {
		return "", err
	}
	u, err := url.Parse(ep.authorization)
	if err != nil {
		return "", fmt.Errorf("%w: authorization endpoint: %v", ErrProviderUnavailable, err)
	}

	q := u.Query()
	for k, v := range rp.opts.ExtraAuthParams {
		q.Set(k, v)
	}
	q.Set("response_type", "code")
	q.Set("client_id", rp.opts.ClientID)
	q.Set("redirect_uri", redirectURI)
	q.Set("scope", rp.scope)
	q.Set("state", f.State)
	q.Set("nonce", f.Nonce)
	q.Set("code_challenge", f.CodeChallenge())
	q.Set("code_challenge_method", "S256")
	if err := rp.setStepUpParams(q, f); err != nil {
		return "", err
	}
	if loginHint != "" {
		q.Set("login_hint", loginHint)
	}
	u.RawQuery = q.Encode()

	return u.String(), nil
}

// setStepUpParams adds what flow f asks of the authentication (OIDC Core
// §3.1.2.1): acr_values in order of preference, max_age, prompt=login when
// the user must authenticate again (the previous login is too old, or
// max_age is 0; some providers honour max_age only with it), and optionally
// the essential acr claim (§5.5.1.1). A step-up from a fresh but weaker
// login sends no prompt, so the provider asks only for what is missing.
func (rp *RelyingParty) setStepUpParams(q url.Values, f *LoginFlow) error {
	if len(f.ACRValues) > 0 {
		q.Set("acr_values", strings.Join(f.ACRValues, " "))
	}
	if f.HasMaxAge {
		q.Set("max_age", strconv.Itoa(f.MaxAge))
	}
	if f.Reauthenticate || (f.HasMaxAge && f.MaxAge == 0) {
		q.Set("prompt", "login")
	}
	if !rp.opts.EssentialACRClaims || len(f.ACRValues) == 0 {
		return nil
	}

	// One value goes as "value", several as "values" in order of preference
	// (OIDC Core §5.5.1); the claim is the configured ACR claim, so Entra ID
	// gets {"id_token":{"acrs":{"essential":true,"value":"c1"}}}.
	acr := map[string]interface{}{"essential": true}
	if len(f.ACRValues) == 1 {
		acr["value"] = f.ACRValues[0]
	} else {
		acr["values"] = f.ACRValues
	}
	name := rp.opts.ACRClaim
	if name == "" {
		name = DefaultACRClaim
	}
	claims := map[string]interface{}{"id_token": map[string]interface{}{name: acr}}
	b, err := json.Marshal(claims)
	if err != nil {
		return fmt.Errorf("encoding claims parameter: %v", err)
	}
	q.Set("claims", string(b))

	return nil
}

// EndSessionURL returns the provider's logout URL (OpenID Connect
// RP-Initiated Logout 1.0 §2) with client_id, and id_token_hint and
// post_logout_redirect_uri when not empty; the empty string when the
// provider has no end session endpoint. It may run discovery first (errors
// wrap ErrProviderUnavailable); the caller should still clear its own
// session.
func (rp *RelyingParty) EndSessionURL(
	ctx context.Context,
	idTokenHint string,
	postLogoutRedirectURI string,
) (string, error) {
	ep, err := rp.endpoints(ctx)
	if err != nil {
		return "", err
	}
	if ep.endSession == "" {
		return "", nil
	}
	u, err := url.Parse(ep.endSession)
	if err != nil {
		return "", fmt.Errorf("%w: end session endpoint: %v", ErrProviderUnavailable, err)
	}

	q := u.Query()
	q.Set("client_id", rp.opts.ClientID)
	if idTokenHint != "" {
		q.Set("id_token_hint", idTokenHint)
	}
	if postLogoutRedirectURI != "" {
		q.Set("post_logout_redirect_uri", postLogoutRedirectURI)
	}
	u.RawQuery = q.Encode()

	return u.String(), nil
}

// VerifyIDToken verifies an ID token from Exchange for the flow whose nonce
// is given: signature with the provider's keys and IDTokenAlgorithms, iss
// exactly Issuer, aud containing ClientID, exp, iat and nbf with Leeway
// (the Verifier), then the ID-token rules of OIDC Core §3.1.3.7: azp present
// when aud has several values and equal to ClientID when present, nonce
// equal to the flow's, iat and sub present. It does not check acr, amr or
// auth_time against any rule: the caller does, with the flow's RuleID.
//
// Errors wrap the token sentinels: ErrNonceInvalid for a nonce mismatch,
// ErrAudienceInvalid for aud/azp, ErrTokenMalformed for a missing claim,
// ErrKeysUnavailable when the keys cannot be fetched, and so on.
func (rp *RelyingParty) VerifyIDToken(ctx context.Context, raw, nonce string) (*Claims, error) {
	c, err := rp.verifier.Verify(ctx, raw)
	if err != nil {
		return nil, fmt.Errorf("id token: %w", err)
	}
	if len(c.Audience) > 1 && c.AuthorizedParty == "" {
		return nil, fmt.Errorf("id token: %w: several audiences and no azp", ErrAudienceInvalid)
	}
	if c.AuthorizedParty != "" && c.AuthorizedParty != rp.opts.ClientID {
		return nil, fmt.Errorf("id token: %w: azp is another client", ErrAudienceInvalid)
	}
	// The nonce ties the token to this browser's flow (replay protection);
	// compare in constant time like any secret.
	if nonce == "" || !sameString(c.Nonce, nonce) {
		return nil, fmt.Errorf("id token: %w", ErrNonceInvalid)
	}
	if c.IssuedAt.IsZero() {
		return nil, fmt.Errorf("id token: %w: iat is missing", ErrTokenMalformed)
	}
	if c.Subject == "" {
		return nil, fmt.Errorf("id token: %w: sub is missing", ErrTokenMalformed)
	}

	return c, nil
}
