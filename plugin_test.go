package traefikstepup

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testIssuer = "https://idp.example.test"
	testSecret = "0123456789abcdef0123456789abcdef-test"
	loa1       = "urn:stepup:loa:1"
	loa2       = "urn:stepup:loa:2"
)

// testNow is the fixed clock of every adapter test.
var testNow = time.Unix(1_800_000_000, 0)

var (
	ecOnce sync.Once
	ecKey  *ecdsa.PrivateKey
	ecPEM  string
)

// testECKey returns a P-256 key made once for the package (key generation
// is slow under Yaegi) and its public key as SPKI PEM.
func testECKey(t *testing.T) (*ecdsa.PrivateKey, string) {
	t.Helper()
	ecOnce.Do(func() {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
		if err != nil {
			panic(err)
		}
		ecKey = k
		ecPEM = string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	})

	return ecKey, ecPEM
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// signingInput encodes a header and claims as the first two JWS parts.
func signingInput(t *testing.T, header map[string]interface{}, claims map[string]interface{}) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}

	return b64(h) + "." + b64(c)
}

// mintHS256 signs claims with the test secret.
func mintHS256(t *testing.T, claims map[string]interface{}) string {
	t.Helper()
	in := signingInput(t, map[string]interface{}{"alg": "HS256", "typ": "JWT"}, claims)
	mac := hmac.New(sha256.New, []byte(testSecret))
	mac.Write([]byte(in))

	return in + "." + b64(mac.Sum(nil))
}

// mintES256 signs claims with the package's P-256 key (raw R||S, RFC 7518 §3.4).
func mintES256(t *testing.T, claims map[string]interface{}) string {
	t.Helper()
	key, _ := testECKey(t)
	in := signingInput(t, map[string]interface{}{"alg": "ES256", "kid": "ec1"}, claims)
	sum := sha256.Sum256([]byte(in))
	r, s, err := ecdsa.Sign(rand.Reader, key, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])

	return in + "." + b64(sig)
}

// claimsAt returns valid claims of the given level, authenticated age ago.
func claimsAt(acr string, amr []string, age time.Duration) map[string]interface{} {
	amrList := make([]interface{}, 0, len(amr))
	for i := 0; i < len(amr); i++ {
		amrList = append(amrList, amr[i])
	}

	return map[string]interface{}{
		"iss":       testIssuer,
		"aud":       "api",
		"sub":       "alice",
		"email":     "alice@example.test",
		"groups":    []interface{}{"staff", "admins"},
		"exp":       testNow.Add(time.Hour).Unix(),
		"iat":       testNow.Add(-age).Unix(),
		"auth_time": testNow.Add(-age).Unix(),
		"acr":       acr,
		"amr":       amrList,
	}
}

// testConfig is a configuration in the shape users write: two issuers
// (ES256 public key and an HS256 secret), a ladder, and rules.
func testConfig(t *testing.T) *Config {
	t.Helper()
	_, pubPEM := testECKey(t)
	cfg := CreateConfig()
	cfg.Issuers = []IssuerConfig{
		{Issuer: testIssuer, Audience: []string{"api"}, Algorithms: []string{"ES256"}, PublicKeys: pubPEM},
		{Issuer: "https://hmac.example.test", Audience: []string{"api"}, Algorithms: []string{"HS256"}, Secret: testSecret},
	}
	cfg.ACRLevels = []string{loa1, loa2}
	cfg.Rules = []RuleConfig{
		{PathPrefix: "/public", Public: true},
		{PathPrefix: "/admin", MinACR: loa2, AMR: []string{"otp"}, MaxAge: "10m"},
		{PathPrefix: "/reports", Claims: []ClaimConfig{{Name: "groups", Values: []string{"finance"}}}},
		{PathPrefix: "/api/accounts", Methods: []string{"DELETE"}, MinACR: loa2},
	}
	cfg.SignInURL = "https://login.example.test/start?app=demo"
	cfg.ClaimHeaders = map[string]string{
		"sub": "X-Stepup-Subject", "acr": "X-Stepup-ACR", "amr": "X-Stepup-AMR", "groups": "X-Stepup-Groups",
	}

	return cfg
}

// backend records the request it received.
type backend struct {
	mu  sync.Mutex
	got *http.Request
}

func (b *backend) ServeHTTP(rw http.ResponseWriter, req *http.Request) {
	b.mu.Lock()
	b.got = req
	b.mu.Unlock()
	rw.WriteHeader(http.StatusOK)
}

func (b *backend) seen() *http.Request {
	b.mu.Lock()
	defer b.mu.Unlock()

	return b.got
}

// newTestMiddleware builds the middleware with the fixed clock and returns its
// log output.
func newTestMiddleware(t *testing.T, cfg *Config) (*stepUpMiddleware, *backend, *bytes.Buffer) {
	t.Helper()

	return newTestMiddlewareOn(t, cfg, func() time.Time { return testNow })
}

// newTestMiddlewareOn is newTestMiddleware on the clock now.
func newTestMiddlewareOn(t *testing.T, cfg *Config, now func() time.Time) (*stepUpMiddleware, *backend, *bytes.Buffer) {
	t.Helper()
	next := &backend{}
	logs := &bytes.Buffer{}
	m, err := newMiddleware(context.Background(), next, cfg, "stepup@file", deps{now: now, logOut: logs})
	if err != nil {
		t.Fatalf("New: %v", err)
	}

	return m, next, logs
}

type request struct {
	method  string
	target  string
	headers map[string]string
}

func serve(m http.Handler, r request) *httptest.ResponseRecorder {
	method := r.method
	if method == "" {
		method = http.MethodGet
	}
	req := httptest.NewRequest(method, "http://app.example.test"+r.target, nil)
	for k, v := range r.headers {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	m.ServeHTTP(rec, req)

	return rec
}

func bearer(token string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + token}
}

func TestDecisions(t *testing.T) {
	m, next, _ := newTestMiddleware(t, testConfig(t))
	strong := mintES256(t, claimsAt(loa2, []string{"pwd", "otp", "mfa"}, time.Minute))
	weak := mintES256(t, claimsAt(loa1, []string{"pwd"}, time.Minute))
	stale := mintES256(t, claimsAt(loa2, []string{"pwd", "otp"}, time.Hour))
	expiredClaims := claimsAt(loa2, []string{"otp"}, time.Minute)
	expiredClaims["exp"] = testNow.Add(-2 * time.Minute).Unix()
	expired := mintES256(t, expiredClaims)
	wrongAud := claimsAt(loa2, []string{"otp"}, time.Minute)
	wrongAud["aud"] = "other"
	hmacClaims := claimsAt(loa2, []string{"otp"}, time.Minute)
	hmacClaims["iss"] = "https://hmac.example.test"

	realm := `Bearer realm="stepup@file"`
	tests := []struct {
		name      string
		req       request
		want      int
		wantAuth  string
		reachesUp bool
	}{
		{name: "public route without token", req: request{target: "/public/x"}, want: 200, reachesUp: true},
		{name: "default rule without token", req: request{target: "/home"}, want: 401, wantAuth: realm},
		{name: "default rule with weak token", req: request{target: "/home", headers: bearer(weak)}, want: 200, reachesUp: true},
		{name: "admin without token", req: request{target: "/admin"}, want: 401, wantAuth: realm},
		{
			name: "admin with weak token", req: request{target: "/admin/users", headers: bearer(weak)}, want: 401,
			wantAuth: realm + `, error="insufficient_user_authentication", error_description="authentication level is too low", acr_values="urn:stepup:loa:2", max_age=600`,
		},
		{
			name: "admin with stale token", req: request{target: "/admin", headers: bearer(stale)}, want: 401,
			wantAuth: realm + `, error="insufficient_user_authentication", error_description="authentication is too old", acr_values="urn:stepup:loa:2", max_age=600`,
		},
		{name: "admin with strong token", req: request{target: "/admin", headers: bearer(strong)}, want: 200, reachesUp: true},
		{
			name: "expired token", req: request{target: "/admin", headers: bearer(expired)}, want: 401,
			wantAuth: realm + `, error="invalid_token", error_description="token is expired"`,
		},
		{
			name: "wrong audience", req: request{target: "/home", headers: bearer(mintES256(t, wrongAud))}, want: 401,
			wantAuth: realm + `, error="invalid_token", error_description="token audience is not accepted"`,
		},
		{
			name: "garbage token", req: request{target: "/home", headers: bearer("not.a.token")}, want: 401,
			wantAuth: realm + `, error="invalid_token", error_description="token is malformed"`,
		},
		{name: "second issuer with its secret", req: request{target: "/admin", headers: bearer(mintHS256(t, hmacClaims))}, want: 200, reachesUp: true},
		{
			name: "first issuer claims signed with second issuer's secret",
			req:  request{target: "/home", headers: bearer(mintHS256(t, claimsAt(loa2, nil, 0)))}, want: 401,
			wantAuth: realm + `, error="invalid_token", error_description="token algorithm is not allowed"`,
		},
		{
			name: "missing group is forbidden", req: request{target: "/reports/q3", headers: bearer(strong)}, want: 403,
			wantAuth: realm + `, error="insufficient_scope", error_description="required claim is missing"`,
		},
		{name: "GET accounts with weak token", req: request{target: "/api/accounts/1", headers: bearer(weak)}, want: 200, reachesUp: true},
		{
			name: "DELETE accounts with weak token", req: request{method: "DELETE", target: "/api/accounts/1", headers: bearer(weak)}, want: 401,
			wantAuth: realm + `, error="insufficient_user_authentication", error_description="authentication level is too low", acr_values="urn:stepup:loa:2"`,
		},
		{name: "encoded admin path", req: request{target: "/%61dmin", headers: bearer(weak)}, want: 401},
		{name: "encoded dot-dot into admin", req: request{target: "/public/..%2fadmin", headers: bearer(weak)}, want: 400},
		{name: "dot-dot into admin", req: request{target: "/public/../admin", headers: bearer(weak)}, want: 401},
		{name: "double slash admin", req: request{target: "//admin", headers: bearer(weak)}, want: 401},
		{name: "double-encoded path refused", req: request{target: "/public/%252e%252e/admin"}, want: 400},
		{
			name: "two authorization headers", want: 400,
			req: request{target: "/home", headers: map[string]string{"Authorization": "Bearer " + weak + ", Bearer " + strong}},
		},
		{name: "token in cookie", req: request{target: "/admin", headers: map[string]string{"Cookie": "stepup_session=" + strong}}, want: 200, reachesUp: true},
		{name: "oversized token", req: request{target: "/home", headers: bearer(strings.Repeat("a", 20000))}, want: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next.got = nil
			rec := serve(m, tt.req)
			if rec.Code != tt.want {
				t.Fatalf("status = %d, want %d (WWW-Authenticate %q)", rec.Code, tt.want, rec.Header().Get("WWW-Authenticate"))
			}
			if tt.wantAuth != "" && rec.Header().Get("WWW-Authenticate") != tt.wantAuth {
				t.Errorf("WWW-Authenticate =\n %s\nwant\n %s", rec.Header().Get("WWW-Authenticate"), tt.wantAuth)
			}
			if (next.seen() != nil) != tt.reachesUp {
				t.Errorf("backend reached = %v, want %v", next.seen() != nil, tt.reachesUp)
			}
		})
	}
}

// TestRefusedNavigationGetsAPage: a 403 (assured, but a required claim is
// missing) is a page for a person navigating and plain text for a program,
// with the same insufficient_scope challenge for both.
func TestRefusedNavigationGetsAPage(t *testing.T) {
	strong := mintES256(t, claimsAt(loa2, []string{"pwd", "otp", "mfa"}, time.Minute))
	challenge := `Bearer realm="stepup@file", error="insufficient_scope", error_description="required claim is missing"`
	tests := []struct {
		name     string
		headers  map[string]string
		wantType string
		wantBody string
	}{
		{"navigation", map[string]string{"Sec-Fetch-Mode": "navigate", "Cookie": "stepup_session=" + strong},
			"text/html; charset=utf-8", `<h1 id="stepup-title">Access denied</h1>`},
		{"fetch", map[string]string{"Sec-Fetch-Mode": "cors", "Cookie": "stepup_session=" + strong},
			"text/plain; charset=utf-8", "Forbidden"},
		{"bearer caller", bearer(strong), "text/plain; charset=utf-8", "Forbidden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, next, _ := newTestMiddleware(t, testConfig(t))
			rec := serve(m, request{target: "/reports/q3", headers: tt.headers})
			if rec.Code != http.StatusForbidden || next.seen() != nil {
				t.Fatalf("status %d, backend reached: %v; want 403, not reached", rec.Code, next.seen() != nil)
			}
			if got := rec.Header().Get("WWW-Authenticate"); got != challenge {
				t.Errorf("WWW-Authenticate %q, want %q", got, challenge)
			}
			if got := rec.Header().Get("Content-Type"); got != tt.wantType {
				t.Errorf("Content-Type %q, want %q", got, tt.wantType)
			}
			if !strings.Contains(rec.Body.String(), tt.wantBody) {
				t.Errorf("body %q does not contain %q", rec.Body.String(), tt.wantBody)
			}
		})
	}
}

func TestBrowserNavigationIsRedirected(t *testing.T) {
	m, _, _ := newTestMiddleware(t, testConfig(t))
	weak := mintES256(t, claimsAt(loa1, []string{"pwd"}, time.Minute))
	cookie := "stepup_session=" + weak
	tests := []struct {
		name    string
		req     request
		want    int
		wantACR string
		wantAge string
	}{
		{
			name: "fetch metadata navigation", want: 302, wantACR: loa2, wantAge: "600",
			req: request{target: "/admin/x?y=1", headers: map[string]string{"Sec-Fetch-Mode": "navigate", "Cookie": cookie}},
		},
		{
			name: "html accept without fetch metadata", want: 302, wantACR: loa2, wantAge: "600",
			req: request{target: "/admin/x?y=1", headers: map[string]string{"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}},
		},
		{name: "fetch call", want: 401, req: request{target: "/admin", headers: map[string]string{"Sec-Fetch-Mode": "cors", "Accept": "text/html", "Cookie": cookie}}},
		{name: "POST from a form", want: 401, req: request{method: "POST", target: "/admin", headers: map[string]string{"Sec-Fetch-Mode": "navigate", "Cookie": cookie}}},
		{name: "websocket upgrade", want: 401, req: request{target: "/admin", headers: map[string]string{"Upgrade": "websocket", "Connection": "Upgrade", "Accept": "text/html", "Cookie": cookie}}},
		{name: "event stream", want: 401, req: request{target: "/admin", headers: map[string]string{"Accept": "text/event-stream", "Cookie": cookie}}},
		{name: "event stream claiming navigation", want: 401, req: request{target: "/admin", headers: map[string]string{"Accept": "text/event-stream", "Sec-Fetch-Mode": "navigate"}}},
		{name: "curl", want: 401, req: request{target: "/admin", headers: map[string]string{"Accept": "*/*"}}},
		{name: "json preferred", want: 401, req: request{target: "/admin", headers: map[string]string{"Accept": "application/json, text/html;q=0.5"}}},
		{name: "bearer caller", want: 401, req: request{target: "/admin", headers: map[string]string{"Sec-Fetch-Mode": "navigate", "Authorization": "Bearer " + weak}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := serve(m, tt.req)
			if rec.Code != tt.want {
				t.Fatalf("status = %d, want %d", rec.Code, tt.want)
			}
			if tt.want != 302 {
				return
			}
			loc, err := url.Parse(rec.Header().Get("Location"))
			if err != nil {
				t.Fatal(err)
			}
			q := loc.Query()
			if loc.Host != "login.example.test" || q.Get("app") != "demo" {
				t.Errorf("Location = %s, want the sign-in URL with its own query kept", loc)
			}
			if got := q.Get("rd"); got != "http://app.example.test/admin/x?y=1" {
				t.Errorf("rd = %q", got)
			}
			if q.Get("acr_values") != tt.wantACR || q.Get("max_age") != tt.wantAge {
				t.Errorf("acr_values=%q max_age=%q, want %q %q", q.Get("acr_values"), q.Get("max_age"), tt.wantACR, tt.wantAge)
			}
		})
	}
}

func TestStepUpParametersComeFromConfiguration(t *testing.T) {
	m, _, _ := newTestMiddleware(t, testConfig(t))
	rec := serve(m, request{
		target:  "/admin?acr_values=urn:stepup:loa:1&max_age=999999",
		headers: map[string]string{"Sec-Fetch-Mode": "navigate"},
	})
	loc, _ := url.Parse(rec.Header().Get("Location"))
	if got := loc.Query()["acr_values"]; len(got) != 1 || got[0] != loa2 {
		t.Errorf("acr_values = %q, want only %q", got, loa2)
	}
	if got := loc.Query()["max_age"]; len(got) != 1 || got[0] != "600" {
		t.Errorf("max_age = %q, want only 600", got)
	}
}

func TestIdentityHeaders(t *testing.T) {
	cfg := testConfig(t)
	cfg.ForwardTokenHeader = "X-Token"
	m, next, _ := newTestMiddleware(t, cfg)
	strong := mintES256(t, claimsAt(loa2, []string{"pwd", "otp"}, time.Minute))
	spoofed := map[string]string{
		"Authorization":    "Bearer " + strong,
		"X-Stepup-Subject": "mallory",
		"X-Stepup-ACR":     "urn:stepup:loa:9",
		"X-Token":          "forged",
	}

	if rec := serve(m, request{target: "/admin", headers: spoofed}); rec.Code != 200 {
		t.Fatalf("status = %d", rec.Code)
	}
	h := next.seen().Header
	want := map[string]string{
		"X-Stepup-Subject": "alice",
		"X-Stepup-Acr":     loa2,
		"X-Stepup-Amr":     "pwd,otp",
		"X-Stepup-Groups":  "staff,admins",
		"X-Token":          strong,
		"Authorization":    "Bearer " + strong,
	}
	for k, v := range want {
		if got := h.Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}

	next.got = nil
	if rec := serve(m, request{target: "/public/a", headers: spoofed}); rec.Code != 200 {
		t.Fatalf("public status = %d", rec.Code)
	}
	for _, k := range []string{"X-Stepup-Subject", "X-Stepup-Acr", "X-Token"} {
		if v := next.seen().Header.Get(k); v != "" {
			t.Errorf("public route: client-sent %s = %q reached the backend", k, v)
		}
	}
}

func TestStripToken(t *testing.T) {
	cfg := testConfig(t)
	cfg.StripToken = true
	m, next, _ := newTestMiddleware(t, cfg)
	strong := mintES256(t, claimsAt(loa2, []string{"otp"}, time.Minute))

	serve(m, request{target: "/admin", headers: map[string]string{"Cookie": "a=1; stepup_session=" + strong + "; b=2"}})
	if got := next.seen().Header.Get("Cookie"); strings.Contains(got, "stepup_session") || !strings.Contains(got, "a=1") || !strings.Contains(got, "b=2") {
		t.Errorf("Cookie upstream = %q, want the other cookies only", got)
	}
	serve(m, request{target: "/admin", headers: bearer(strong)})
	if got := next.seen().Header.Get("Authorization"); got != "" {
		t.Errorf("Authorization upstream = %q, want removed", got)
	}
}

func TestAuditModeLetsEverythingThrough(t *testing.T) {
	cfg := testConfig(t)
	cfg.AuditMode = true
	m, next, logs := newTestMiddleware(t, cfg)
	weak := mintES256(t, claimsAt(loa1, []string{"pwd"}, time.Minute))
	tests := []struct {
		name       string
		req        request
		wantHeader string
	}{
		{name: "no token", req: request{target: "/admin", headers: map[string]string{"Sec-Fetch-Mode": "navigate"}}},
		{name: "weak token on admin", req: request{target: "/admin", headers: bearer(weak)}, wantHeader: "alice"},
		{name: "bad token", req: request{target: "/admin", headers: bearer("x.y.z")}},
		{name: "uncanonical path", req: request{target: "/a/%252e"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next.got = nil
			rec := serve(m, tt.req)
			if rec.Code != 200 || next.seen() == nil {
				t.Fatalf("status = %d, backend reached = %v; want 200 and reached", rec.Code, next.seen() != nil)
			}
			if got := next.seen().Header.Get("X-Stepup-Subject"); got != tt.wantHeader {
				t.Errorf("X-Stepup-Subject = %q, want %q", got, tt.wantHeader)
			}
		})
	}
	out := logs.String()
	if !strings.Contains(out, "auditMode is on") || !strings.Contains(out, "audit: decision=") {
		t.Errorf("audit logs missing:\n%s", out)
	}
	if strings.Contains(out, weak) {
		t.Error("a token was logged")
	}
}

func TestDebugLogNeverContainsToken(t *testing.T) {
	cfg := testConfig(t)
	cfg.LogLevel = "debug"
	m, _, logs := newTestMiddleware(t, cfg)
	weak := mintES256(t, claimsAt(loa1, []string{"pwd"}, time.Minute))
	serve(m, request{target: "/admin", headers: bearer(weak)})
	out := logs.String()
	if !strings.Contains(out, `DBG decision="challenge" rule=rules[1]`) || !strings.Contains(out, `sub="alice"`) {
		t.Errorf("debug line missing:\n%s", out)
	}
	if strings.Contains(out, weak) || strings.Contains(out, strings.Split(weak, ".")[2]) {
		t.Error("a token was logged")
	}
	if strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Errorf("want exactly one line per decision, got:\n%s", out)
	}
}

func TestNewReportsEveryProblem(t *testing.T) {
	cfg := CreateConfig()
	cfg.Issuers = []IssuerConfig{
		{Algorithms: nil, JWKSURL: "ftp://keys"},
		{Issuer: "https://x", Audience: []string{"a"}, Algorithms: []string{"HS256"}, Secret: "short"},
	}
	cfg.Issuers[0].Unknown = map[string]interface{}{"jwksUrl": "x"}
	cfg.ACRLevels = []string{loa1, loa2}
	cfg.Rules = []RuleConfig{
		{PathPrefix: "admin", MinACR: "urn:stepup:loa:9", MaxAge: "5 min"},
	}
	cfg.Leeway = "soon"
	cfg.TokenSources = []string{"bearer", "query:token"}
	cfg.Unknown = map[string]interface{}{"minAcr": "x"}

	_, err := newMiddleware(context.Background(), &backend{}, cfg, "stepup@file", deps{logOut: &bytes.Buffer{}})
	if err == nil {
		t.Fatal("New succeeded with a broken configuration")
	}
	msg := err.Error()
	for _, want := range []string{
		"minAcr: unknown option",
		"issuers[0].jwksUrl: unknown option",
		"issuers[0].issuer: required",
		"issuers[0].audience: required",
		"issuers[0].algorithms: required",
		"issuers[0].jwksURL",
		"issuers[1].secret: must be at least 32 bytes",
		"rules[0].pathPrefix",
		"rules[0].minACR",
		"rules[0].maxAge: invalid duration",
		"leeway: invalid duration",
		"tokenSources[1]",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not mention %q:\n%s", want, msg)
		}
	}
}

func TestNewWarnsAboutRiskySettings(t *testing.T) {
	cfg := testConfig(t)
	cfg.Issuers[0].InsecureSkipAudienceCheck = true
	cfg.Issuers = append(cfg.Issuers, IssuerConfig{
		Issuer: "https://remote.example.test", Audience: []string{"api"}, Algorithms: []string{"RS256"},
		JWKSURL: "http://keys.example.test/jwks",
	})
	_, _, logs := newTestMiddleware(t, cfg)
	for _, want := range []string{"WRN issuers[0].insecureSkipAudienceCheck", "WRN issuers[2].jwksURL fetches keys over plain http"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("no warning %q in:\n%s", want, logs.String())
		}
	}
}

func TestNewFetchesNothing(t *testing.T) {
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { hits++ }))
	defer srv.Close()
	cfg := testConfig(t)
	cfg.Issuers = []IssuerConfig{{Issuer: srv.URL, Audience: []string{"api"}, Algorithms: []string{"RS256"}, Discovery: true}}
	if _, err := New(context.Background(), &backend{}, cfg, "stepup@file"); err != nil {
		t.Fatal(err)
	}
	if hits != 0 {
		t.Errorf("New made %d requests, want none", hits)
	}
}

func TestKeysUnavailableIsNotTheCallersFault(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		http.Error(rw, "down", http.StatusBadGateway)
	}))
	defer srv.Close()
	cfg := testConfig(t)
	cfg.Issuers = []IssuerConfig{{Issuer: testIssuer, Audience: []string{"api"}, Algorithms: []string{"ES256"}, JWKSURL: srv.URL}}
	m, _, _ := newTestMiddleware(t, cfg)
	rec := serve(m, request{target: "/home", headers: bearer(mintES256(t, claimsAt(loa1, nil, 0)))})
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("status = %d, want 503", rec.Code)
	}
}

func TestNewReturnsItsErrorThroughTheInterface(t *testing.T) {
	cfg := testConfig(t)
	cfg.Issuers[0].Algorithms = []string{"rs256", "none"}
	h, err := New(context.Background(), &backend{}, cfg, "stepup@file")
	if err == nil || h != nil {
		t.Fatalf("New = %v, %v; want nil and an error", h, err)
	}
	for _, want := range []string{`issuers[0].algorithms[0]: "rs256" is not supported`, `issuers[0].algorithms[1]`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
}

func TestUnderscoreSpellingsOfIdentityHeadersAreRemoved(t *testing.T) {
	m, next, _ := newTestMiddleware(t, testConfig(t))
	spoofed := map[string]string{
		"X_stepup_subject": "mallory", "X-Stepup_acr": "urn:stepup:loa:9", "X_stepup-Amr": "hwk",
	}
	for _, target := range []string{"/public/x", "/home"} {
		next.got = nil
		headers := map[string]string{"Authorization": "Bearer " + mintES256(t, claimsAt(loa1, nil, 0))}
		for k, v := range spoofed {
			headers[k] = v
		}
		if rec := serve(m, request{target: target, headers: headers}); rec.Code != 200 {
			t.Fatalf("%s: status %d", target, rec.Code)
		}
		for k := range next.seen().Header {
			if strings.Contains(strings.ToLower(strings.ReplaceAll(k, "_", "-")), "x-stepup-") &&
				strings.Contains(k, "_") {
				t.Errorf("%s: %s reached the backend", target, k)
			}
		}
	}
}

func TestMethodOverrideCannotEscapeAMethodRule(t *testing.T) {
	m, _, _ := newTestMiddleware(t, testConfig(t))
	weak := mintES256(t, claimsAt(loa1, []string{"pwd"}, time.Minute))
	strong := mintES256(t, claimsAt(loa2, []string{"pwd", "otp"}, time.Minute))
	tests := []struct {
		name     string
		token    string
		override map[string]string
		want     int
	}{
		{name: "weak token, override header", token: weak, override: map[string]string{"X-HTTP-Method-Override": "DELETE"}, want: 401},
		{name: "weak token, x-http-method", token: weak, override: map[string]string{"X-HTTP-Method": "delete"}, want: 401},
		{name: "weak token, x-method-override", token: weak, override: map[string]string{"X-Method-Override": "DELETE"}, want: 401},
		{name: "strong token, override header", token: strong, override: map[string]string{"X-HTTP-Method-Override": "DELETE"}, want: 200},
		{name: "weak token, harmless override", token: weak, override: map[string]string{"X-HTTP-Method-Override": "PATCH"}, want: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			headers := bearer(tt.token)
			for k, v := range tt.override {
				headers[k] = v
			}
			if rec := serve(m, request{method: "POST", target: "/api/accounts/1", headers: headers}); rec.Code != tt.want {
				t.Errorf("status %d, want %d (%s)", rec.Code, tt.want, rec.Header().Get("WWW-Authenticate"))
			}
		})
	}
}

func TestAmbiguousPathsAreRefused(t *testing.T) {
	m, next, _ := newTestMiddleware(t, testConfig(t))
	weak := mintES256(t, claimsAt(loa1, []string{"pwd"}, time.Minute))
	for _, target := range []string{
		"/admin/..;/public/x", "/admin/x%5C..%5C..%5Cpublic", "/admin/x/..%2F..%2Fpublic",
		"/admin/..%3B/public", "/ADMIN/users", "/Admin",
	} {
		next.got = nil
		rec := serve(m, request{target: target, headers: bearer(weak)})
		if rec.Code != http.StatusBadRequest || next.seen() != nil {
			t.Errorf("%s: status %d, backend reached %v; want 400", target, rec.Code, next.seen() != nil)
		}
	}
}

func TestClaimWithControlCharactersIsNotForwarded(t *testing.T) {
	cfg := testConfig(t)
	cfg.ClaimHeaders = map[string]string{"sub": "X-Stepup-Subject", "email": "X-Stepup-Email"}
	m, next, _ := newTestMiddleware(t, cfg)
	claims := claimsAt(loa1, []string{"pwd"}, time.Minute)
	claims["email"] = "alice@example.test\r\nX-Admin: yes"
	token := mintES256(t, claims)
	for round := 0; round < 3; round++ { // the full path, then the fast path
		next.got = nil
		if rec := serve(m, request{target: "/home", headers: bearer(token)}); rec.Code != 200 {
			t.Fatalf("round %d: status %d", round, rec.Code)
		}
		h := next.seen().Header
		if h.Get("X-Stepup-Email") != "" || h.Get("X-Stepup-Subject") != "alice" {
			t.Errorf("round %d: backend saw email %q, subject %q", round, h.Get("X-Stepup-Email"), h.Get("X-Stepup-Subject"))
		}
	}
}
