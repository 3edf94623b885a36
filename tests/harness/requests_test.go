package harness

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// sampleRequest is one request to the representative configuration and what
// must come of it.
type sampleRequest struct {
	name   string
	method string
	path   string
	header map[string]string
	want   int
	// challenge lists substrings of WWW-Authenticate; "-" means none at all.
	challenge []string
	// seen are headers the backend must receive ("" = must not receive).
	seen map[string]string
}

func (r sampleRequest) build() *http.Request {
	req := httptest.NewRequest(r.method, r.path, nil)
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	return req
}

func bearer(token string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + token}
}

// sampleRequests covers public routes, missing and bad tokens, both issuers,
// both token sources, each rule's requirements and the identity headers.
func sampleRequests(tb testing.TB) []sampleRequest {
	tb.Helper()
	rk, ek := testKeys(tb)
	rs := signer{alg: "RS256", key: rk}
	es := signer{alg: "ES256", key: ek}
	hs := signer{alg: "HS256", key: []byte(hmacSecret)}
	now := time.Now().Unix()

	pwd := rs.mint(tb, claims(nil))
	mfa := es.mint(tb, claims(map[string]any{"acr": acrMFA, "amr": []string{"pwd", "otp"}}))
	stale := es.mint(tb, claims(map[string]any{"acr": acrMFA, "auth_time": now - 3600}))
	phr := es.mint(tb, claims(map[string]any{"acr": acrPhr, "amr": []string{"hwk", "pin"}}))
	auditor := rs.mint(tb, claims(map[string]any{"amr": []string{"pwd", "otp"},
		"groups": []string{"staff", "auditors"}}))
	noGroup := rs.mint(tb, claims(map[string]any{"amr": []string{"pwd", "otp"}}))
	auditorPwd := rs.mint(tb, claims(map[string]any{"groups": []string{"auditors"}}))
	hmacTok := hs.mint(tb, claims(map[string]any{"iss": hmacIssuer, "sub": "svc"}))
	expired := rs.mint(tb, claims(map[string]any{"exp": now - 3600, "iat": now - 7200}))
	otherAud := rs.mint(tb, claims(map[string]any{"aud": "billing-api"}))

	bare := []string{`Bearer realm="orders"`}
	invalid := []string{`error="invalid_token"`}
	stepUp := func(acr string, maxAge string) []string {
		return []string{`error="insufficient_user_authentication"`, `acr_values="` + acr, maxAge}
	}

	return []sampleRequest{
		{name: "public route without token", method: "GET", path: "/public/status",
			want: 200, challenge: []string{"-"}},
		{name: "public route drops spoofed identity", method: "GET", path: "/public/status",
			header: map[string]string{"X-User": "mallory"}, want: 200, seen: map[string]string{"X-User": ""}},
		{name: "no token", method: "GET", path: "/orders", want: 401, challenge: bare},
		{name: "garbage token", method: "GET", path: "/orders", header: bearer("abc.def.ghi"),
			want: 401, challenge: invalid},
		{name: "expired token", method: "GET", path: "/orders", header: bearer(expired),
			want: 401, challenge: invalid},
		{name: "other audience", method: "GET", path: "/orders", header: bearer(otherAud),
			want: 401, challenge: invalid},
		{name: "good RS256 token", method: "GET", path: "/orders", header: bearer(pwd), want: 200,
			seen: map[string]string{"X-User": "alice", "X-User-ACR": acrPwd, "X-User-AMR": "pwd",
				"Authorization": ""}},
		{name: "token in the cookie", method: "GET", path: "/orders",
			header: map[string]string{"Cookie": "theme=dark; stepup_session=" + pwd}, want: 200,
			seen: map[string]string{"X-User": "alice", "Cookie": "theme=dark"}},
		{name: "HS256 token of the second issuer", method: "GET", path: "/orders",
			header: bearer(hmacTok), want: 200, seen: map[string]string{"X-User": "svc"}},
		{name: "pwd on admin", method: "GET", path: "/admin/users", header: bearer(pwd),
			want: 401, challenge: stepUp(acrMFA, "max_age=600")},
		{name: "mfa on admin", method: "GET", path: "/admin/users", header: bearer(mfa), want: 200,
			seen: map[string]string{"X-User-ACR": acrMFA, "X-User-AMR": "pwd,otp"}},
		{name: "stale mfa on admin", method: "GET", path: "/admin/users", header: bearer(stale),
			want: 401, challenge: stepUp(acrMFA, "max_age=600")},
		{name: "mfa on payment POST", method: "POST", path: "/payments/42", header: bearer(mfa),
			want: 401, challenge: stepUp(acrPhr, "max_age=300")},
		{name: "phr with hwk on payment PUT", method: "PUT", path: "/payments/42",
			header: bearer(phr), want: 200},
		{name: "pwd on payment GET (no method rule)", method: "GET", path: "/payments/42",
			header: bearer(pwd), want: 200},
		{name: "auditor with otp on reports", method: "GET", path: "/reports/q3",
			header: bearer(auditor), want: 200},
		{name: "no group on reports", method: "GET", path: "/reports/q3", header: bearer(noGroup),
			want: 403, challenge: []string{`error="insufficient_scope"`}},
		{name: "auditor without otp on reports", method: "GET", path: "/reports/q3",
			header: bearer(auditorPwd), want: 401,
			challenge: []string{`error="insufficient_user_authentication"`}},
		{name: "browser without signInURL gets the challenge", method: "GET", path: "/admin",
			header: map[string]string{"Sec-Fetch-Mode": "navigate", "Accept": "text/html"},
			want:   401, challenge: bare},
	}
}

// check compares a response with the request's expectations.
func (r sampleRequest) check(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	o := outcomeOf(rec.Code, rec.Header())

	if o.Status != r.want {
		t.Errorf("status = %d, want %d (%s)", o.Status, r.want, o)
	}
	for _, c := range r.challenge {
		if c == "-" {
			if o.Challenge != "" {
				t.Errorf("WWW-Authenticate = %q, want none", o.Challenge)
			}
			continue
		}
		if !strings.Contains(o.Challenge, c) {
			t.Errorf("WWW-Authenticate = %q, want it to contain %q", o.Challenge, c)
		}
	}
	for k, want := range r.seen {
		if got := o.Seen[http.CanonicalHeaderKey(k)]; got != want {
			t.Errorf("backend saw %s = %q, want %q", k, got, want)
		}
	}
}

// TestRequests sends the sample requests through the plugin as Yaegi runs it
// and, for reference, through the natively compiled plugin.
func TestRequests(t *testing.T) {
	reqs := sampleRequests(t)
	handlers := []struct {
		name string
		h    http.Handler
	}{
		{name: "yaegi", h: interpretedHandler(t, representativeConfig(t))},
		{name: "native", h: nativeHandler(t, representativeConfig(t))},
	}

	for _, hh := range handlers {
		for _, r := range reqs {
			t.Run(hh.name+"/"+r.name, func(t *testing.T) {
				rec := httptest.NewRecorder()
				hh.h.ServeHTTP(rec, r.build())
				r.check(t, rec)
			})
		}
	}
}

// TestInterpretedSignInRedirect checks a browser navigation is sent to sign
// in with the rule's acr_values and max_age and the return URL.
func TestInterpretedSignInRedirect(t *testing.T) {
	cfg := representativeConfig(t)
	cfg["signInURL"] = "https://app.example.com/oauth2/start"

	h, err := stepupPlugin(t).New(context.Background(), backend, cfg, middlewareName)
	if err != nil {
		t.Fatalf("New: %v", err)
	}

	req := httptest.NewRequest("GET", "https://orders.example.com/admin/users?page=2", nil)
	req.Header.Set("Sec-Fetch-Mode", "navigate")
	req.Header.Set("Accept", "text/html")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)

	if rec.Code != http.StatusFound {
		t.Fatalf("status = %d, want 302 (%s)", rec.Code, outcomeOf(rec.Code, rec.Header()))
	}
	loc, err := url.Parse(rec.Header().Get("Location"))
	if err != nil {
		t.Fatalf("Location: %v", err)
	}
	if loc.Host != "app.example.com" || loc.Path != "/oauth2/start" {
		t.Errorf("Location = %s", loc)
	}
	q := loc.Query()
	if got := q.Get("rd"); !strings.Contains(got, "/admin/users?page=2") {
		t.Errorf("rd = %q, want the original URL", got)
	}
	if got := q.Get("acr_values"); !strings.Contains(got, acrMFA) {
		t.Errorf("acr_values = %q, want it to contain %s", got, acrMFA)
	}
	if got := q.Get("max_age"); got != "600" {
		t.Errorf("max_age = %q, want 600", got)
	}
}

// TestInterpretedConcurrency calls one interpreted middleware from many
// goroutines at once (run with -race), mixing every sample request.
func TestInterpretedConcurrency(t *testing.T) {
	h := interpretedHandler(t, representativeConfig(t))
	reqs := sampleRequests(t)

	const workers, rounds = 16, 3
	errs := make(chan string, workers*rounds*len(reqs))
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < rounds*len(reqs); i++ {
				r := reqs[(i+w)%len(reqs)]
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, r.build())
				if rec.Code != r.want {
					errs <- r.name + ": " + outcomeOf(rec.Code, rec.Header()).String()
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)

	n := 0
	for e := range errs {
		if n < 10 {
			t.Error(e)
		}
		n++
	}
	if n > 0 {
		t.Errorf("%d of %d concurrent requests had the wrong status", n, workers*rounds*len(reqs))
	}
}
