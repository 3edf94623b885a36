package traefikstepup

import (
	"net/http"
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
	rec := serve(m, r)
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
			cfg := testConfig(t)
			c.apply(cfg)
			m, next, _ := newTestMiddleware(t, cfg)
			refCfg := testConfig(t)
			c.apply(refCfg)
			refCfg.CacheSize = -1 // every request takes the full path
			ref, refNext, _ := newTestMiddleware(t, refCfg)
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
			cfg := testConfig(t)
			tt.apply(cfg)
			m, next, _ := newTestMiddleware(t, cfg)
			refCfg := testConfig(t)
			tt.apply(refCfg)
			refCfg.CacheSize = -1
			ref, refNext, _ := newTestMiddleware(t, refCfg)
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
