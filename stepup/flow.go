package stepup

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
)

// LoginFlow is the state of one browser login, from the redirect to the
// identity provider until its callback. It travels sealed in a short-lived
// cookie (see FlowCookies), so the callback needs no server-side store.
//
// All fields are exported and tagged: the value is marshalled as JSON, and
// Yaegi mishandles unexported fields there.
type LoginFlow struct {
	// State is the OAuth state (RFC 6749 §10.12): 32 random bytes, base64url.
	State string `json:"s"`
	// Nonce binds the ID token to this flow (OIDC Core §3.1.2.1).
	Nonce string `json:"n"`
	// CodeVerifier is the PKCE verifier (RFC 7636 §4.1).
	CodeVerifier string `json:"v"`
	// ReturnTo is the same-origin relative path to go back to afterwards.
	ReturnTo string `json:"r"`
	// RuleID names the rule that demanded the step-up, for the callback to
	// re-check what the new token must satisfy.
	RuleID string `json:"i,omitempty"`
	// ACRValues are the requested authentication context classes.
	ACRValues []string `json:"a,omitempty"`
	// MaxAge is the requested max_age in seconds, meaningful when HasMaxAge.
	MaxAge int `json:"m,omitempty"`
	// HasMaxAge tells whether max_age is requested; a MaxAge of 0 with
	// HasMaxAge means "authenticate again now".
	HasMaxAge bool `json:"h,omitempty"`
	// Reauthenticate asks the provider to authenticate the user again
	// (prompt=login) even if its own session looks fresh: set it when the
	// step-up is needed because the last authentication is too old.
	Reauthenticate bool `json:"p,omitempty"`
	// ExpiresAt is when the flow stops being accepted, in Unix seconds.
	ExpiresAt int64 `json:"e"`
}

// randomTokenBytes is the entropy of State, Nonce and CodeVerifier. 32 bytes
// encode to 43 base64url characters, within PKCE's 43..128 (RFC 7636 §4.1).
const randomTokenBytes = 32

// maxReturnPathSize bounds ReturnTo: longer paths fall back to "/" so that
// the flow cookie stays well under the browser's 4096-byte limit.
const maxReturnPathSize = 2048

// NewLoginFlow starts a login flow: fresh random State, Nonce and PKCE
// verifier; returnTo passed through SafeReturnPath; maxAge truncated to whole
// seconds (negative counts as 0); the flow expires at now+ttl.
func NewLoginFlow(
	returnTo string,
	acrValues []string,
	maxAge time.Duration,
	hasMaxAge bool,
	ruleID string,
	now time.Time,
	ttl time.Duration,
) (*LoginFlow, error) {
	state, err := randomToken()
	if err != nil {
		return nil, err
	}
	nonce, err := randomToken()
	if err != nil {
		return nil, err
	}
	verifier, err := randomToken()
	if err != nil {
		return nil, err
	}

	f := &LoginFlow{
		State:        state,
		Nonce:        nonce,
		CodeVerifier: verifier,
		ReturnTo:     SafeReturnPath(returnTo),
		RuleID:       ruleID,
		HasMaxAge:    hasMaxAge,
		ExpiresAt:    now.Add(ttl).Unix(),
	}
	f.ACRValues = append(f.ACRValues, acrValues...)
	if hasMaxAge && maxAge > 0 {
		f.MaxAge = int(maxAge / time.Second)
	}

	return f, nil
}

// CodeChallenge returns the PKCE S256 challenge of the flow's verifier:
// BASE64URL(SHA256(ASCII(code_verifier))) (RFC 7636 §4.2).
func (f *LoginFlow) CodeChallenge() string {
	sum := sha256.Sum256([]byte(f.CodeVerifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// randomToken returns 32 random bytes, base64url-encoded without padding.
func randomToken() (string, error) {
	b := make([]byte, randomTokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("reading randomness: %v", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// SafeReturnPath returns raw when it is a same-origin relative reference that
// a browser cannot turn into another origin, and "/" otherwise. It accepts
// only a path with a single leading "/" (an optional query or fragment
// allowed): not "//host" or "/\host" (browsers read both as
// scheme-relative), no backslash anywhere, no control or non-ASCII bytes, no
// longer than 2048 bytes. Apply it when a flow starts and again when
// redirecting after the callback.
func SafeReturnPath(raw string) string {
	if len(raw) == 0 || len(raw) > maxReturnPathSize || raw[0] != '/' {
		return "/"
	}
	if len(raw) > 1 && (raw[1] == '/' || raw[1] == '\\') {
		return "/"
	}
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		// Browsers strip tabs and newlines from URLs ("/\t/evil" becomes
		// "//evil") and treat "\" like "/": refuse them all.
		if c < 0x20 || c >= 0x7f || c == '\\' {
			return "/"
		}
	}

	return raw
}

// Defaults of FlowCookies.
const (
	// DefaultFlowCookiePrefix prefixes the name of each flow cookie.
	DefaultFlowCookiePrefix = "stepup_flow_"
	// DefaultMaxFlows bounds the live flow cookies of one client.
	DefaultMaxFlows = 4
	// DefaultFlowTTL is how long a login may take.
	DefaultFlowTTL = 10 * time.Minute
)

// flowIDSize is how many leading characters of State name the cookie:
// 72 bits, enough to keep a few concurrent flows apart; the whole state is
// still compared after opening.
const flowIDSize = 12

// maxFlowCookieReads bounds how many prefixed cookies one request may make
// the handler look at (open or count), whatever the client sends.
const maxFlowCookieReads = 16

// FlowCookies stores login flows in sealed cookies, one per flow, named
// Prefix + the first 12 characters of the state, so several tabs can log in
// at once without clobbering each other. The zero values of the optional
// fields take the defaults documented on each; Sealer is required.
//
// Use Write when redirecting to the identity provider and Take on the
// callback, with the state query parameter:
//
//	f, err := cookies.Take(w, r, r.URL.Query().Get("state"))
//
// Cookies are HttpOnly and SameSite=Lax: Lax cookies do come back on the
// top-level GET redirect from the provider, so the callback must use the
// query response mode (not form_post).
type FlowCookies struct {
	// Sealer encrypts the cookie values. Required; use a purpose of its own
	// (for example "flow").
	Sealer *Sealer
	// Prefix of the cookie names. Default DefaultFlowCookiePrefix. With the
	// "__Host-" prefix, Secure must be true and Path "/".
	Prefix string
	// Path of the cookies. Default "/" (it must cover the callback path).
	Path string
	// Domain of the cookies. Default none (host-only, recommended).
	Domain string
	// Secure marks the cookies HTTPS-only. Set it whenever the site is
	// served over HTTPS.
	Secure bool
	// TTL is the cookie Max-Age; the flow itself carries its ExpiresAt.
	// Default DefaultFlowTTL.
	TTL time.Duration
	// MaxFlows bounds the flow cookies a client keeps; Write expires the
	// oldest ones beyond it. Default DefaultMaxFlows.
	MaxFlows int
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Write seals f into its cookie and adds it to w. When r already carries
// MaxFlows or more flow cookies, it also expires the surplus in the same
// response: unreadable or expired ones first, then the oldest. It fails when
// the cookie would exceed the browser's size limit.
func (c *FlowCookies) Write(w http.ResponseWriter, r *http.Request, f *LoginFlow) error {
	name, ok := c.cookieName(f.State)
	if !ok {
		return fmt.Errorf("%w: malformed state", ErrFlowInvalid)
	}

	plain, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("encoding login flow: %v", err)
	}
	value, err := c.Sealer.Seal(plain)
	if err != nil {
		return fmt.Errorf("login flow cookie: %v", err)
	}
	// A browser keeps at least 4096 bytes of name and value per cookie;
	// larger ones may be dropped silently, which would break the callback.
	if len(name)+1+len(value) > 4096 {
		return fmt.Errorf("login flow cookie: %d bytes exceed 4096", len(name)+1+len(value))
	}

	c.expireSurplus(w, r, name)
	http.SetCookie(w, c.newCookie(name, value, c.ttlSeconds()))

	return nil
}

// Take finds, opens and consumes the flow cookie for state, the state query
// parameter of the callback. The cookie is deleted in w whenever it is found,
// valid or not: a flow is single-use. It checks the sealed state equals state
// (in constant time) and that the flow has not expired.
//
// Errors: ErrFlowInvalid (no cookie, unreadable, state mismatch) or
// ErrFlowExpired. Either way the user should start again from the original
// page.
func (c *FlowCookies) Take(w http.ResponseWriter, r *http.Request, state string) (*LoginFlow, error) {
	name, ok := c.cookieName(state)
	if !ok {
		return nil, fmt.Errorf("%w: malformed state", ErrFlowInvalid)
	}

	values := c.cookieValues(r, name)
	if len(values) == 0 {
		return nil, fmt.Errorf("%w: no flow cookie for this state", ErrFlowInvalid)
	}
	http.SetCookie(w, c.newCookie(name, "", -1))

	// Several cookies may share the name (set with another Path or Domain):
	// try each, accept the first that opens and matches.
	for i := 0; i < len(values); i++ {
		f, err := c.openFlow(values[i])
		if err != nil || !sameString(f.State, state) {
			continue
		}
		if c.now().Unix() > f.ExpiresAt {
			return nil, ErrFlowExpired
		}
		return f, nil
	}

	return nil, fmt.Errorf("%w: flow cookie does not match", ErrFlowInvalid)
}

// openFlow opens one sealed cookie value into a LoginFlow.
func (c *FlowCookies) openFlow(value string) (*LoginFlow, error) {
	plain, err := c.Sealer.Open(value)
	if err != nil {
		return nil, err
	}
	f := &LoginFlow{}
	if err := json.Unmarshal(plain, f); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFlowInvalid, err)
	}

	return f, nil
}

// sameString compares two secrets in constant time: the cookie name reveals
// only a prefix of the state, and the rest must not leak through timing.
func sameString(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// cookieName returns the cookie name for a state, or false when the state
// is not a plausible one of ours (base64url, 12 to 128 characters): it comes
// from the query string and ends up in a cookie name.
func (c *FlowCookies) cookieName(state string) (string, bool) {
	if len(state) < flowIDSize || len(state) > 128 {
		return "", false
	}
	for i := 0; i < len(state); i++ {
		if !isBase64URLChar(state[i]) {
			return "", false
		}
	}

	return c.prefix() + state[:flowIDSize], true
}

func isBase64URLChar(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
		c == '-' || c == '_'
}

// cookieValues returns the values of the cookies called name among the first
// prefixed cookies of r, skipping oversized ones.
func (c *FlowCookies) cookieValues(r *http.Request, name string) []string {
	var values []string
	flows := c.flowCookies(r)
	for i := 0; i < len(flows); i++ {
		if flows[i].Name == name {
			values = append(values, flows[i].Value)
		}
	}

	return values
}

// flowCookies returns at most maxFlowCookieReads cookies of r carrying the
// prefix, skipping any longer than a sealed value can be.
func (c *FlowCookies) flowCookies(r *http.Request) []*http.Cookie {
	var out []*http.Cookie
	all := r.Cookies()
	prefix := c.prefix()
	for i := 0; i < len(all) && len(out) < maxFlowCookieReads; i++ {
		if !strings.HasPrefix(all[i].Name, prefix) {
			continue
		}
		if len(all[i].Value) > maxSealedSize {
			continue
		}
		out = append(out, all[i])
	}

	return out
}

// flowAge pairs a flow cookie name with its expiry, for eviction.
type flowAge struct {
	name      string
	expiresAt int64 // 0 when unreadable
}

func newFlowAge(name string, expiresAt int64) flowAge {
	return flowAge{name: name, expiresAt: expiresAt}
}

// expireSurplus deletes, in w, enough of r's flow cookies that adding one
// more (named keep) leaves at most MaxFlows. Unreadable and expired flows go
// first, then the soonest to expire (the oldest).
func (c *FlowCookies) expireSurplus(w http.ResponseWriter, r *http.Request, keep string) {
	flows := c.flowCookies(r)
	var ages []flowAge
	seen := make(map[string]bool)
	for i := 0; i < len(flows); i++ {
		name := flows[i].Name
		if name == keep || seen[name] {
			continue
		}
		seen[name] = true
		var expiresAt int64
		if f, err := c.openFlow(flows[i].Value); err == nil {
			expiresAt = f.ExpiresAt
		}
		ages = append(ages, newFlowAge(name, expiresAt))
	}

	surplus := len(ages) + 1 - c.maxFlows()
	if surplus <= 0 {
		return
	}
	sort.SliceStable(ages, func(i, j int) bool { return ages[i].expiresAt < ages[j].expiresAt })
	for i := 0; i < surplus; i++ {
		http.SetCookie(w, c.newCookie(ages[i].name, "", -1))
	}
}

// newCookie builds a flow cookie; maxAge < 0 deletes it.
func (c *FlowCookies) newCookie(name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     c.path(),
		Domain:   c.Domain,
		MaxAge:   maxAge,
		Secure:   c.Secure,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	}
}

func (c *FlowCookies) prefix() string {
	if c.Prefix == "" {
		return DefaultFlowCookiePrefix
	}
	return c.Prefix
}

func (c *FlowCookies) path() string {
	if c.Path == "" {
		return "/"
	}
	return c.Path
}

func (c *FlowCookies) ttlSeconds() int {
	if c.TTL <= 0 {
		return int(DefaultFlowTTL / time.Second)
	}
	return int(c.TTL / time.Second)
}

func (c *FlowCookies) maxFlows() int {
	if c.MaxFlows <= 0 {
		return DefaultMaxFlows
	}
	return c.MaxFlows
}

func (c *FlowCookies) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}
