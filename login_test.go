package traefikstepup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testClientID      = "app"
	testClientSecret  = "app-secret"
	testSessionSecret = "session-secret-0123456789abcdef0123"
)

// fakeProvider is an OpenID provider reduced to what the callback needs:
// discovery, a JWKS, and a token endpoint returning the ID token the test
// prepared. The real provider (npm oidc-provider) is exercised end to end
// in tests/e2e.
type fakeProvider struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	idClaims map[string]interface{} // the next ID token's claims (nonce added)
	nonce    string
	verifier string // code_verifier received
	auth     string // Authorization header received
}

func newFakeProvider(t *testing.T) *fakeProvider {
	t.Helper()
	p := &fakeProvider{t: t}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("/jwks", p.jwks)
	mux.HandleFunc("/token", p.token)
	p.srv = httptest.NewServer(mux)
	t.Cleanup(func() { p.srv.Close() })

	return p
}

func (p *fakeProvider) discovery(rw http.ResponseWriter, r *http.Request) {
	writeJSON(rw, map[string]interface{}{
		"issuer":                 p.srv.URL,
		"authorization_endpoint": p.srv.URL + "/authorize",
		"token_endpoint":         p.srv.URL + "/token",
		"jwks_uri":               p.srv.URL + "/jwks",
		"end_session_endpoint":   p.srv.URL + "/logout",
	})
}

func (p *fakeProvider) jwks(rw http.ResponseWriter, r *http.Request) {
	key, _ := testECKey(p.t)
	coord := func(n *big.Int) string {
		b := make([]byte, 32)
		n.FillBytes(b)
		return b64(b)
	}
	writeJSON(rw, map[string]interface{}{"keys": []interface{}{map[string]interface{}{
		"kty": "EC", "crv": "P-256", "kid": "ec1", "alg": "ES256", "use": "sig",
		"x": coord(key.PublicKey.X), "y": coord(key.PublicKey.Y),
	}}})
}

func (p *fakeProvider) token(rw http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "authorization_code" {
		http.Error(rw, `{"error":"invalid_request"}`, http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	p.verifier = r.PostForm.Get("code_verifier")
	p.auth = r.Header.Get("Authorization")
	claims := map[string]interface{}{}
	for k, v := range p.idClaims {
		claims[k] = v
	}
	claims["nonce"] = p.nonce
	p.mu.Unlock()
	writeJSON(rw, map[string]interface{}{
		"access_token": "opaque", "token_type": "Bearer", "id_token": mintES256(p.t, claims),
	})
}

func writeJSON(rw http.ResponseWriter, v interface{}) {
	rw.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(rw).Encode(v)
}

// grant prepares the ID token the provider will return for the flow whose
// authorization request is authURL.
func (p *fakeProvider) grant(authURL *url.URL, acr string, amr []string, authAge time.Duration) {
	claims := claimsAt(acr, amr, authAge)
	claims["iss"] = p.srv.URL
	claims["aud"] = testClientID
	p.mu.Lock()
	p.idClaims = claims
	p.nonce = authURL.Query().Get("nonce")
	p.mu.Unlock()
}

// loginConfig is testConfig with the built-in login instead of signInURL.
func loginConfig(t *testing.T, p *fakeProvider) *Config {
	cfg := testConfig(t)
	cfg.SignInURL = ""
	cfg.OIDC = OIDCConfig{
		Issuer:            p.srv.URL,
		ClientID:          testClientID,
		ClientSecret:      testClientSecret,
		IDTokenAlgorithms: []string{"ES256"},
		SessionSecret:     testSessionSecret,
		SessionClaims:     []string{"email", "groups"},
	}

	return cfg
}

// browser keeps cookies between requests like a browser on one origin.
type browser struct {
	t       *testing.T
	m       http.Handler
	https   bool
	cookies map[string]*http.Cookie
}

func newBrowser(t *testing.T, m http.Handler) *browser {
	return &browser{t: t, m: m, cookies: map[string]*http.Cookie{}}
}

// get navigates to target (a path) and stores the cookies of the answer.
func (b *browser) get(target string) *httptest.ResponseRecorder {
	b.t.Helper()
	scheme := "http"
	if b.https {
		scheme = "https"
	}
	req := httptest.NewRequest(http.MethodGet, scheme+"://app.example.test"+target, nil)
	if b.https {
		req.TLS = &tls.ConnectionState{}
	}
	req.Header.Set("Sec-Fetch-Mode", "navigate")
	for _, c := range b.cookies {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	rec := httptest.NewRecorder()
	b.m.ServeHTTP(rec, req)
	for _, c := range rec.Result().Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
			continue
		}
		b.cookies[c.Name] = c
	}

	return rec
}

// location parses the redirect target of rec.
func location(t *testing.T, rec *httptest.ResponseRecorder) *url.URL {
	t.Helper()
	u, err := url.Parse(rec.Header().Get("Location"))
	if err != nil || rec.Header().Get("Location") == "" {
		t.Fatalf("no redirect (status %d): %q", rec.Code, rec.Header().Get("Location"))
	}

	return u
}

func newLoginMiddleware(t *testing.T, p *fakeProvider) (*stepUpMiddleware, *backend, *bytes.Buffer) {
	t.Helper()
	next := &backend{}
	logs := &bytes.Buffer{}
	m, err := newMiddleware(context.Background(), next, loginConfig(t, p), "stepup@file",
		deps{now: func() time.Time { return testNow }, logOut: logs})
	if err != nil {
		t.Fatalf("New: %v", err)
	}

	return m, next, logs
}

func TestLoginStepsUpAndKeepsTheSession(t *testing.T) {
	p := newFakeProvider(t)
	m, next, _ := newLoginMiddleware(t, p)
	b := newBrowser(t, m)

	rec := b.get("/admin/users?tab=2")
	if rec.Code != http.StatusFound {
		t.Fatalf("status = %d, want 302 to the provider", rec.Code)
	}
	auth := location(t, rec)
	q := auth.Query()
	want := map[string]string{
		"response_type": "code", "client_id": testClientID, "acr_values": loa2, "max_age": "600",
		"prompt": "", "code_challenge_method": "S256",
		"redirect_uri": "http://app.example.test/_stepup/callback",
	}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("authorization request %s = %q, want %q", k, q.Get(k), v)
		}
	}
	if !strings.HasPrefix(auth.String(), p.srv.URL+"/authorize?") {
		t.Errorf("redirected to %s", auth)
	}

	p.grant(auth, loa2, []string{"pwd", "otp", "mfa"}, 0)
	rec = b.get("/_stepup/callback?code=c0de&state=" + url.QueryEscape(q.Get("state")))
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/admin/users?tab=2" {
		t.Fatalf("callback: status %d Location %q, want 303 back to /admin/users?tab=2", rec.Code, rec.Header().Get("Location"))
	}
	sum := sha256.Sum256([]byte(p.verifier))
	if base64.RawURLEncoding.EncodeToString(sum[:]) != q.Get("code_challenge") {
		t.Error("code_verifier sent to the token endpoint does not match the code_challenge")
	}
	if p.auth != "Basic "+base64.StdEncoding.EncodeToString([]byte(testClientID+":"+testClientSecret)) {
		t.Errorf("client authentication = %q, want client_secret_basic", p.auth)
	}
	session := b.cookies["stepup_session"]
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Secure {
		t.Fatalf("session cookie = %+v, want HttpOnly, SameSite=Lax, not Secure on http", session)
	}
	if len(session.Value) > 3800 {
		t.Errorf("session cookie is %d bytes", len(session.Value))
	}

	rec = b.get("/admin/users")
	if rec.Code != http.StatusOK {
		t.Fatalf("with the session: status %d, want 200", rec.Code)
	}
	h := next.seen().Header
	if h.Get("X-Stepup-Subject") != "alice" || h.Get("X-Stepup-Acr") != loa2 || h.Get("X-Stepup-Groups") != "staff,admins" {
		t.Errorf("backend saw %v", h)
	}

	rec = b.get("/_stepup/logout")
	if rec.Code != http.StatusSeeOther || b.cookies["stepup_session"] != nil {
		t.Fatalf("logout: status %d, session cookie %v", rec.Code, b.cookies["stepup_session"])
	}
	if rec = b.get("/admin/users"); rec.Code != http.StatusFound {
		t.Errorf("after logout: status %d, want a new login", rec.Code)
	}
}

func TestLoginCallbackFailures(t *testing.T) {
	p := newFakeProvider(t)
	tests := []struct {
		name      string
		grantACR  string
		grantAge  time.Duration
		callback  func(state string) string
		want      int
		wantText  string
		noSession bool
	}{
		{
			name: "provider grants a lower level", grantACR: loa1, want: http.StatusForbidden,
			wantText: "This page requires authentication level urn:stepup:loa:2",
		},
		{
			name: "provider reuses an old login", grantACR: loa2, grantAge: time.Hour, want: http.StatusForbidden,
			wantText: "a sign-in within the last 10m0s",
		},
		{
			name: "provider refuses", want: http.StatusForbidden, wantText: "could not provide the authentication",
			callback: func(state string) string {
				return "/_stepup/callback?error=unmet_authentication_requirements&error_description=%3Cb%3Eno%3C%2Fb%3E&state=" + state
			},
		},
		{
			name: "user cancels", want: http.StatusForbidden, wantText: "access_denied",
			callback: func(state string) string { return "/_stepup/callback?error=access_denied&state=" + state },
		},
		{
			name: "state of another flow", want: http.StatusBadRequest, wantText: "expired or was already used",
			callback: func(state string) string {
				return "/_stepup/callback?code=x&state=" + state[:12] + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
			},
		},
		{
			name: "no state", want: http.StatusBadRequest,
			callback: func(string) string { return "/_stepup/callback?code=x" },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _, _ := newLoginMiddleware(t, p)
			b := newBrowser(t, m)
			auth := location(t, b.get("/admin"))
			state := auth.Query().Get("state")
			p.grant(auth, tt.grantACR, []string{"pwd"}, tt.grantAge)
			target := "/_stepup/callback?code=c0de&state=" + url.QueryEscape(state)
			if tt.callback != nil {
				target = tt.callback(state)
			}
			rec := b.get(target)
			if rec.Code != tt.want {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tt.want, rec.Body.String())
			}
			if !strings.Contains(rec.Body.String(), tt.wantText) {
				t.Errorf("page does not say %q:\n%s", tt.wantText, rec.Body.String())
			}
			if strings.Contains(rec.Body.String(), "<b>") {
				t.Error("provider text reached the page unescaped")
			}
			if b.cookies["stepup_session"] != nil {
				t.Error("a session was set")
			}
		})
	}
}

func TestLoginFlowIsSingleUse(t *testing.T) {
	p := newFakeProvider(t)
	m, _, _ := newLoginMiddleware(t, p)
	b := newBrowser(t, m)
	auth := location(t, b.get("/admin"))
	p.grant(auth, loa2, []string{"otp"}, 0)
	target := "/_stepup/callback?code=c0de&state=" + url.QueryEscape(auth.Query().Get("state"))
	if rec := b.get(target); rec.Code != http.StatusSeeOther {
		t.Fatalf("first callback: %d", rec.Code)
	}
	if rec := b.get(target); rec.Code != http.StatusBadRequest {
		t.Errorf("replayed callback: %d, want 400", rec.Code)
	}
}

func TestLoginTabsDoNotClobberEachOther(t *testing.T) {
	p := newFakeProvider(t)
	m, _, _ := newLoginMiddleware(t, p)
	b := newBrowser(t, m)
	first := location(t, b.get("/admin/a"))
	second := location(t, b.get("/admin/b"))

	p.grant(first, loa2, []string{"otp"}, 0)
	rec := b.get("/_stepup/callback?code=1&state=" + url.QueryEscape(first.Query().Get("state")))
	if rec.Header().Get("Location") != "/admin/a" {
		t.Fatalf("first tab: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	p.grant(second, loa2, []string{"otp"}, 0)
	rec = b.get("/_stepup/callback?code=2&state=" + url.QueryEscape(second.Query().Get("state")))
	if rec.Header().Get("Location") != "/admin/b" {
		t.Fatalf("second tab: %d %q", rec.Code, rec.Header().Get("Location"))
	}
}

func TestLoginOverHTTPSUsesHostCookies(t *testing.T) {
	p := newFakeProvider(t)
	m, _, _ := newLoginMiddleware(t, p)
	b := newBrowser(t, m)
	b.https = true
	auth := location(t, b.get("/admin"))
	if got := auth.Query().Get("redirect_uri"); got != "https://app.example.test/_stepup/callback" {
		t.Errorf("redirect_uri = %q", got)
	}
	for name, c := range b.cookies {
		if !strings.HasPrefix(name, "__Host-") || !c.Secure || c.Path != "/" || c.Domain != "" {
			t.Errorf("flow cookie %s = %+v, want __Host-, Secure, Path=/", name, c)
		}
	}
	p.grant(auth, loa2, []string{"otp"}, 0)
	b.get("/_stepup/callback?code=c&state=" + url.QueryEscape(auth.Query().Get("state")))
	if c := b.cookies["__Host-stepup_session"]; c == nil || !c.Secure {
		t.Fatalf("session cookie on https = %+v", c)
	}
	if rec := b.get("/admin"); rec.Code != http.StatusOK {
		t.Errorf("with the session: %d", rec.Code)
	}

	// The bare name is not trusted on https: a sibling subdomain could set it.
	b.cookies["stepup_session"] = &http.Cookie{Name: "stepup_session", Value: b.cookies["__Host-stepup_session"].Value}
	delete(b.cookies, "__Host-stepup_session")
	if rec := b.get("/admin"); rec.Code != http.StatusFound {
		t.Errorf("bare session cookie on https: %d, want a new login", rec.Code)
	}
}

func TestLoginReplicasShareSessionsAndFlows(t *testing.T) {
	p := newFakeProvider(t)
	a, _, _ := newLoginMiddleware(t, p)
	replica, next, _ := newLoginMiddleware(t, p)
	b := newBrowser(t, a)
	auth := location(t, b.get("/admin"))
	p.grant(auth, loa2, []string{"otp"}, 0)

	b.m = replica
	if rec := b.get("/_stepup/callback?code=c&state=" + url.QueryEscape(auth.Query().Get("state"))); rec.Code != http.StatusSeeOther {
		t.Fatalf("callback on the other replica: %d", rec.Code)
	}
	b.m = a
	if rec := b.get("/admin"); rec.Code != http.StatusOK {
		t.Fatalf("session from the other replica: %d", rec.Code)
	}
	b.m = replica
	if rec := b.get("/admin"); rec.Code != http.StatusOK || next.seen() == nil {
		t.Fatalf("session on the replica that made it: %d", rec.Code)
	}
}

func TestLoginAPICallsStillGetTheChallenge(t *testing.T) {
	p := newFakeProvider(t)
	m, _, _ := newLoginMiddleware(t, p)
	rec := serve(m, request{method: http.MethodPost, target: "/admin"})
	if rec.Code != http.StatusUnauthorized || rec.Header().Get("Location") != "" {
		t.Errorf("POST: %d %q, want 401 without redirect", rec.Code, rec.Header().Get("Location"))
	}
}

func TestLoginConfigProblems(t *testing.T) {
	cfg := testConfig(t)
	cfg.OIDC = OIDCConfig{
		Issuer:        "not a url",
		SessionSecret: "short",
		CallbackPath:  "callback",
		RedirectURL:   "https://app.example.test/elsewhere",
	}
	cfg.OIDC.Unknown = map[string]interface{}{"clientSecretFile": "x"}
	_, err := newMiddleware(context.Background(), &backend{}, cfg, "stepup@file", deps{logOut: &bytes.Buffer{}})
	if err == nil {
		t.Fatal("New succeeded")
	}
	for _, want := range []string{
		"oidc.clientSecretFile: unknown option", "oidc.clientID: required", "oidc.sessionSecret",
		"oidc.callbackPath", "oidc.redirectURL", "oidc.issuer", "signInURL: set together with oidc",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
}

func TestLoginAsksForANewAuthenticationOnlyWhenTooOld(t *testing.T) {
	p := newFakeProvider(t)
	m, _, _ := newLoginMiddleware(t, p)
	tests := []struct {
		name       string
		token      string
		wantPrompt string
	}{
		{name: "weaker but fresh login", token: mintES256(t, claimsAt(loa1, []string{"pwd"}, time.Minute)), wantPrompt: ""},
		{name: "strong but old login", token: mintES256(t, claimsAt(loa2, []string{"pwd", "otp"}, time.Hour)), wantPrompt: "login"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBrowser(t, m)
			b.cookies["stepup_session"] = &http.Cookie{Name: "stepup_session", Value: tt.token}
			q := location(t, b.get("/admin")).Query()
			if q.Get("prompt") != tt.wantPrompt || q.Get("max_age") != "600" {
				t.Errorf("prompt=%q max_age=%q, want prompt %q and max_age 600", q.Get("prompt"), q.Get("max_age"), tt.wantPrompt)
			}
		})
	}
}

func TestLogoutFromAnotherSiteAsksFirst(t *testing.T) {
	p := newFakeProvider(t)
	m, _, _ := newLoginMiddleware(t, p)
	req := httptest.NewRequest(http.MethodGet, "http://app.example.test/_stepup/logout", nil)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.AddCookie(&http.Cookie{Name: "stepup_session", Value: "x"})
	rec := httptest.NewRecorder()
	m.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || len(rec.Result().Cookies()) != 0 || !strings.Contains(rec.Body.String(), `method="post"`) {
		t.Errorf("cross-site logout: %d, cookies %v; want a confirmation page and no cookie change", rec.Code, rec.Result().Cookies())
	}
	req = httptest.NewRequest(http.MethodPost, "http://app.example.test/_stepup/logout", nil)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	rec = httptest.NewRecorder()
	m.ServeHTTP(rec, req)
	if rec.Code != http.StatusSeeOther || len(rec.Result().Cookies()) != 1 || rec.Result().Cookies()[0].MaxAge >= 0 {
		t.Errorf("confirmed logout: %d, cookies %v", rec.Code, rec.Result().Cookies())
	}
}

func TestLoginSessionCookieIsTheOnlyDefaultCookie(t *testing.T) {
	p := newFakeProvider(t)
	cfg := loginConfig(t, p)
	cfg.OIDC.SessionCookie = "sess"
	m, _, _ := newTestMiddleware(t, cfg)
	weak := mintES256(t, claimsAt(loa2, []string{"otp"}, time.Minute))
	for _, cookie := range []string{"stepup_session", "sess"} {
		req := httptest.NewRequest(http.MethodGet, "https://app.example.test/admin", nil)
		req.TLS = &tls.ConnectionState{}
		req.AddCookie(&http.Cookie{Name: cookie, Value: weak})
		rec := httptest.NewRecorder()
		m.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("bare cookie %s on https: status %d, want 401", cookie, rec.Code)
		}
	}
}
