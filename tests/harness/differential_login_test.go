package harness

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// The login differential test drives the built-in OpenID Connect login of
// the plugin compiled natively and of the plugin interpreted by Yaegi (as
// Traefik loads it) through the same browser journeys against one fake
// provider, and demands the same outcome at every step. Each handler gets
// its own pass through a journey, with its own cookie jar, its own random
// state, nonce, PKCE verifier and cookie values, and its own authorization
// codes; outcomes are compared once those values are normalised away.
//
// Both middlewares run on the real clock. Every date the provider signs is
// at least a minute away from every edge (maxAge, leeway, exp, iat) and the
// flows and sessions live for minutes, so the time between the two passes
// and the test's whole run cannot change a verdict.

const (
	loginClientID      = "orders-web"
	loginClientSecret  = "orders-web-secret:%&"
	loginSessionSecret = "login-differential-session-secret-0123456789"
	loginHost          = "app.example.test"
)

// loginOP is a fake OpenID provider: discovery, a JWKS with an EC and an
// RSA key, and a token endpoint that answers each authorization code with
// what the test registered for it, once (a code used again gets
// invalid_grant). It records what the token endpoint received for each code,
// so outcomes also say whether the relying party sent the right
// redirect_uri, client authentication and PKCE verifier.
type loginOP struct {
	srv   *httptest.Server
	ec    *ecdsa.PrivateKey
	other *ecdsa.PrivateKey // signs with kid "ec1" but is not in the JWKS

	mu    sync.Mutex
	codes map[string]*opCode
}

// opCode is one authorization code: the token endpoint's answer, the PKCE
// challenge of the flow it belongs to, and what the endpoint received.
type opCode struct {
	status      int
	contentType string
	body        string
	challenge   string
	redirectURI string
	used        bool
	received    string
}

func newLoginOP(t *testing.T) *loginOP {
	t.Helper()
	_, ek := testKeys(t)
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generating key: %v", err)
	}
	op := &loginOP{ec: ek, other: other, codes: map[string]*opCode{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", op.discovery)
	mux.HandleFunc("/jwks", op.jwks)
	mux.HandleFunc("/token", op.token)
	op.srv = httptest.NewServer(mux)
	t.Cleanup(func() { op.srv.Close() })

	return op
}

func (op *loginOP) discovery(rw http.ResponseWriter, _ *http.Request) {
	writeOPJSON(rw, http.StatusOK, map[string]any{
		"issuer":                 op.srv.URL,
		"authorization_endpoint": op.srv.URL + "/authorize?tenant=acme",
		"token_endpoint":         op.srv.URL + "/token",
		"jwks_uri":               op.srv.URL + "/jwks",
		"end_session_endpoint":   op.srv.URL + "/logout",
	})
}

func (op *loginOP) jwks(rw http.ResponseWriter, _ *http.Request) {
	rk := rsaKey // set by testKeys in newLoginOP
	fixed := func(n *big.Int, size int) string {
		b := make([]byte, size)
		n.FillBytes(b)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	writeOPJSON(rw, http.StatusOK, map[string]any{"keys": []any{
		map[string]any{
			"kty": "EC", "crv": "P-256", "kid": "ec1", "alg": "ES256", "use": "sig",
			"x": fixed(op.ec.PublicKey.X, 32), "y": fixed(op.ec.PublicKey.Y, 32),
		},
		map[string]any{
			"kty": "RSA", "kid": "rs1", "alg": "RS256", "use": "sig",
			"n": base64.RawURLEncoding.EncodeToString(rk.PublicKey.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(rk.PublicKey.E)).Bytes()),
		},
	}})
}

func (op *loginOP) token(rw http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeOPJSON(rw, http.StatusBadRequest, map[string]any{"error": "invalid_request"})
		return
	}
	f := r.PostForm
	op.mu.Lock()
	c := op.codes[f.Get("code")]
	if c == nil || c.used {
		op.mu.Unlock()
		writeOPJSON(rw, http.StatusBadRequest, map[string]any{"error": "invalid_grant"})
		return
	}
	c.used = true
	sum := sha256.Sum256([]byte(f.Get("code_verifier")))
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(
		url.QueryEscape(loginClientID)+":"+url.QueryEscape(loginClientSecret)))
	c.received = fmt.Sprintf("grant_type=%s redirect_uri_ok=%t client_auth_ok=%t pkce_ok=%t",
		f.Get("grant_type"), f.Get("redirect_uri") == c.redirectURI, r.Header.Get("Authorization") == basic,
		base64.RawURLEncoding.EncodeToString(sum[:]) == c.challenge)
	status, ctype, body := c.status, c.contentType, c.body
	op.mu.Unlock()

	rw.Header().Set("Content-Type", ctype)
	rw.WriteHeader(status)
	_, _ = rw.Write([]byte(body))
}

func writeOPJSON(rw http.ResponseWriter, status int, v any) {
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(status)
	_ = json.NewEncoder(rw).Encode(v)
}

// register makes code redeemable once for flow f, answered with a.
func (op *loginOP) register(tb testing.TB, code string, f *passFlow, redirectURI string, a tokenAnswer) {
	tb.Helper()
	c := &opCode{challenge: f.challenge, redirectURI: redirectURI}
	c.status, c.contentType, c.body = a(tb, op, f)
	op.mu.Lock()
	op.codes[code] = c
	op.mu.Unlock()
}

// received says what the token endpoint got for code, "" when it was never
// called with it.
func (op *loginOP) received(code string) string {
	op.mu.Lock()
	defer op.mu.Unlock()
	if c := op.codes[code]; c != nil {
		return c.received
	}

	return ""
}

// tokenAnswer builds the token endpoint's answer for a code of flow f:
// status, Content-Type and body.
type tokenAnswer func(tb testing.TB, op *loginOP, f *passFlow) (int, string, string)

// idTokenClaims are the claims of a good ID token for flow f: fresh (issued
// and authenticated a minute ago), acr mfa with pwd and otp, groups and
// email for the session's extra claims.
func idTokenClaims(op *loginOP, f *passFlow, now int64) []field {
	return []field{
		{"iss", op.srv.URL}, {"sub", "alice"}, {"aud", loginClientID},
		{"exp", now + 1800}, {"iat", now - 60}, {"auth_time", now - 60},
		{"nonce", f.nonce}, {"acr", acrMFA}, {"amr", []any{"pwd", "otp"}},
		{"email", "alice@example.test"}, {"groups", []any{"staff", "auditors"}},
	}
}

// idToken answers with an ID token made of the good claims changed by
// edits (a claim and its value; absent deletes it), signed by alg: "ES256",
// "RS256", "ES256-unknown-key" (a key the JWKS lacks, under its kid) or
// "HS256" (the client secret; not an allowed algorithm).
func idToken(now int64, alg string, edits ...field) tokenAnswer {
	return func(tb testing.TB, op *loginOP, f *passFlow) (int, string, string) {
		tb.Helper()
		claims := idTokenClaims(op, f, now)
		for _, e := range edits {
			claims = withField(claims, e.name, e.value)
		}
		var s signer
		switch alg {
		case "ES256":
			s = signer{alg: "ES256", kid: "ec1", key: op.ec}
		case "ES256-unknown-key":
			s = signer{alg: "ES256", kid: "ec1", key: op.other}
		case "RS256":
			s = signer{alg: "RS256", kid: "rs1", key: rsaKey}
		case "HS256":
			s = signer{alg: "HS256", kid: "ec1", key: []byte(loginClientSecret)}
		default:
			tb.Fatalf("idToken: unknown signer %s", alg)
		}
		header := map[string]any{"alg": s.alg, "typ": "JWT", "kid": s.kid}
		token := s.sign(tb, b64JSON(tb, header)+"."+base64.RawURLEncoding.EncodeToString(encodeObject(tb, claims)))
		body, err := json.Marshal(map[string]any{"access_token": "opaque", "token_type": "Bearer", "id_token": token})
		if err != nil {
			tb.Fatalf("marshalling token response: %v", err)
		}

		return http.StatusOK, "application/json", string(body)
	}
}

// manyGroups returns n group names, whose JSON is larger than a session
// may be.
func manyGroups(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = fmt.Sprintf("group-with-a-long-name-%03d", i)
	}

	return out
}

// rawAnswer answers every code with the same status, type and body.
func rawAnswer(status int, ctype, body string) tokenAnswer {
	return func(testing.TB, *loginOP, *passFlow) (int, string, string) { return status, ctype, body }
}

// loginConfig is the middleware configuration both handlers share: the
// built-in login against op (endpoints by discovery, client_secret_basic,
// ES256 and RS256 ID tokens, the essential acr claim, extra authorization
// parameters, provider logout), rules of every kind of requirement, and
// identity headers from the session's claims.
func loginConfig(op *loginOP) func(testing.TB) map[string]any {
	return func(testing.TB) map[string]any {
		return map[string]any{
			"acrLevels": []any{acrPwd, acrMFA, acrPhr},
			"rules": []any{
				map[string]any{"pathPrefix": "/public", "public": true},
				map[string]any{"pathPrefix": "/admin", "minACR": acrMFA, "maxAge": "10m"},
				map[string]any{"pathPrefix": "/payments", "minACR": acrPhr, "amr": []any{"hwk"}, "maxAge": "5m"},
				map[string]any{"pathPrefix": "/reports", "claims": []any{
					map[string]any{"name": "groups", "values": []any{"auditors"}},
				}},
				map[string]any{"pathPrefix": "/vault", "minACR": acrMFA, "claims": []any{
					map[string]any{"name": "groups", "values": []any{"admins"}},
				}},
			},
			"claimHeaders": map[string]any{
				"sub": "X-User", "acr": "X-User-ACR", "amr": "X-User-AMR", "groups": "X-Groups",
				"email": "X-Email", "auth_time": "X-Auth-Time", "iss": "X-Issuer", "aud": "X-Audience",
			},
			"stripToken": true,
			"realm":      "orders",
			"leeway":     "30s",
			"logLevel":   "error",
			"oidc": map[string]any{
				"issuer":                op.srv.URL,
				"clientID":              loginClientID,
				"clientSecret":          loginClientSecret,
				"scopes":                []any{"profile", "email", "profile"},
				"authParams":            map[string]any{"ui_locales": "en", "display": "page"},
				"essentialACRClaims":    true,
				"idTokenAlgorithms":     []any{"ES256", "RS256"},
				"sessionSecret":         loginSessionSecret,
				"sessionClaims":         []any{"email", "groups"},
				"sessionLifetime":       "1h",
				"providerLogout":        true,
				"postLogoutRedirectURL": "/bye",
			},
		}
	}
}

// passFlow is one login flow a pass started: the random values of its
// authorization request.
type passFlow struct {
	label     string
	state     string
	nonce     string
	challenge string
}

// loginPass is one handler's pass through a journey: a browser on
// http(s)://app.example.test with its cookie jar (in the order cookies were
// set, as a browser sends them) and the flows it started, by label.
type loginPass struct {
	name    string // "native" or "yaegi": codes are per pass and journey
	journey string
	h       http.Handler
	other   http.Handler // the other implementation, for replica steps
	op      *loginOP
	https   bool

	jar   []*http.Cookie
	flows map[string]*passFlow
	kept  map[string]*http.Cookie // cookies a step set aside
	extra []*http.Cookie          // sent before the jar's by the next request only
	codes map[string]string       // the last code registered for each flow
	code  string                  // the code the current step registered
}

func newLoginPass(name string, j loginJourney, h, other http.Handler, op *loginOP) *loginPass {
	return &loginPass{name: name, journey: j.name, h: h, other: other, op: op, https: j.https,
		flows: map[string]*passFlow{}, codes: map[string]string{}}
}

func (p *loginPass) scheme() string {
	if p.https {
		return "https"
	}

	return "http"
}

func (p *loginPass) redirectURI() string {
	return p.scheme() + "://" + loginHost + "/_stepup/callback"
}

func (p *loginPass) flow(label string) *passFlow {
	if f := p.flows[label]; f != nil {
		return f
	}

	return &passFlow{label: label, state: "missing-flow-" + label, nonce: "missing-flow"}
}

// cookie returns the jar's cookie called name, or nil.
func (p *loginPass) cookie(name string) *http.Cookie {
	for _, c := range p.jar {
		if c.Name == name {
			return c
		}
	}

	return nil
}

// flowCookieName is the name of f's flow cookie.
func (p *loginPass) flowCookieName(f *passFlow) string {
	name := "stepup_flow_"
	if p.https {
		name = "__Host-" + name
	}
	if len(f.state) < 12 {
		return name + f.state
	}

	return name + f.state[:12]
}

func (p *loginPass) sessionCookieName() string {
	if p.https {
		return "__Host-stepup_session"
	}

	return "stepup_session"
}

// setCookie stores c as a browser would: replacing the one of that name,
// or removing it when c deletes it.
func (p *loginPass) setCookie(c *http.Cookie) {
	out := p.jar[:0]
	replaced := false
	for _, old := range p.jar {
		if old.Name != c.Name {
			out = append(out, old)
			continue
		}
		if c.MaxAge >= 0 && !replaced {
			out = append(out, c)
			replaced = true
		}
	}
	if c.MaxAge >= 0 && !replaced {
		out = append(out, c)
	}
	p.jar = out
}

func (p *loginPass) dropCookie(name string) {
	p.setCookie(&http.Cookie{Name: name, MaxAge: -1})
}

// request builds a request to target (a path) from this browser, with its
// cookies and the given headers.
func (p *loginPass) request(method, target string, header ...string) *http.Request {
	req := httptest.NewRequest(method, p.scheme()+"://"+loginHost+target, nil)
	if p.https {
		req.TLS = &tls.ConnectionState{}
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	for _, c := range p.extra {
		req.AddCookie(c)
	}
	p.extra = nil
	for _, c := range p.jar {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}

	return req
}

// loginStep is one step of a journey: how to build its request from the
// pass (which may register a code at the provider or change the jar first),
// the status the native build must give (the journey's own expectation, so
// that agreement on a broken journey proves nothing less), and flow, the
// label under which a redirect to the provider is recorded.
type loginStep struct {
	name    string
	want    int
	flow    string
	replica bool // served by the other implementation
	build   func(tb testing.TB, p *loginPass) *http.Request
}

// navigate is a browser navigation to target; a redirect to the provider
// starts flow label.
func navigate(label, target string, want int) loginStep {
	return loginStep{name: "navigate " + target, want: want, flow: label,
		build: func(_ testing.TB, p *loginPass) *http.Request {
			return p.request(http.MethodGet, target, "Sec-Fetch-Mode", "navigate", "Sec-Fetch-Site", "none",
				"Accept", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8")
		}}
}

// apiCall is a fetch of target by a script: never redirected to sign in.
func apiCall(target string, want int) loginStep {
	return loginStep{name: "fetch " + target, want: want,
		build: func(_ testing.TB, p *loginPass) *http.Request {
			return p.request(http.MethodGet, target, "Sec-Fetch-Mode", "cors", "Sec-Fetch-Site", "same-origin",
				"Accept", "application/json")
		}}
}

// callback returns from the provider to flow label's callback with a fresh
// code, which the provider answers with a.
func callback(label, what string, a tokenAnswer, want int) loginStep {
	return loginStep{name: "callback " + label + ": " + what, want: want,
		build: func(tb testing.TB, p *loginPass) *http.Request {
			f := p.flow(label)
			p.code = p.name + "." + p.journey + "." + label + "." + what
			p.codes[label] = p.code
			p.op.register(tb, p.code, f, p.redirectURI(), a)
			return callbackRequest(p, "code="+url.QueryEscape(p.code)+"&state="+url.QueryEscape(f.state)+
				"&iss="+url.QueryEscape(p.op.srv.URL))
		}}
}

// callbackQuery returns from the provider to flow label's callback with the
// query query(f) and no new code; a nil query sends the flow's last code
// again.
func callbackQuery(label, what string, query func(f *passFlow) string, want int) loginStep {
	return loginStep{name: "callback " + label + ": " + what, want: want,
		build: func(_ testing.TB, p *loginPass) *http.Request {
			f := p.flow(label)
			if query == nil {
				return callbackRequest(p, "code="+url.QueryEscape(p.codes[label])+"&state="+url.QueryEscape(f.state))
			}
			return callbackRequest(p, query(f))
		}}
}

func callbackRequest(p *loginPass, query string) *http.Request {
	return p.request(http.MethodGet, "/_stepup/callback?"+query, "Sec-Fetch-Mode", "navigate",
		"Sec-Fetch-Site", "cross-site", "Accept", "text/html")
}

// logout asks for /_stepup/logout with method, from site (the
// Sec-Fetch-Site header; "" sends none).
func logout(method, site string, want int) loginStep {
	return loginStep{name: method + " logout from " + orDash(site), want: want,
		build: func(_ testing.TB, p *loginPass) *http.Request {
			if site == "" {
				return p.request(method, "/_stepup/logout")
			}
			return p.request(method, "/_stepup/logout", "Sec-Fetch-Site", site, "Sec-Fetch-Mode", "navigate")
		}}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}

	return s
}

// before runs change on the pass (its jar, usually) before s.
func before(what string, change func(p *loginPass), s loginStep) loginStep {
	build := s.build
	s.name = what + ", then " + s.name
	s.build = func(tb testing.TB, p *loginPass) *http.Request {
		change(p)
		return build(tb, p)
	}

	return s
}

// onReplica serves s by the other implementation, as another replica
// sharing the secret would.
func onReplica(s loginStep) loginStep {
	s.name += " (on the other implementation)"
	s.replica = true

	return s
}

// loginOutcome is what a step showed, with every random value normalised:
// flow cookies are named by their flow's label, cookie values reduced to
// whether they are empty, and state, nonce and code_challenge to their shape.
type loginOutcome struct {
	Status    int
	Location  string
	Cookies   []string // Set-Cookie: name, value empty or not, attributes
	Challenge string   // WWW-Authenticate
	Headers   map[string]string
	Page      string            // title, message and retry link of the plugin's page, or the body
	Backend   map[string]string // request headers the backend saw (cookies by name)
	Provider  string            // what the token endpoint received for the step's code
}

func (o loginOutcome) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d", o.Status)
	if o.Location != "" {
		fmt.Fprintf(&b, "\n\t\tLocation: %s", o.Location)
	}
	for _, c := range o.Cookies {
		fmt.Fprintf(&b, "\n\t\tSet-Cookie: %s", c)
	}
	if o.Challenge != "" {
		fmt.Fprintf(&b, "\n\t\tWWW-Authenticate: %s", o.Challenge)
	}
	for _, k := range sortedKeys(o.Headers) {
		fmt.Fprintf(&b, "\n\t\t%s: %s", k, o.Headers[k])
	}
	if o.Page != "" {
		fmt.Fprintf(&b, "\n\t\tpage: %s", abbreviate(o.Page, 400))
	}
	for _, k := range sortedKeys(o.Backend) {
		fmt.Fprintf(&b, "\n\t\tbackend saw %s: %s", k, o.Backend[k])
	}
	if o.Provider != "" {
		fmt.Fprintf(&b, "\n\t\ttoken endpoint received: %s", o.Provider)
	}

	return b.String()
}

var (
	pageTitle   = regexp.MustCompile(`<h1 id="stepup-title">([^<]*)</h1>`)
	pageMessage = regexp.MustCompile(`<p id="stepup-message">([^<]*)</p>`)
	pageRetry   = regexp.MustCompile(`<a id="stepup-retry" href="([^"]*)"`)
	pageForm    = regexp.MustCompile(`<form method="([^"]*)" action="([^"]*)"`)
)

// run serves step s for pass p and returns its normalised outcome.
func (p *loginPass) run(tb testing.TB, s loginStep) loginOutcome {
	tb.Helper()
	p.code = ""
	req := s.build(tb, p)
	h := p.h
	if s.replica {
		h = p.other
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := rec.Result()

	// A redirect to the provider starts a flow: learn its random values
	// first, so that its cookie is named by its label.
	loc := rec.Header().Get("Location")
	if s.flow != "" && strings.HasPrefix(loc, p.op.srv.URL+"/authorize?") {
		if u, err := url.Parse(loc); err == nil {
			q := u.Query()
			p.flows[s.flow] = &passFlow{label: s.flow, state: q.Get("state"), nonce: q.Get("nonce"),
				challenge: q.Get("code_challenge")}
		}
	}

	o := loginOutcome{Status: rec.Code, Location: p.normaliseURL(loc), Challenge: rec.Header().Get("WWW-Authenticate"),
		Headers: map[string]string{}, Backend: map[string]string{}}
	for _, raw := range rec.Header()["Set-Cookie"] {
		o.Cookies = append(o.Cookies, p.normaliseSetCookie(raw))
	}
	for k, v := range rec.Header() {
		switch {
		case k == "Seen-Cookie":
			var names []string
			for _, c := range (&http.Request{Header: http.Header{"Cookie": v}}).Cookies() {
				names = append(names, p.cookieLabel(c.Name)+"=<value>")
			}
			o.Backend["Cookie"] = strings.Join(names, "; ")
		case strings.HasPrefix(k, "Seen-"):
			o.Backend[strings.TrimPrefix(k, "Seen-")] = strings.Join(v, " | ")
		case k == "Set-Cookie", k == "Location", k == "Www-Authenticate":
		default:
			o.Headers[k] = strings.Join(v, " | ")
		}
	}
	body := rec.Body.String()
	switch {
	case pageTitle.MatchString(body):
		o.Page = "title=" + html.UnescapeString(submatch(pageTitle, body)) +
			" message=" + html.UnescapeString(submatch(pageMessage, body)) +
			" retry=" + html.UnescapeString(submatch(pageRetry, body))
		if m := pageForm.FindStringSubmatch(body); m != nil {
			o.Page += " form=" + m[1] + " " + m[2]
		}
	case loc != "":
		// http.Redirect's body repeats the Location, random values and all.
		o.Page = fmt.Sprintf("(%d bytes)", len(body))
	default:
		o.Page = body
	}
	if p.code != "" {
		o.Provider = orDash(p.op.received(p.code))
	}

	for _, c := range res.Cookies() {
		p.setCookie(c)
	}

	return o
}

func submatch(re *regexp.Regexp, s string) string {
	if m := re.FindStringSubmatch(s); m != nil {
		return m[1]
	}

	return "-"
}

// cookieLabel names a cookie without its random part: a flow cookie by the
// label of the flow whose state it carries.
func (p *loginPass) cookieLabel(name string) string {
	for _, prefix := range []string{"__Host-stepup_flow_", "stepup_flow_"} {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		id := strings.TrimPrefix(name, prefix)
		for label, f := range p.flows {
			if len(f.state) >= 12 && f.state[:12] == id {
				return prefix + "<" + label + ">"
			}
		}
		return prefix + "<unknown flow>"
	}

	return name
}

// normaliseSetCookie keeps a Set-Cookie header's attributes as written and
// reduces its name and value.
func (p *loginPass) normaliseSetCookie(raw string) string {
	pair, attrs, _ := strings.Cut(raw, ";")
	name, value, _ := strings.Cut(pair, "=")
	v := "<value>"
	if value == "" {
		v = "<empty>"
	}

	return p.cookieLabel(name) + "=" + v + ";" + attrs
}

// normaliseURL replaces the random parameters of a Location (state, nonce,
// code_challenge) by their shape, keeping everything else as written; a
// state must also be the one of a flow this pass knows.
func (p *loginPass) normaliseURL(raw string) string {
	base, query, hasQuery := strings.Cut(raw, "?")
	if strings.HasPrefix(base, p.op.srv.URL) {
		base = "<provider>" + strings.TrimPrefix(base, p.op.srv.URL)
	}
	if !hasQuery {
		return base
	}
	parts := strings.Split(query, "&")
	for i, part := range parts {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "state":
			parts[i] = k + "=" + shape(v) + p.stateLabel(v)
		case "nonce", "code_challenge":
			parts[i] = k + "=" + shape(v)
		}
	}

	return base + "?" + strings.Join(parts, "&")
}

func (p *loginPass) stateLabel(state string) string {
	for label, f := range p.flows {
		if subtle.ConstantTimeCompare([]byte(f.state), []byte(state)) == 1 {
			return " of flow " + label
		}
	}

	return " of no known flow"
}

// shape describes a random value: its length and whether it is base64url.
func shape(v string) string {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Sprintf("<%d bytes, not base64url>", len(v))
		}
	}

	return fmt.Sprintf("<%d base64url>", len(v))
}

// loginJourney is a sequence of steps one browser takes, over http or https.
type loginJourney struct {
	name  string
	https bool
	steps []loginStep
}

// loginJourneys are the journeys of the test. now dates the ID tokens.
func loginJourneys(now int64) []loginJourney {
	good := idToken(now, "ES256")
	strong := idToken(now, "ES256", field{"acr", acrPhr}, field{"amr", []any{"hwk", "pin"}},
		field{"auth_time", now - 30})
	state := func(f *passFlow) string { return "state=" + url.QueryEscape(f.state) }

	journeys := []loginJourney{
		{name: "sign-in, step-up, rules, logout", steps: []loginStep{
			navigate("a", "/admin/users?tab=2&q=%C3%A9t%C3%A9", http.StatusFound),
			apiCall("/admin/users", http.StatusUnauthorized),
			callback("a", "good", good, http.StatusSeeOther),
			navigate("", "/admin/users", http.StatusOK),
			apiCall("/admin/users?x=1", http.StatusOK),
			navigate("", "/reports/q3", http.StatusOK),
			navigate("", "/vault", http.StatusForbidden),
			apiCall("/vault", http.StatusForbidden),
			navigate("", "/anything", http.StatusOK),
			navigate("", "/public/logo.svg", http.StatusOK),
			navigate("b", "/payments/send?amount=10", http.StatusFound),
			apiCall("/payments/send", http.StatusUnauthorized),
			callback("b", "phishing-resistant", strong, http.StatusSeeOther),
			navigate("", "/payments/send?amount=10", http.StatusOK),
			navigate("", "/admin/users", http.StatusOK),
			logout(http.MethodGet, "cross-site", http.StatusOK),
			logout(http.MethodGet, "same-site", http.StatusOK),
			navigate("", "/admin/users", http.StatusOK),
			logout(http.MethodPost, "same-origin", http.StatusSeeOther),
			navigate("c", "/admin/users", http.StatusFound),
			apiCall("/anything", http.StatusUnauthorized),
			logout(http.MethodGet, "", http.StatusSeeOther),
		}},
		{name: "https and RS256", https: true, steps: []loginStep{
			navigate("a", "/admin", http.StatusFound),
			callback("a", "good RS256", idToken(now, "RS256"), http.StatusSeeOther),
			navigate("", "/admin", http.StatusOK),
			before("session under its bare name", func(p *loginPass) {
				c := p.cookie("__Host-stepup_session")
				if c != nil {
					p.setCookie(&http.Cookie{Name: "stepup_session", Value: c.Value})
					p.dropCookie(c.Name)
				}
			}, navigate("b", "/admin", http.StatusFound)),
			callback("b", "good", good, http.StatusSeeOther),
			logout(http.MethodPost, "same-origin", http.StatusSeeOther),
		}},
		{name: "replayed state", steps: []loginStep{
			navigate("a", "/admin/x", http.StatusFound),
			before("keep the flow cookie", func(p *loginPass) {
				if c := p.cookie(p.flowCookieName(p.flow("a"))); c != nil {
					p.kept = map[string]*http.Cookie{"a": c}
				}
			}, callback("a", "good", good, http.StatusSeeOther)),
			callbackQuery("a", "code replayed without the cookie", nil, http.StatusBadRequest),
			before("restore the used flow cookie", func(p *loginPass) {
				if c := p.kept["a"]; c != nil {
					p.setCookie(c)
				}
			}, callbackQuery("a", "code replayed", nil, http.StatusBadRequest)),
		}},
		{name: "flow cookie missing or tampered", steps: []loginStep{
			navigate("a", "/admin/a", http.StatusFound),
			before("drop the flow cookie", func(p *loginPass) { p.dropCookie(p.flowCookieName(p.flow("a"))) },
				callback("a", "good", good, http.StatusBadRequest)),
			navigate("b", "/admin/b", http.StatusFound),
			before("tamper with the flow cookie", func(p *loginPass) {
				if c := p.cookie(p.flowCookieName(p.flow("b"))); c != nil {
					v := []byte(c.Value)
					v[len(v)/2] ^= 1
					p.setCookie(&http.Cookie{Name: c.Name, Value: string(v)})
				}
			}, callback("b", "good", good, http.StatusBadRequest)),
			navigate("c", "/admin/c", http.StatusFound),
			callbackQuery("c", "state of another flow with the same cookie", func(f *passFlow) string {
				return "code=x&state=" + f.state[:12] + strings.Repeat("A", 31)
			}, http.StatusBadRequest),
			callbackQuery("c", "no state", func(*passFlow) string { return "code=x" }, http.StatusBadRequest),
			callbackQuery("c", "malformed state", func(*passFlow) string { return "code=x&state=%3Cscript%3E" },
				http.StatusBadRequest),
			navigate("d", "/admin/d", http.StatusFound),
			callbackQuery("d", "no code", state, http.StatusBadRequest),
			navigate("e", "/admin/e", http.StatusFound),
			callback("e", "good", good, http.StatusSeeOther),
			before("tamper with the session", func(p *loginPass) {
				if c := p.cookie("stepup_session"); c != nil {
					p.setCookie(&http.Cookie{Name: c.Name, Value: c.Value[:len(c.Value)-2] + "AA"})
				}
			}, navigate("f", "/admin/e", http.StatusFound)),
			apiCall("/admin/e", http.StatusUnauthorized),
			navigate("g", "/admin/g", http.StatusFound),
			before("an unreadable cookie of the same name first", func(p *loginPass) {
				p.extra = []*http.Cookie{{Name: p.flowCookieName(p.flow("g")), Value: "unreadable"}}
			}, callback("g", "good", good, http.StatusSeeOther)),
		}},
		{name: "tabs completed out of order", steps: []loginStep{
			navigate("t1", "/admin/a", http.StatusFound),
			navigate("t2", "/payments/b?x=1", http.StatusFound),
			navigate("t3", "/reports/c", http.StatusFound),
			navigate("t4", "/", http.StatusFound),
			before("an unreadable flow cookie", func(p *loginPass) {
				p.setCookie(&http.Cookie{Name: "stepup_flow_junkjunkjunk", Value: "junk"})
			}, navigate("t5", "/admin/e?frag", http.StatusFound)), // evicts the junk and t1
			callback("t3", "good", good, http.StatusSeeOther),
			callback("t1", "good", good, http.StatusBadRequest),
			callback("t5", "good", good, http.StatusSeeOther),
			callback("t2", "phishing-resistant", strong, http.StatusSeeOther),
			callback("t4", "acr too low", idToken(now, "ES256", field{"acr", acrPwd}), http.StatusSeeOther),
			callback("t3", "replayed", good, http.StatusBadRequest),
			navigate("", "/payments/b?x=1", http.StatusFound), // t4's weak login replaced the session
			navigate("", "/reports/c", http.StatusOK),
		}},
		{name: "tabs completed in reverse", steps: []loginStep{
			navigate("t1", "/admin/1", http.StatusFound),
			navigate("t2", "/admin/2", http.StatusFound),
			navigate("t3", "/payments/3", http.StatusFound),
			callbackQuery("t3", "access_denied", func(f *passFlow) string {
				return "error=access_denied&error_description=the+user+said+%3Cb%3Eno%3C%2Fb%3E&" + state(f)
			}, http.StatusForbidden),
			callback("t2", "auth_time a string", idToken(now, "ES256", field{"auth_time", "yesterday"}), http.StatusBadGateway),
			callback("t1", "good", good, http.StatusSeeOther),
			navigate("", "/admin/2", http.StatusOK),
			navigate("t4", "/payments/3", http.StatusFound),
			callback("t4", "auth_time null", idToken(now, "ES256", field{"acr", acrPhr},
				field{"amr", []any{"hwk"}}, field{"auth_time", nil}), http.StatusBadGateway),
			navigate("", "/admin/2", http.StatusOK),
		}},
		{name: "replicas: each implementation completes the other's flows", steps: []loginStep{
			navigate("a", "/admin/r", http.StatusFound),
			onReplica(callback("a", "good", good, http.StatusSeeOther)),
			navigate("", "/admin/r", http.StatusOK),
			onReplica(navigate("", "/admin/r", http.StatusOK)),
			onReplica(navigate("b", "/payments/r", http.StatusFound)),
			callback("b", "phishing-resistant", strong, http.StatusSeeOther),
			onReplica(navigate("", "/payments/r", http.StatusOK)),
			onReplica(logout(http.MethodPost, "same-origin", http.StatusSeeOther)),
			navigate("c", "/payments/r", http.StatusFound),
		}},
	}

	// One flow per ID token or provider answer, each on /admin (mfa, 10m)
	// with a browser of its own, then the page it returns to.
	type callbackCase struct {
		name   string
		answer tokenAnswer
		query  func(f *passFlow) string // instead of a code
		want   int
	}
	cases := []callbackCase{
		{"good", good, nil, http.StatusSeeOther},
		{"phishing-resistant", strong, nil, http.StatusSeeOther},
		{"auth_time a fraction", idToken(now, "ES256", field{"auth_time", rawJSON(fmt.Sprint(now-60) + ".5")}), nil, http.StatusSeeOther},
		{"acr too low", idToken(now, "ES256", field{"acr", acrPwd}), nil, http.StatusForbidden},
		{"acr unknown", idToken(now, "ES256", field{"acr", "urn:other"}), nil, http.StatusForbidden},
		{"acr absent", idToken(now, "ES256", field{"acr", absent}), nil, http.StatusForbidden},
		{"auth_time stale", idToken(now, "ES256", field{"auth_time", now - 10800}), nil, http.StatusForbidden},
		{"auth_time absent", idToken(now, "ES256", field{"auth_time", absent}), nil, http.StatusForbidden},
		{"auth_time a string", idToken(now, "ES256", field{"auth_time", "x-unexpected"}), nil, http.StatusBadGateway},
		{"auth_time a numeric string", idToken(now, "ES256", field{"auth_time", fmt.Sprint(now - 60)}), nil, http.StatusBadGateway},
		{"auth_time null", idToken(now, "ES256", field{"auth_time", nil}), nil, http.StatusBadGateway},
		{"auth_time true", idToken(now, "ES256", field{"auth_time", true}), nil, http.StatusBadGateway},
		{"amr a string", idToken(now, "ES256", field{"amr", "otp"}), nil, http.StatusBadGateway},
		{"amr numbers", idToken(now, "ES256", field{"amr", []any{1, 2}}), nil, http.StatusBadGateway},
		{"acr a number", idToken(now, "ES256", field{"acr", 2}), nil, http.StatusBadGateway},
		{"nonce wrong", idToken(now, "ES256", field{"nonce", "not-the-flows-nonce"}), nil, http.StatusBadGateway},
		{"nonce absent", idToken(now, "ES256", field{"nonce", absent}), nil, http.StatusBadGateway},
		{"aud wrong", idToken(now, "ES256", field{"aud", "another-client"}), nil, http.StatusBadGateway},
		{"aud several without azp", idToken(now, "ES256", field{"aud", []any{loginClientID, "api"}}), nil, http.StatusBadGateway},
		{"azp another client", idToken(now, "ES256", field{"azp", "another-client"}), nil, http.StatusBadGateway},
		{"iss wrong", idToken(now, "ES256", field{"iss", "https://evil.test"}), nil, http.StatusBadGateway},
		{"exp past", idToken(now, "ES256", field{"exp", now - 1800}), nil, http.StatusBadGateway},
		{"iat absent", idToken(now, "ES256", field{"iat", absent}), nil, http.StatusBadGateway},
		{"iat future", idToken(now, "ES256", field{"iat", now + 1800}), nil, http.StatusBadGateway},
		{"sub absent", idToken(now, "ES256", field{"sub", absent}), nil, http.StatusBadGateway},
		{"signature bad", idToken(now, "ES256-unknown-key"), nil, http.StatusBadGateway},
		{"alg HS256 not allowed", idToken(now, "HS256"), nil, http.StatusBadGateway},
		{"error access_denied", nil, func(f *passFlow) string {
			return "error=access_denied&" + state(f)
		}, http.StatusForbidden},
		{"error unmet_authentication_requirements", nil, func(f *passFlow) string {
			return "error=unmet_authentication_requirements&error_description=%3Cb%3Ecannot%3C%2Fb%3E+%22mfa%22&" + state(f)
		}, http.StatusForbidden},
		{"error login_required", nil, func(f *passFlow) string {
			return "error=login_required&error_description=" + url.QueryEscape("line\nbreak\x01") + "&" + state(f)
		}, http.StatusForbidden},
		{"session too large for the extra claims", idToken(now, "ES256",
			field{"groups", manyGroups(120)}), nil, http.StatusSeeOther},
		{"session too large", idToken(now, "ES256", field{"sub", strings.Repeat("s", 4000)}), nil,
			http.StatusInternalServerError},
		{"token endpoint 500", rawAnswer(http.StatusInternalServerError, "text/plain", "boom"), nil, http.StatusBadGateway},
		{"token endpoint not JSON", rawAnswer(http.StatusOK, "text/html", "<html>hello</html>"), nil, http.StatusBadGateway},
		{"token endpoint without id_token", rawAnswer(http.StatusOK, "application/json",
			`{"access_token":"opaque","token_type":"Bearer"}`), nil, http.StatusBadGateway},
		{"token endpoint token_type MAC", rawAnswer(http.StatusOK, "application/json",
			`{"access_token":"opaque","token_type":"MAC","id_token":"a.b.c"}`), nil, http.StatusBadGateway},
		{"token endpoint invalid_grant", rawAnswer(http.StatusBadRequest, "application/json",
			`{"error":"invalid_grant","error_description":"code expired"}`), nil, http.StatusBadRequest},
		{"token endpoint id_token garbage", rawAnswer(http.StatusOK, "application/json",
			`{"token_type":"Bearer","id_token":"not-a-jwt"}`), nil, http.StatusBadGateway},
	}
	for _, c := range cases {
		cb := callbackQuery("a", c.name, c.query, c.want)
		if c.answer != nil {
			cb = callback("a", c.name, c.answer, c.want)
		}
		after := http.StatusFound
		if c.want == http.StatusSeeOther {
			after = http.StatusOK
		}
		journeys = append(journeys, loginJourney{name: "callback " + c.name, steps: []loginStep{
			navigate("a", "/admin/page?from=callback", http.StatusFound),
			cb,
			navigate("b", "/admin/page?from=callback", after),
		}})
	}

	return journeys
}

// loginDivergence is one step whose outcomes differ: of the Yaegi pass
// from the native one, or (concurrently) of either from the native
// sequential pass.
type loginDivergence struct {
	what    string
	gotBy   string // which pass got got
	journey string
	step    int
	name    string
	want    loginOutcome
	got     loginOutcome
}

// TestInterpretedLoginMatchesNative proves that the built-in login as
// Traefik runs it, interpreted by Yaegi, behaves at every step exactly as
// the compiled plugin: the redirect to the provider (every parameter but
// the random ones), the flow and session cookies (names and attributes),
// the callback's verdict on good ID tokens and on ID tokens wrong in each
// way the relying party checks (acr, auth_time in every JSON type, amr,
// nonce, aud, azp, iss, exp, iat, sub, signature, algorithm), on provider
// error responses and token endpoint failures, on replayed states and
// missing, tampered or duplicated flow cookies, with several tabs completing
// in any order and flows completed by the other implementation, and on
// sessions too large for their extra claims; then what the resulting
// session opens (rules of every kind, the identity headers the backend
// receives) and logout (confirmation from another site, redirect to the
// provider's end_session otherwise).
//
// Both passes of a journey run step by step, interleaved, and each step's
// native status must also be the one the journey expects. Then every
// journey runs again through both implementations at once, one goroutine
// per journey and implementation, as Traefik serves concurrent browsers, and
// each step must still give what the native build gave alone.
func TestInterpretedLoginMatchesNative(t *testing.T) {
	now := time.Now().Unix()
	op := newLoginOP(t)
	native, yaegi := quietHandlers(t, loginConfig(op))
	journeys := loginJourneys(now)

	var divergences []loginDivergence
	steps := 0
	statuses := map[int]int{}
	alone := make([][]loginOutcome, len(journeys)) // the native outcomes, sequential
	for ji, j := range journeys {
		n := newLoginPass("native", j, native, yaegi, op)
		y := newLoginPass("yaegi", j, yaegi, native, op)
		for i, s := range j.steps {
			on := n.run(t, s)
			oy := y.run(t, s)
			alone[ji] = append(alone[ji], on)
			steps++
			statuses[on.Status]++
			if on.Status != s.want {
				t.Errorf("%s, step %d (%s): native status %d, the journey expects %d:\n\tnative: %s",
					j.name, i+1, s.name, on.Status, s.want, on)
			}
			if !reflect.DeepEqual(on, oy) {
				divergences = append(divergences, loginDivergence{what: "Yaegi differs from native",
					gotBy: "yaegi", journey: j.name, step: i + 1, name: s.name, want: on, got: oy})
			}
		}
	}
	t.Logf("%d steps through each implementation; native statuses: %v", steps, statuses)

	// Every journey at once through both implementations.
	impls := []struct {
		name string
		h    http.Handler
		peer http.Handler
	}{{"native", native, yaegi}, {"yaegi", yaegi, native}}
	together := make([][][]loginOutcome, len(impls))
	var wg sync.WaitGroup
	for ii, impl := range impls {
		together[ii] = make([][]loginOutcome, len(journeys))
		for ji, j := range journeys {
			wg.Add(1)
			go func(out *[]loginOutcome, p *loginPass, steps []loginStep) {
				defer wg.Done()
				for _, s := range steps {
					*out = append(*out, p.run(t, s))
				}
			}(&together[ii][ji], newLoginPass(impl.name+"-concurrent", j, impl.h, impl.peer, op), j.steps)
		}
	}
	wg.Wait()
	for ii, impl := range impls {
		for ji, j := range journeys {
			for i, got := range together[ii][ji] {
				if !reflect.DeepEqual(alone[ji][i], got) {
					divergences = append(divergences, loginDivergence{
						what:    impl.name + ", concurrently, differs from native alone",
						gotBy:   impl.name + " concurrently",
						journey: j.name, step: i + 1, name: j.steps[i].name, want: alone[ji][i], got: got})
				}
			}
		}
	}

	for _, d := range divergences {
		t.Errorf("%s, step %d (%s): %s:\n\tnative: %s\n\t%s: %s",
			d.journey, d.step, d.name, d.what, d.want, d.gotBy, d.got)
	}
	if len(divergences) > 0 {
		t.Errorf("%d of %d steps had different outcomes", len(divergences), 3*steps)
	}
}
