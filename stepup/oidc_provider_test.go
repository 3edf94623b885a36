package stepup

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestDiscovery(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(p *fakeIdP)
		modify func(o *RelyingPartyOptions)
		want   error
		token  string // expected token endpoint path, when no error
	}{
		{name: "valid", setup: func(p *fakeIdP) {}, token: "/token"},
		{name: "server error", setup: func(p *fakeIdP) { p.discoveryStatus = 500 }, want: ErrProviderUnavailable},
		{name: "not found", setup: func(p *fakeIdP) { p.discoveryStatus = 404 }, want: ErrProviderUnavailable},
		{name: "issuer mismatch", setup: func(p *fakeIdP) { p.discoveryIssuer = "https://evil.example" }, want: ErrProviderUnavailable},
		{name: "issuer with trailing slash", setup: func(p *fakeIdP) { p.discoveryIssuer += "/" }, want: ErrProviderUnavailable},
		{name: "slow", setup: func(p *fakeIdP) { p.delay = 300 * time.Millisecond }, modify: func(o *RelyingPartyOptions) {
			o.Timeout = 50 * time.Millisecond
		}, want: ErrProviderUnavailable},
		{name: "explicit token endpoint wins", setup: func(p *fakeIdP) {}, modify: func(o *RelyingPartyOptions) {
			o.TokenURL = "https://idp.example/explicit-token"
		}, token: "/explicit-token"},
	}
	for _, tt := range tests {
		p := newFakeIdP(t)
		p.set(tt.setup)
		rp := newTestRP(t, p, tt.modify)
		ep, err := rp.endpoints(context.Background())
		if tt.want != nil {
			if !errors.Is(err, tt.want) {
				t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		u, _ := url.Parse(ep.token)
		if u.Path != tt.token {
			t.Errorf("%s: token endpoint %s, want path %s", tt.name, ep.token, tt.token)
		}
	}
}

func TestDiscoveryCaching(t *testing.T) {
	p := newFakeIdP(t)
	p.set(func(p *fakeIdP) { p.discoveryStatus = 500 })
	now := flowNow
	rp := newTestRP(t, p, func(o *RelyingPartyOptions) { o.Now = func() time.Time { return now } })
	ctx := context.Background()
	f := newTestFlow(t, now)

	steps := []struct {
		name  string
		setup func(p *fakeIdP)
		after time.Duration
		ok    bool
		hits  int
	}{
		{name: "first failure", ok: false, hits: 1},
		{name: "failure remembered", ok: false, hits: 1},
		{name: "recovered but within retry delay", setup: func(p *fakeIdP) { p.discoveryStatus = 200 }, ok: false, hits: 1},
		{name: "retried after the delay", after: discoveryRetry, ok: true, hits: 2},
		{name: "success kept", setup: func(p *fakeIdP) { p.discoveryStatus = 500 }, after: time.Hour, ok: true, hits: 2},
	}
	for _, st := range steps {
		if st.setup != nil {
			p.set(st.setup)
		}
		now = now.Add(st.after)
		_, err := rp.AuthorizationRequestURL(ctx, f, "https://app.example/cb", "")
		if (err == nil) != st.ok {
			t.Errorf("%s: err = %v", st.name, err)
		}
		hits := 0
		p.set(func(p *fakeIdP) { hits = p.discoveryHits })
		if hits != st.hits {
			t.Errorf("%s: %d discovery requests, want %d", st.name, hits, st.hits)
		}
	}
}

func TestDiscoveryCancelledCallerNotRemembered(t *testing.T) {
	p := newFakeIdP(t)
	rp := newTestRP(t, p, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := rp.endpoints(ctx); !errors.Is(err, ErrProviderUnavailable) {
		t.Fatalf("cancelled: err = %v", err)
	}
	if _, err := rp.endpoints(context.Background()); err != nil {
		t.Errorf("after a cancelled caller: %v", err)
	}
}

func TestExchange(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(p *fakeIdP)
		modify  func(o *RelyingPartyOptions)
		code    string
		want    error
		message string // must appear in the error
	}{
		{name: "valid", setup: func(p *fakeIdP) {}},
		{name: "lower-case bearer", setup: func(p *fakeIdP) { p.tokenType = "bearer" }},
		{name: "no token type", setup: func(p *fakeIdP) { p.tokenBody = `{"id_token":"header.payload.sig"}` }},
		{name: "invalid grant", setup: func(p *fakeIdP) {
			p.tokenStatus = 400
			p.tokenBody = `{"error":"invalid_grant","error_description":"code expired"}`
		}, want: ErrProviderRejected, message: "invalid_grant: code expired"},
		{name: "unauthorized client, no JSON", setup: func(p *fakeIdP) {
			p.tokenStatus = 401
			p.tokenBody = "nope"
		}, want: ErrProviderRejected, message: "status 401"},
		{name: "error in a 200", setup: func(p *fakeIdP) { p.tokenBody = `{"error":"invalid_request"}` },
			want: ErrProviderRejected, message: "invalid_request"},
		{name: "server error", setup: func(p *fakeIdP) { p.tokenStatus = 502 }, want: ErrProviderUnavailable},
		{name: "not JSON", setup: func(p *fakeIdP) { p.tokenBody = "<html>" }, want: ErrProviderUnavailable},
		{name: "missing id_token", setup: func(p *fakeIdP) { p.idToken = "" }, want: ErrProviderUnavailable},
		{name: "token type mismatch", setup: func(p *fakeIdP) { p.tokenType = "DPoP" }, want: ErrProviderUnavailable},
		{name: "slow", setup: func(p *fakeIdP) { p.delay = 300 * time.Millisecond }, modify: func(o *RelyingPartyOptions) {
			o.TokenURL = "" // set below from the server
			o.Timeout = 50 * time.Millisecond
		}, want: ErrProviderUnavailable},
		{name: "oversized code", setup: func(p *fakeIdP) {}, code: strings.Repeat("c", maxCodeSize+1), want: ErrProviderRejected},
		{name: "empty code", setup: func(p *fakeIdP) {}, code: "-", want: ErrProviderRejected},
	}
	for _, tt := range tests {
		p := newFakeIdP(t)
		p.set(func(p *fakeIdP) { p.idToken = "header.payload.sig" })
		p.set(tt.setup)
		modify := func(o *RelyingPartyOptions) {
			o.AuthorizationURL = p.srv.URL + "/authorize"
			o.TokenURL = p.srv.URL + "/token"
			if tt.modify != nil {
				tt.modify(o)
				o.TokenURL = p.srv.URL + "/token"
			}
		}
		rp := newTestRP(t, p, modify)
		code := "the-code"
		if tt.code == "-" {
			code = ""
		} else if tt.code != "" {
			code = tt.code
		}
		raw, err := rp.Exchange(context.Background(), code, "the-verifier", "https://app.example/cb")
		if tt.want == nil {
			if err != nil || raw != "header.payload.sig" {
				t.Errorf("%s: %q, %v", tt.name, raw, err)
			}
			continue
		}
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, tt.message) || strings.Contains(msg, "secret-1") ||
			strings.Contains(msg, "the-code") {
			t.Errorf("%s: message %q", tt.name, msg)
		}
	}
}

func TestExchangeClientAuth(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		id, secret string
		wantBasic  string // decoded Authorization, "" = none
		wantForm   map[string]string
	}{
		{name: "basic", method: "", id: "client-1", secret: "secret-1", wantBasic: "client-1:secret-1",
			wantForm: map[string]string{"client_id": "", "client_secret": ""}},
		{name: "basic form-urlencodes first", method: ClientSecretBasic, id: "app:1", secret: "p%ss w+rd:é",
			wantBasic: "app%3A1:p%25ss+w%2Brd%3A%C3%A9"},
		{name: "post", method: ClientSecretPost, id: "app:1", secret: "p%ss w+rd",
			wantForm: map[string]string{"client_id": "app:1", "client_secret": "p%ss w+rd"}},
		{name: "public client", method: "", id: "app", secret: "",
			wantForm: map[string]string{"client_id": "app", "client_secret": ""}},
	}
	for _, tt := range tests {
		p := newFakeIdP(t)
		p.set(func(p *fakeIdP) { p.idToken = "h.p.s" })
		rp := newTestRP(t, p, func(o *RelyingPartyOptions) {
			o.ClientID, o.ClientSecret, o.ClientAuthMethod = tt.id, tt.secret, tt.method
		})
		if _, err := rp.Exchange(context.Background(), "the-code", "the-verifier", "https://app.example/cb"); err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		var auth string
		var form url.Values
		p.set(func(p *fakeIdP) { auth, form = p.tokenAuth, p.tokenForm })

		gotBasic := ""
		if strings.HasPrefix(auth, "Basic ") {
			b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(auth, "Basic "))
			if err != nil {
				t.Fatal(err)
			}
			gotBasic = string(b)
		}
		if gotBasic != tt.wantBasic {
			t.Errorf("%s: basic credentials %q, want %q", tt.name, gotBasic, tt.wantBasic)
		}
		want := map[string]string{
			"grant_type": "authorization_code", "code": "the-code",
			"code_verifier": "the-verifier", "redirect_uri": "https://app.example/cb",
		}
		for k, v := range tt.wantForm {
			want[k] = v
		}
		for k, v := range want {
			if got := form.Get(k); got != v {
				t.Errorf("%s: form %s = %q, want %q", tt.name, k, got, v)
			}
		}
	}
}

func TestExchangeOversizedResponse(t *testing.T) {
	p := newFakeIdP(t)
	p.set(func(p *fakeIdP) { p.tokenBody = `{"id_token":"` + strings.Repeat("a", maxProviderBody) + `"}` })
	rp := newTestRP(t, p, nil)
	if _, err := rp.Exchange(context.Background(), "c", "v", "https://app.example/cb"); !errors.Is(err, ErrProviderUnavailable) {
		t.Errorf("err = %v, want ErrProviderUnavailable", err)
	}
}

// TestLoginRoundTrip runs the whole browser loop against the fake provider:
// flow cookie, authorization URL, code exchange, ID token verification,
// session.
func TestLoginRoundTrip(t *testing.T) {
	p := newFakeIdP(t)
	rp := newTestRP(t, p, nil)
	now := flowNow
	cookies := newTestFlowCookies(t, &now)
	ctx := context.Background()

	f := newTestFlow(t, now)
	startW := httptest.NewRecorder()
	if err := cookies.Write(startW, httptest.NewRequest(http.MethodGet, "/admin?x=1", nil), f); err != nil {
		t.Fatal(err)
	}
	authURL, err := rp.AuthorizationRequestURL(ctx, f, "https://app.example/cb", "")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(authURL)
	state, nonce := u.Query().Get("state"), u.Query().Get("nonce")

	// The provider authenticates the user and redirects back with a code.
	p.set(func(p *fakeIdP) { p.idToken = signRPToken(t, idClaimsFor(p, nonce)) })
	cbReq := httptest.NewRequest(http.MethodGet, "/cb", nil)
	cbReq.AddCookie(startW.Result().Cookies()[0])
	taken, err := cookies.Take(httptest.NewRecorder(), cbReq, state)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := rp.Exchange(ctx, "the-code", taken.CodeVerifier, "https://app.example/cb")
	if err != nil {
		t.Fatal(err)
	}
	claims, err := rp.VerifyIDToken(ctx, raw, taken.Nonce)
	if err != nil {
		t.Fatal(err)
	}
	var form url.Values
	p.set(func(p *fakeIdP) { form = p.tokenForm })
	if (&LoginFlow{CodeVerifier: form.Get("code_verifier")}).CodeChallenge() != u.Query().Get("code_challenge") {
		t.Error("PKCE verifier does not match the challenge sent")
	}

	s := newTestSessionIssuer(t, SessionOptions{Now: func() time.Time { return now }})
	token, _, err := s.Mint(claims)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := sessionVerifier(t, s, now).Verify(ctx, token)
	if err != nil || sc.Subject != "alice" || sc.ACR != "urn:acr:mfa" || SafeReturnPath(taken.ReturnTo) != "/admin?x=1" {
		t.Errorf("session %+v, err %v, return %q", sc, err, taken.ReturnTo)
	}
}
