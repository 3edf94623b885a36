package traefikstepup

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"
)

// outcome is what a request leads to: the answer, and what went upstream.
type outcome struct {
	status   int
	auth     string
	upstream string // the headers the backend got, sorted; "" when not reached
}

// serveOutcome serves r and records its outcome.
func serveOutcome(m http.Handler, next *backend, r request) outcome {
	next.got = nil
	return outcomeOf(serve(m, r), next)
}

// outcomeOf is the outcome recorded in rec and next.
func outcomeOf(rec *httptest.ResponseRecorder, next *backend) outcome {
	o := outcome{status: rec.Code, auth: rec.Header().Get("WWW-Authenticate")}
	if got := next.seen(); got != nil {
		var lines []string
		for name, values := range got.Header {
			lines = append(lines, name+": "+strings.Join(values, " | "))
		}
		sort.Strings(lines)
		o.upstream = strings.Join(lines, "\n")
	}

	return o
}

// cachedAndReference returns a middleware of build's configuration, whose
// token cache lets the gate (stepup.Admit) decide what it can, and a
// reference of the same configuration without a cache, where only the full
// path decides; each with its backend.
func cachedAndReference(t *testing.T, build func() *Config) (http.Handler, *backend, http.Handler, *backend) {
	t.Helper()
	m, next, _ := newTestMiddleware(t, build())
	refCfg := build()
	refCfg.CacheSize = -1
	ref, refNext, _ := newTestMiddleware(t, refCfg)

	return m, next, ref, refNext
}

// TestRepeatedRequestsAreDecidedAlike serves every request three times to a
// middleware that caches tokens, so that the gate (stepup.Admit) admits what
// it can, and once to one that caches none, so that only the full path
// decides: all must end alike, in every configuration shape the gate treats
// differently.
func TestRepeatedRequestsAreDecidedAlike(t *testing.T) {
	strong := mintES256(t, claimsAt(loa2, []string{"pwd", "otp", "mfa"}, time.Minute))
	weak := mintES256(t, claimsAt(loa1, []string{"pwd"}, time.Minute))
	stale := mintES256(t, claimsAt(loa2, []string{"otp"}, 10*time.Minute+59*time.Second))
	spoof := map[string]string{"X-Stepup-Subject": "mallory", "X_stepup_acr": "x", "X-Token": "forged"}
	// Tokens the gate verifies and refuses: the full path must answer them
	// as it would have found them itself.
	expiredClaims := claimsAt(loa2, []string{"otp"}, time.Minute)
	expiredClaims["exp"] = testNow.Add(-time.Hour).Unix()
	expired := mintES256(t, expiredClaims)
	strangerClaims := claimsAt(loa2, []string{"otp"}, time.Minute)
	strangerClaims["aud"] = "elsewhere"
	stranger := mintES256(t, strangerClaims)
	parts := strings.Split(strong, ".")
	tampered := parts[0] + "." + strings.Split(weak, ".")[1] + "." + parts[2]
	with := func(token string, extra map[string]string) map[string]string {
		h := map[string]string{"Authorization": "Bearer " + token}
		for k, v := range extra {
			h[k] = v
		}
		return h
	}
	requests := []request{
		{target: "/public/x", headers: spoof},
		{target: "/home", headers: with(weak, spoof)},
		{target: "/admin/users", headers: with(strong, spoof)},
		{target: "/admin/users", headers: bearer(weak)},
		{target: "/admin", headers: bearer(stale)},
		{target: "/reports/q3", headers: bearer(strong)},
		{target: "/api/accounts/1", headers: bearer(weak)},
		{method: "DELETE", target: "/api/accounts/1", headers: bearer(strong)},
		{method: "DELETE", target: "/api/accounts/1", headers: bearer(weak)},
		{target: "/Admin", headers: bearer(weak)},
		{target: "/home", headers: map[string]string{"Cookie": "a=1; stepup_session=" + strong + "; b=2"}},
		{target: "/home", headers: map[string]string{"Authorization": "Basic YTpi", "Cookie": "stepup_session=" + weak}},
		{target: "/admin", headers: with(weak, map[string]string{"X-Http-Method-Override": "DELETE"})},
		{target: "/home", headers: bearer(expired)},
		{target: "/home", headers: with(stranger, spoof)},
		{target: "/admin/users", headers: bearer(tampered)},
		{target: "/home", headers: bearer("a.b.c")},
		{target: "/home", headers: bearer(strong + ",x")},
		{target: "/home", headers: bearer(strong + "\tx")},
		{target: "/home", headers: map[string]string{"Cookie": "stepup_session=" + expired}},
		{target: "/home", headers: map[string]string{"Accept": "text/html", "Sec-Fetch-Mode": "navigate",
			"Authorization": "Bearer " + tampered}},
	}
	configs := []struct {
		name  string
		apply func(*Config)
	}{
		{name: "defaults", apply: func(*Config) {}},
		{name: "audit mode", apply: func(c *Config) { c.AuditMode = true }},
		{name: "strip and forward", apply: func(c *Config) { c.StripToken = true; c.ForwardTokenHeader = "X-Token" }},
		{name: "forward as bearer", apply: func(c *Config) { c.ForwardTokenHeader = "Authorization" }},
		{name: "cookie first", apply: func(c *Config) { c.TokenSources = []string{"cookie:stepup_session", "bearer"} }},
		{name: "no cache", apply: func(c *Config) { c.CacheSize = -1 }},
	}
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			m, next, ref, refNext := cachedAndReference(t, func() *Config {
				cfg := testConfig(t)
				c.apply(cfg)
				return cfg
			})
			for _, r := range requests {
				want := serveOutcome(ref, refNext, r)
				for i := 0; i < 3; i++ {
					if got := serveOutcome(m, next, r); got != want {
						t.Errorf("%s %s, time %d:\n got %+v\nwant %+v", r.method, r.target, i+1, got, want)
					}
				}
			}
		})
	}
}

func TestClaimHeaderOfAMixedArray(t *testing.T) {
	m, next, _ := newTestMiddleware(t, testConfig(t))
	claims := claimsAt(loa1, []string{"pwd"}, time.Minute)
	claims["groups"] = []interface{}{"staff", 7, true, map[string]interface{}{"x": 1}}
	token := mintES256(t, claims)
	for i := 0; i < 3; i++ { // the full path, then the gate
		if rec := serve(m, request{target: "/home", headers: bearer(token)}); rec.Code != 200 {
			t.Fatalf("request %d: status %d", i, rec.Code)
		}
		if got := next.seen().Header.Get("X-Stepup-Groups"); got != "staff,7,true" {
			t.Errorf("request %d: X-Stepup-Groups = %q, want %q", i, got, "staff,7,true")
		}
	}
}

// A bare token in Authorization is no bearer credential: the fast path must
// answer as the full path does (401, or the cookie's identity), also after
// the same token was admitted from the session cookie.
func TestRawAuthorizationValueDecidesLikeTheFullPath(t *testing.T) {
	tok := mintES256(t, claimsAt(loa1, []string{"pwd"}, time.Minute))
	other := mintES256(t, map[string]interface{}{
		"iss": testIssuer, "aud": "api", "sub": "bob", "acr": loa1,
		"exp": testNow.Add(time.Hour).Unix(), "iat": testNow.Unix(), "auth_time": testNow.Unix(),
	})
	tests := []struct {
		name  string
		apply func(*Config)
	}{
		{name: "defaults", apply: func(*Config) {}},
		{name: "strip and forward", apply: func(c *Config) { c.StripToken = true; c.ForwardTokenHeader = "X-Token" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, next, ref, refNext := cachedAndReference(t, func() *Config {
				cfg := testConfig(t)
				tt.apply(cfg)
				return cfg
			})
			for i := 0; i < 2; i++ { // the full path, then the gate records a verdict
				serveOutcome(m, next, request{target: "/home", headers: map[string]string{"Cookie": "stepup_session=" + tok}})
			}
			for _, r := range []request{
				{target: "/home", headers: map[string]string{"Authorization": tok}},
				{target: "/home", headers: map[string]string{"Authorization": tok, "Cookie": "stepup_session=" + other}},
			} {
				want := serveOutcome(ref, refNext, r)
				if got := serveOutcome(m, next, r); got != want {
					t.Errorf("cookie %q:\n got %+v\nwant %+v", r.headers["Cookie"], got, want)
				}
			}
		})
	}
}

// With trustForwardedHeaders, a TLS connection whose X-Forwarded-Proto says
// "http" is plain HTTP for the full path (stepup.IsTLS): it reads the bare
// session cookie, never the "__Host-" one. The gate must read the same one.
func TestForwardedHTTPOnTLSConnectionReadsTheSameSessionCookie(t *testing.T) {
	p := newFakeProvider(t)
	alice := mintES256(t, claimsAt(loa1, []string{"pwd"}, time.Minute))
	bobClaims := claimsAt(loa1, []string{"pwd"}, time.Minute)
	bobClaims["sub"] = "bob"
	bob := mintES256(t, bobClaims)

	m, next, ref, refNext := cachedAndReference(t, func() *Config {
		cfg := loginConfig(t, p)
		cfg.TrustForwardedHeaders = true
		return cfg
	})

	for n, headers := range []map[string]string{
		{"X-Forwarded-Proto": "http", "Cookie": "__Host-stepup_session=" + alice},
		{"X-Forwarded-Proto": "http", "Cookie": "__Host-stepup_session=" + alice + "; stepup_session=" + bob},
	} {
		h := http.Header{}
		for k, v := range headers {
			h.Set(k, v)
		}
		want := serveRawOutcome(ref, refNext, http.MethodGet, "/home", true, h)
		for i := 0; i < 3; i++ {
			if got := serveRawOutcome(m, next, http.MethodGet, "/home", true, h); got != want {
				t.Errorf("request %d, time %d:\n got %+v\nwant %+v", n, i+1, got, want)
			}
		}
	}
}

// serveRawOutcome serves a request whose header values are set as given
// (repeats included), over TLS when tls is set.
func serveRawOutcome(m http.Handler, next *backend, method, target string, overTLS bool, h http.Header) outcome {
	next.got = nil
	req := httptest.NewRequest(method, "http://app.example.test"+target, nil)
	if overTLS {
		req.TLS = &tls.ConnectionState{}
	}
	for k, v := range h {
		req.Header[k] = append([]string(nil), v...)
	}
	rec := httptest.NewRecorder()
	m.ServeHTTP(rec, req)

	return outcomeOf(rec, next)
}

func TestAdversarialRequestsAreDecidedAlike(t *testing.T) {
	tok := mintES256(t, claimsAt(loa2, []string{"pwd", "otp"}, time.Minute))
	bobClaims := claimsAt(loa1, []string{"pwd"}, time.Minute)
	bobClaims["sub"] = "bob"
	bob := mintES256(t, bobClaims)
	noExp := claimsAt(loa2, []string{"otp"}, time.Minute)
	delete(noExp, "exp")
	noExpTok := mintES256(t, noExp)
	inLeeway := claimsAt(loa2, []string{"otp"}, time.Minute)
	inLeeway["exp"] = testNow.Add(-30 * time.Second).Unix()
	inLeewayTok := mintES256(t, inLeeway)
	frac := claimsAt(loa2, []string{"otp"}, time.Minute)
	frac["exp"] = float64(testNow.Add(-60*time.Second).Unix()) + 0.5
	fracTok := mintES256(t, frac)
	hsClaims := claimsAt(loa2, []string{"otp"}, time.Minute)
	hsClaims["iss"] = "https://hmac.example.test"
	hsTok := mintHS256(t, hsClaims)
	hsAsES := claimsAt(loa2, []string{"otp"}, time.Minute) // iss of the ES256 issuer, HS256-signed
	hsAsESTok := mintHS256(t, hsAsES)
	type req struct {
		method string
		target string
		tls    bool
		h      http.Header
	}
	reqs := []req{
		{target: "/home", h: http.Header{"Authorization": {"bearer " + tok}}},
		{target: "/home", h: http.Header{"Authorization": {"Bearer  " + tok}}},
		{target: "/home", h: http.Header{"Authorization": {"Bearer " + tok, "Bearer " + bob}}},
		{target: "/home", h: http.Header{"Authorization": {"Bearer " + tok, "Bearer " + tok}}},
		{target: "/home", h: http.Header{"Authorization": {tok}}},
		{target: "/home", h: http.Header{"Authorization": {"Bearer " + tok}, "Cookie": {"stepup_session=" + bob}}},
		{target: "/home", h: http.Header{"Cookie": {"stepup_session=\"" + bob + "\""}}},
		{target: "/home", h: http.Header{"Cookie": {"stepup_session=" + bob + "; stepup_session=" + bob}}},
		{target: "/home", h: http.Header{"Cookie": {"stepup_session=" + bob, "stepup_session=" + tok}}},
		{target: "/home", h: http.Header{"Cookie": {"xstepup_session=" + tok}}},
		{target: "/home", h: http.Header{"Authorization": {"Bearer " + noExpTok}}},
		{target: "/home", h: http.Header{"Authorization": {"Bearer " + inLeewayTok}}},
		{target: "/admin", h: http.Header{"Authorization": {"Bearer " + inLeewayTok}}},
		{target: "/home", h: http.Header{"Authorization": {"Bearer " + fracTok}}},
		{target: "/home", h: http.Header{"Authorization": {"Bearer " + hsTok}}},
		{target: "/home", h: http.Header{"Authorization": {"Bearer " + hsAsESTok}}},
		{target: "/admin", h: http.Header{"Authorization": {"Bearer " + tok}, "X-Http-Method-Override": {""}}},
		{method: "HEAD", target: "/api/accounts/1", h: http.Header{"Authorization": {"Bearer " + bob}}},
		{method: "delete", target: "/api/accounts/1", h: http.Header{"Authorization": {"Bearer " + bob}}},
		{target: "/admin/", h: http.Header{"Authorization": {"Bearer " + tok}}},
		{target: "/home", tls: true, h: http.Header{"X-Forwarded-Proto": {"https"}, "Cookie": {"stepup_session=" + bob}}},
		{target: "/home", h: http.Header{"X-Forwarded-Proto": {"https"}, "Cookie": {"stepup_session=" + bob}}},
		{target: "/home", h: http.Header{"Authorization": {"Bearer " + tok + "."}}},
		{target: "/home", h: http.Header{"Authorization": {"Bearer " + tok + "\r\n"}}},
	}
	configs := []struct {
		name  string
		apply func(*Config)
	}{
		{name: "defaults", apply: func(*Config) {}},
		{name: "audit", apply: func(c *Config) { c.AuditMode = true }},
		{name: "strip and forward", apply: func(c *Config) { c.StripToken = true; c.ForwardTokenHeader = "X-Token" }},
		{name: "forward as bearer", apply: func(c *Config) { c.StripToken = true; c.ForwardTokenHeader = "Authorization" }},
		{name: "cookie first", apply: func(c *Config) { c.TokenSources = []string{"cookie:stepup_session", "bearer"} }},
		{name: "header then bearer", apply: func(c *Config) { c.TokenSources = []string{"header:X-Token", "bearer", "cookie:stepup_session"} }},
		{name: "trust proxy", apply: func(c *Config) { c.TrustForwardedHeaders = true }},
	}
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			m, next, ref, refNext := cachedAndReference(t, func() *Config {
				cfg := testConfig(t)
				c.apply(cfg)
				return cfg
			})
			for pass := 0; pass < 2; pass++ {
				for n, r := range reqs {
					method := r.method
					if method == "" {
						method = http.MethodGet
					}
					want := serveRawOutcome(ref, refNext, method, r.target, r.tls, r.h)
					for i := 0; i < 3; i++ {
						if got := serveRawOutcome(m, next, method, r.target, r.tls, r.h); got != want {
							t.Errorf("pass %d request %d (%s %s), time %d:\n got %+v\nwant %+v", pass, n, method, r.target, i+1, got, want)
						}
					}
				}
			}
		})
	}
}

// cachedAndReferenceOnClock is cachedAndReference for the test
// configuration as edit changes it, both middlewares on one clock that the
// test sets through the returned pointer between requests.
func cachedAndReferenceOnClock(t *testing.T, edit func(*Config)) (http.Handler, *backend, http.Handler, *backend, *time.Time) {
	t.Helper()
	now := testNow
	clock := func() time.Time { return now }
	cfg, refCfg := testConfig(t), testConfig(t)
	edit(cfg)
	edit(refCfg)
	refCfg.CacheSize = -1
	m, next, _ := newTestMiddlewareOn(t, cfg, clock)
	ref, refNext, _ := newTestMiddlewareOn(t, refCfg, clock)

	return m, next, ref, refNext, &now
}

// TestVerdictsFollowTheClock moves the clock second by second across the
// edges of exp + leeway, auth_time + maxAge + leeway and the future-date
// checks, with whole and fractional dates, and serves each token twice on
// every rule at every step: the gate's verdicts (recorded on the second
// sighting) must neither outlive what the full path admits nor admit on one
// rule what was judged on another.
func TestVerdictsFollowTheClock(t *testing.T) {
	at := func(d time.Duration) int64 { return testNow.Add(d).Unix() }
	mint := func(edit func(map[string]interface{})) string {
		c := claimsAt(loa2, []string{"pwd", "otp"}, 9*time.Minute)
		c["groups"] = []interface{}{"finance"}
		edit(c)
		return mintES256(t, c)
	}
	tokens := map[string]string{
		"exp soon":            mint(func(c map[string]interface{}) { c["exp"] = at(5 * time.Second) }),
		"exp soon, fraction":  mint(func(c map[string]interface{}) { c["exp"] = float64(at(5*time.Second)) + 0.5 }),
		"auth_time edge":      mint(func(c map[string]interface{}) {}),
		"auth_time, fraction": mint(func(c map[string]interface{}) { c["auth_time"] = float64(at(-9*time.Minute)) + 0.25 }),
		"nbf ahead":           mint(func(c map[string]interface{}) { c["nbf"] = at(70 * time.Second) }),
		"iat ahead":           mint(func(c map[string]interface{}) { c["iat"] = at(65 * time.Second) }),
		"auth_time ahead":     mint(func(c map[string]interface{}) { c["auth_time"] = at(62 * time.Second) }),
		"weak":                mint(func(c map[string]interface{}) { c["acr"] = loa1 }),
		"far exp":             mint(func(c map[string]interface{}) { c["exp"] = int64(1e10) }),
	}
	targets := []struct{ method, target string }{
		{"GET", "/admin/x"}, {"GET", "/home"}, {"GET", "/reports/q"}, {"DELETE", "/api/accounts/1"}, {"GET", "/api/accounts/1"},
	}
	for _, shape := range []struct {
		name string
		edit func(*Config)
	}{
		{name: "bearer", edit: func(*Config) {}},
		{name: "cookie first", edit: func(c *Config) { c.TokenSources = []string{"cookie:stepup_session", "bearer"} }},
	} {
		t.Run(shape.name, func(t *testing.T) {
			m, next, ref, refNext, now := cachedAndReferenceOnClock(t, shape.edit)
			for step := -5; step < 200; step++ {
				*now = testNow.Add(time.Duration(step) * time.Second)
				for name, token := range tokens {
					h := bearer(token)
					if shape.name == "cookie first" {
						h = map[string]string{"Cookie": "stepup_session=" + token}
					}
					for _, r := range targets {
						q := request{method: r.method, target: r.target, headers: h}
						want := serveOutcome(ref, refNext, q)
						for i := 0; i < 2; i++ {
							if got := serveOutcome(m, next, q); got != want {
								t.Fatalf("%s, %s %s at %+ds, request %d:\n got %+v\nwant %+v",
									name, r.method, r.target, step, i+1, got, want)
							}
						}
					}
				}
			}
		})
	}
}

// TestNonNumberAuthTimeIsRefused: a token whose auth_time is not a number
// is malformed (401) on a max-age route, through the gate and the full
// path, natively and under Yaegi (see stepup.TestNonNumberDateTakesNoOtherDate).
func TestNonNumberAuthTimeIsRefused(t *testing.T) {
	for _, authTime := range []interface{}{nil, "1799996400", false} {
		c := claimsAt(loa2, []string{"pwd", "otp"}, time.Minute) // iat a minute ago
		c["auth_time"] = authTime
		token := mintES256(t, c)
		m, next, ref, refNext := cachedAndReference(t, func() *Config { return testConfig(t) })
		for _, h := range []struct {
			name string
			h    http.Handler
			next *backend
		}{{"gate", m, next}, {"full path", ref, refNext}} {
			for i := 0; i < 2; i++ {
				o := serveOutcome(h.h, h.next, request{target: "/admin/x", headers: bearer(token)})
				if o.status != http.StatusUnauthorized || o.upstream != "" {
					t.Errorf("auth_time %#v, %s, request %d: status %d, upstream %q; want 401",
						authTime, h.name, i+1, o.status, o.upstream)
				}
			}
		}
	}
}
