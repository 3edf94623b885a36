package stepup

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// newTestGate returns a gate over newTestVerifier's issuers and a small
// policy, the verifier (to cache tokens) and its clock.
func newTestGate(t *testing.T, o GateOptions) (*Gate, *Verifier, *time.Time) {
	t.Helper()
	v, now := newTestVerifier(t, testCacheTokens)
	p, err := NewPolicy(testLadder, []RuleOptions{
		{PathPrefix: "/public", Public: true},
		{PathPrefix: "/admin", MinACR: "loa2", HasMaxAge: true, MaxAge: 10 * time.Minute},
		{PathPrefix: "/payments", Methods: []string{"POST"}, MinACR: "loa3"},
		{PathPrefix: "/reports", AMR: []string{"otp"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	o.Policy, o.Verifier, o.Leeway = p, v, testLeeway
	o.Now = func() time.Time { return *now }
	if o.Sources == nil {
		o.Sources = []TokenSource{{Kind: SourceBearer}, {Kind: SourceCookie, Name: "session"}}
	}
	o.ClaimHeaders = []string{"sub", "amr", "missing"}
	o.HeaderNames = []string{"X-Sub", "X-Amr", "X-Missing"}
	o.StripHeaders = []string{"X-Sub", "X_sub", "X-Amr", "X_amr", "X-Missing", "X_missing"}

	return NewGate(o), v, now
}

// cacheToken verifies token so that the verifier caches it.
func cacheToken(t *testing.T, v *Verifier, token string) {
	t.Helper()
	if _, err := v.Verify(context.Background(), token); err != nil {
		t.Fatal(err)
	}
}

// admits reports whether Admit admits req.
func admits(g *Gate, req *http.Request) bool {
	r, _ := Admit(g, req)
	return r == Admitted
}

// TestAdmitVerifies: a token the cache does not hold is verified by Admit as
// Verify would, and its error handed to the full path with the rule; tokens
// TokenFromRequest refuses, and tokens below the rule, are left to the full
// path without an error.
func TestAdmitVerifies(t *testing.T) {
	g, _, _ := newTestGate(t, GateOptions{})
	good := signHS256(t, hs256, validClaims(), hsSecret)
	weak := signHS256(t, hs256, withClaim("acr", "loa1"), hsSecret)
	forged := signHS256(t, hs256, withClaim("sub", "mallory"), hsOtherSecret)
	expired := signHS256(t, hs256, withClaim("exp", testNowUnix-3600), hsSecret)
	stranger := signHS256(t, hs256, withClaim("iss", "https://elsewhere.test"), hsSecret)

	tests := []struct {
		name     string
		target   string
		headers  []string
		wantErr  error
		wantRule bool // a rule, not Admitted
	}{
		{name: "valid", target: "/orders", headers: []string{"Authorization", "Bearer " + good}},
		{name: "valid, from the cookie", target: "/orders", headers: []string{"Cookie", "session=" + good}},
		{name: "below the rule", target: "/admin", headers: []string{"Authorization", "Bearer " + weak}, wantRule: true},
		{name: "bad signature", target: "/orders", headers: []string{"Authorization", "Bearer " + forged},
			wantRule: true, wantErr: ErrSignatureInvalid},
		{name: "expired", target: "/orders", headers: []string{"Authorization", "Bearer " + expired},
			wantRule: true, wantErr: ErrExpired},
		{name: "unknown issuer", target: "/orders", headers: []string{"Authorization", "Bearer " + stranger},
			wantRule: true, wantErr: ErrIssuerInvalid},
		{name: "malformed", target: "/orders", headers: []string{"Authorization", "Bearer a.b"},
			wantRule: true, wantErr: ErrTokenMalformed},
		{name: "a second credential", target: "/orders", headers: []string{"Authorization", "Bearer " + good + ",x"},
			wantRule: true},
		{name: "a tab", target: "/orders", headers: []string{"Authorization", "Bearer " + good + "\tx"}, wantRule: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rule, err := Admit(g, gateRequest("GET", tt.target, tt.headers...))
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			if tt.wantRule && (rule == nil || rule == Admitted) || !tt.wantRule && rule != Admitted {
				t.Fatalf("rule = %v, want a rule: %v", rule, tt.wantRule)
			}
		})
	}
}

// manyHeaders returns more header name, value pairs than the test gate
// watches, so that Admit walks its watch list rather than the request's
// headers.
func manyHeaders() []string {
	var h []string
	for i := 0; i < 12; i++ {
		h = append(h, "X-Filler-"+string(rune('a'+i)), "1")
	}

	return h
}

// gateRequest builds a request with headers given as name, value pairs.
func gateRequest(method, target string, headers ...string) *http.Request {
	req := httptest.NewRequest(method, "http://app.test"+target, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}

	return req
}

func TestAdmit(t *testing.T) {
	g, v, _ := newTestGate(t, GateOptions{SkipPaths: []string{"/login/callback"}})
	cached := signHS256(t, hs256, validClaims(), hsSecret)
	cacheToken(t, v, cached)
	unseen := signHS256(t, hs256, withClaim("sub", "bob"), hsSecret)
	weak := signHS256(t, hs256, withClaim("acr", "loa1"), hsSecret)
	cacheToken(t, v, weak)
	strong := signHS256(t, hs256, withClaim("acr", "loa3"), hsSecret)
	cacheToken(t, v, strong)
	bearer := "Bearer " + cached

	tests := []struct {
		name    string
		method  string
		target  string
		headers []string
		want    bool
	}{
		{name: "public route", target: "/public/x", want: true},
		{name: "public route with a spoofed header", target: "/public/x", headers: []string{"X-Sub", "eve"}, want: true},
		{name: "many headers, one spoofed", target: "/public/x", headers: append(manyHeaders(), "X-Sub", "eve"), want: true},
		{name: "many headers, a method override", target: "/public/x",
			headers: append(manyHeaders(), "X-Sub", "eve", "X-Method-Override", "DELETE")},
		{name: "cached token, default rule", target: "/orders/1", headers: []string{"Authorization", bearer}, want: true},
		{name: "cached token, max-age rule", target: "/admin/users", headers: []string{"Authorization", bearer}, want: true},
		{name: "cached token, method rule as sent", method: "POST", target: "/payments",
			headers: []string{"Authorization", "Bearer " + strong}, want: true},
		{name: "cached token below the method rule", method: "POST", target: "/payments",
			headers: []string{"Authorization", "Bearer " + weak}},
		{name: "method rule, method not listed", method: "GET", target: "/payments", headers: []string{"Authorization", bearer}},
		{name: "method rule, lower-case method", method: "post", target: "/payments", headers: []string{"Authorization", bearer}},
		{name: "cached token below the rule", target: "/admin", headers: []string{"Authorization", "Bearer " + weak}},
		{name: "token not cached, verified now", target: "/orders", headers: []string{"Authorization", "Bearer " + unseen}, want: true},
		{name: "no token", target: "/orders"},
		{name: "lower-case scheme", target: "/orders", headers: []string{"Authorization", "bearer " + cached}},
		{name: "two spaces", target: "/orders", headers: []string{"Authorization", "Bearer  " + cached}},
		{name: "two authorization headers", target: "/orders",
			headers: []string{"Authorization", bearer, "Authorization", bearer}},
		{name: "basic scheme", target: "/orders", headers: []string{"Authorization", "Basic YTpi"}},
		{name: "cookie token", target: "/orders", headers: []string{"Cookie", "a=b; session=" + cached}, want: true},
		{name: "cookie twice", target: "/orders",
			headers: []string{"Cookie", "session=" + cached + "; session=" + cached}},
		{name: "unknown cookie", target: "/orders", headers: []string{"Cookie", "a=b"}},
		{name: "upper-case path", target: "/Orders", headers: []string{"Authorization", bearer}},
		{name: "dot segment", target: "/public/../admin", headers: []string{"Authorization", bearer}},
		{name: "escaped path", target: "/public/%2e%2e/admin", want: false},
		{name: "semicolon", target: "/public;x", want: false},
		{name: "double slash", target: "//public", want: false},
		{name: "method override", target: "/public/x", headers: []string{"X-Http-Method-Override", "DELETE"}},
		{name: "login path", target: "/login/callback"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = "GET"
			}
			req := gateRequest(method, tt.target, tt.headers...)
			if got := admits(g, req); got != tt.want {
				t.Fatalf("admitted = %v, want %v", got, tt.want)
			}
			if req.Header["X-Sub"] != nil && !tt.want {
				t.Errorf("X-Sub = %q on a request left to the full path", req.Header["X-Sub"])
			}
			if sub := req.Header.Get("X-Sub"); tt.want && sub == "eve" {
				t.Errorf("spoofed X-Sub kept")
			}
		})
	}
}

func TestAdmitSetsClaimHeaders(t *testing.T) {
	g, v, _ := newTestGate(t, GateOptions{})
	token := signHS256(t, hs256, validClaims(), hsSecret)
	cacheToken(t, v, token)

	for i := 0; i < 2; i++ { // the first admission records the verdict, the second uses it
		req := gateRequest("GET", "/orders", "Authorization", "Bearer "+token, "X_amr", "spoofed", "X-Missing", "x")
		if !admits(g, req) {
			t.Fatalf("request %d not admitted", i)
		}
		want := http.Header{"X-Sub": {"alice"}, "X-Amr": {"pwd,otp"}, "Authorization": {"Bearer " + token}}
		if len(req.Header) != len(want) {
			t.Errorf("request %d: headers = %v, want %v", i, req.Header, want)
		}
		for name, values := range want {
			if got := req.Header[name]; len(got) != 1 || got[0] != values[0] {
				t.Errorf("request %d: %s = %q, want %q", i, name, got, values)
			}
		}
	}
}

func TestAdmitVerdictExpiry(t *testing.T) {
	token := signHS256(t, hs256, validClaims(), hsSecret) // auth_time now-20, exp now+300

	tests := []struct {
		name    string
		target  string
		advance time.Duration
		want    bool
	}{
		{name: "max-age rule, past exp", target: "/admin", advance: 300 * time.Second, want: false},
		{name: "default rule, just before exp", target: "/orders", advance: 299 * time.Second, want: true},
		{name: "default rule, at exp", target: "/orders", advance: 300 * time.Second, want: false},
		{name: "max age rule, within the age", target: "/admin", advance: 200 * time.Second, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, v, now := newTestGate(t, GateOptions{})
			cacheToken(t, v, token)
			if !admits(g, gateRequest("GET", tt.target, "Authorization", "Bearer "+token)) {
				t.Fatal("not admitted at first")
			}
			*now = now.Add(tt.advance)
			if got := admits(g, gateRequest("GET", tt.target, "Authorization", "Bearer "+token)); got != tt.want {
				t.Errorf("Admit after %s = %v, want %v", tt.advance, got, tt.want)
			}
		})
	}
}

func TestAdmitMaxAgeBound(t *testing.T) {
	// exp far away: the verdict of a max-age rule ends at auth_time+maxAge+leeway.
	claims := validClaims()
	claims["exp"] = testNowUnix + 3600
	claims["auth_time"] = testNowUnix - 10*60 // maxAge 10m: 60s (the leeway) left
	token := signHS256(t, hs256, claims, hsSecret)

	tests := []struct {
		name    string
		advance time.Duration
		want    bool
	}{
		{name: "inside the leeway", advance: 59 * time.Second, want: true},
		{name: "past auth_time+maxAge+leeway", advance: 61 * time.Second, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, v, now := newTestGate(t, GateOptions{})
			cacheToken(t, v, token)
			if !admits(g, gateRequest("GET", "/admin", "Authorization", "Bearer "+token)) {
				t.Fatal("not admitted at first")
			}
			*now = now.Add(tt.advance)
			if got := admits(g, gateRequest("GET", "/admin", "Authorization", "Bearer "+token)); got != tt.want {
				t.Errorf("Admit = %v, want %v", got, tt.want)
			}
			// Other rules are not bound by the age.
			if !admits(g, gateRequest("GET", "/orders", "Authorization", "Bearer "+token)) {
				t.Errorf("default rule not admitted")
			}
		})
	}
}

func TestAdmitPassesToken(t *testing.T) {
	token := signHS256(t, hs256, validClaims(), hsSecret)

	tests := []struct {
		name    string
		opts    GateOptions
		headers []string
		want    http.Header
	}{
		{name: "strip bearer", opts: GateOptions{StripToken: true},
			headers: []string{"Authorization", "Bearer " + token},
			want:    http.Header{"Authorization": nil}},
		{name: "strip cookie", opts: GateOptions{StripToken: true},
			headers: []string{"Cookie", "a=b; session=" + token},
			want:    http.Header{"Cookie": {"a=b"}}},
		{name: "forward bearer in a header", opts: GateOptions{StripToken: true, ForwardHeader: "X-Token"},
			headers: []string{"Authorization", "Bearer " + token},
			want:    http.Header{"Authorization": nil, "X-Token": {token}}},
		{name: "forward cookie as bearer", opts: GateOptions{ForwardHeader: "Authorization"},
			headers: []string{"Cookie", "session=" + token},
			want:    http.Header{"Authorization": {"Bearer " + token}, "Cookie": {"session=" + token}}},
		{name: "forward bearer as bearer", opts: GateOptions{StripToken: true, ForwardHeader: "Authorization"},
			headers: []string{"Authorization", "Bearer " + token},
			want:    http.Header{"Authorization": {"Bearer " + token}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, v, _ := newTestGate(t, tt.opts)
			cacheToken(t, v, token)
			for i := 0; i < 2; i++ {
				req := gateRequest("GET", "/orders", tt.headers...)
				if !admits(g, req) {
					t.Fatalf("request %d not admitted", i)
				}
				for name, values := range tt.want {
					got := req.Header[name]
					if len(got) != len(values) || len(got) > 0 && got[0] != values[0] {
						t.Errorf("request %d: %s = %q, want %q", i, name, got, values)
					}
				}
			}
		})
	}
}

func TestAdmitTLSSources(t *testing.T) {
	token := signHS256(t, hs256, validClaims(), hsSecret)
	g, v, _ := newTestGate(t, GateOptions{
		Sources:    []TokenSource{{Kind: SourceCookie, Name: "session"}},
		SourcesTLS: []TokenSource{{Kind: SourceCookie, Name: "__Host-session"}},
		TrustProxy: true,
	})
	cacheToken(t, v, token)

	tests := []struct {
		name    string
		tls     bool
		headers []string
		want    bool
	}{
		{name: "plain cookie on http", headers: []string{"Cookie", "session=" + token}, want: true},
		{name: "host cookie on https", tls: true, headers: []string{"Cookie", "__Host-session=" + token}, want: true},
		{name: "plain cookie on https", tls: true, headers: []string{"Cookie", "session=" + token}},
		{name: "forwarded proto", headers: []string{"Cookie", "session=" + token, "X-Forwarded-Proto", "https"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := gateRequest("GET", "/orders", tt.headers...)
			if tt.tls {
				req.TLS = &tls.ConnectionState{}
			}
			if got := admits(g, req); got != tt.want {
				t.Errorf("Admit = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAdmitWithoutCache(t *testing.T) {
	p, err := NewPolicy(nil, []RuleOptions{{PathPrefix: "/public", Public: true}})
	if err != nil {
		t.Fatal(err)
	}
	g := NewGate(GateOptions{Policy: p, Sources: []TokenSource{{Kind: SourceBearer}}})
	if !admits(g, gateRequest("GET", "/public/a")) {
		t.Error("public route not admitted")
	}
	if admits(g, gateRequest("GET", "/orders", "Authorization", "Bearer x.y.z")) {
		t.Error("protected route admitted without a cache")
	}
}

func TestAdmitConcurrent(t *testing.T) {
	g, v, _ := newTestGate(t, GateOptions{})
	token := signHS256(t, hs256, validClaims(), hsSecret)
	cacheToken(t, v, token)

	var wg sync.WaitGroup
	refused := make(chan string, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go admitInto(g, token, targets[i%len(targets)], &wg, refused)
	}
	wg.Wait()
	close(refused)
	for target := range refused {
		t.Errorf("%s not admitted", target)
	}
}

var targets = []string{"/orders", "/admin/x", "/reports"}

// admitInto admits a few requests for target, reporting those refused.
func admitInto(g *Gate, token, target string, wg *sync.WaitGroup, refused chan string) {
	defer wg.Done()
	for i := 0; i < 20; i++ {
		if !admits(g, gateRequest("GET", target, "Authorization", "Bearer "+token)) {
			refused <- target
			return
		}
	}
}

func TestAdmitCookieWithSpace(t *testing.T) {
	g, v, _ := newTestGate(t, GateOptions{})
	token := signHS256(t, hs256, validClaims(), hsSecret)
	cacheToken(t, v, token)
	if !admits(g, gateRequest("GET", "/orders", "Authorization", "Bearer "+token)) {
		t.Fatal("bearer not admitted")
	}
	// The bearer verdict is keyed by "Bearer <token>": a cookie with that
	// value is no token, and must not find it.
	if admits(g, gateRequest("GET", "/orders", "Cookie", `session="Bearer `+token+`"`)) {
		t.Error("cookie holding the bearer credential admitted")
	}
}

func TestAdmitReturnsTheRuleItMatched(t *testing.T) {
	g, _, _ := newTestGate(t, GateOptions{})
	tests := []struct {
		name   string
		method string
		target string
		want   string // the rule's ID; "" for nil
	}{
		{name: "default rule", method: "GET", target: "/orders", want: "default"},
		{name: "prefix rule", method: "GET", target: "/admin/x", want: "rules[1]"},
		{name: "method rule", method: "POST", target: "/payments", want: "rules[2]"},
		{name: "method not listed: Match looks further", method: "GET", target: "/payments"},
		{name: "path with another reading", method: "GET", target: "/public/../admin"},
		{name: "upper case", method: "GET", target: "/Admin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			if r, _ := Admit(g, gateRequest(tt.method, tt.target)); r != nil {
				got = r.ID()
			}
			if got != tt.want {
				t.Errorf("Admit = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAdmitBoundsItsVerdicts(t *testing.T) {
	// testCacheTokens verdicts at most, plain bearer ones included: past
	// the bound they are all dropped, and made again as requests come.
	g, v, _ := newTestGate(t, GateOptions{})
	for i := 0; i < 5*testCacheTokens; i++ {
		token := signHS256(t, hs256, withClaim("sub", string(rune('a'+i))), hsSecret)
		cacheToken(t, v, token)
		for _, target := range targets {
			if !admits(g, gateRequest("GET", target, "Authorization", "Bearer "+token)) {
				t.Fatalf("token %d: %s not admitted", i, target)
			}
		}
	}
	if n := g.verdictCount.Load(); n == 0 || n > testCacheTokens {
		t.Errorf("verdict count %d, want 1 to %d", n, testCacheTokens)
	}
	kept := 0
	for i := 0; i < len(g.verdicts); i++ {
		g.verdicts[i].Range(countInto(&kept))
		g.bearers[i].Range(countInto(&kept))
	}
	if kept == 0 || kept > testCacheTokens {
		t.Errorf("%d verdicts in the maps, want 1 to %d", kept, testCacheTokens)
	}
}

// countInto returns a sync.Map.Range callback counting into n.
func countInto(n *int) func(key, value interface{}) bool {
	return func(key, value interface{}) bool {
		*n++
		return true
	}
}
