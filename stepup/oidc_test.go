package stepup

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// rpKey is the fake provider's signing key, made once per package run
// (RSA generation is slow, doubly so under Yaegi).
var rpKey *rsa.PrivateKey

func rpSigningKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	if rpKey == nil {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		rpKey = k
	}
	return rpKey
}

// signRPToken signs claims as an RS256 JWT with kid "rp1".
func signRPToken(t *testing.T, claims map[string]interface{}) string {
	t.Helper()
	h, _ := json.Marshal(map[string]interface{}{"alg": "RS256", "kid": "rp1", "typ": "JWT"})
	p, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p)
	digest := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, rpSigningKey(t), crypto.SHA256, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// fakeIdP is an OpenID provider whose behaviour each case sets.
type fakeIdP struct {
	srv *httptest.Server

	mu              sync.Mutex
	discoveryIssuer string // issuer in the discovery document
	discoveryStatus int
	noEndSession    bool
	delay           time.Duration // before answering discovery and token requests
	tokenStatus     int
	tokenBody       string // raw token endpoint body; empty: built from idToken
	idToken         string
	tokenType       string
	discoveryHits   int
	tokenForm       url.Values
	tokenAuth       string // Authorization header seen by the token endpoint
}

func newFakeIdP(t *testing.T) *fakeIdP {
	t.Helper()
	p := &fakeIdP{discoveryStatus: http.StatusOK, tokenStatus: http.StatusOK, tokenType: "Bearer"}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	p.discoveryIssuer = p.srv.URL
	srv := p.srv
	t.Cleanup(func() { srv.Close() })
	return p
}

func (p *fakeIdP) set(f func(p *fakeIdP)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(p)
}

func (p *fakeIdP) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	delay := p.delay
	p.mu.Unlock()
	if delay > 0 && r.URL.Path != "/jwks" {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	switch r.URL.Path {
	case "/.well-known/openid-configuration":
		p.discoveryHits++
		w.WriteHeader(p.discoveryStatus)
		doc := map[string]interface{}{
			"issuer":                 p.discoveryIssuer,
			"authorization_endpoint": p.srv.URL + "/authorize?tenant=t1",
			"token_endpoint":         p.srv.URL + "/token",
			"jwks_uri":               p.srv.URL + "/jwks",
		}
		if !p.noEndSession {
			doc["end_session_endpoint"] = p.srv.URL + "/logout"
		}
		_ = json.NewEncoder(w).Encode(doc)
	case "/jwks":
		if rpKey == nil {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		k := rpKey.PublicKey
		jwk := map[string]interface{}{
			"kty": "RSA", "kid": "rp1", "alg": "RS256", "use": "sig",
			"n": base64.RawURLEncoding.EncodeToString(k.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes()),
		}
		_ = json.NewEncoder(w).Encode(map[string]interface{}{"keys": []interface{}{jwk}})
	case "/token":
		_ = r.ParseForm()
		p.tokenForm = r.PostForm
		p.tokenAuth = r.Header.Get("Authorization")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(p.tokenStatus)
		body := p.tokenBody
		if body == "" {
			b, _ := json.Marshal(map[string]interface{}{
				"access_token": "at", "token_type": p.tokenType, "id_token": p.idToken,
			})
			body = string(b)
		}
		_, _ = w.Write([]byte(body))
	default:
		http.NotFound(w, r)
	}
}

// newTestRP returns a relying party for p with discovery, basic client auth.
func newTestRP(t *testing.T, p *fakeIdP, modify func(o *RelyingPartyOptions)) *RelyingParty {
	t.Helper()
	o := RelyingPartyOptions{
		Issuer:       p.srv.URL,
		ClientID:     "client-1",
		ClientSecret: "secret-1",
		Timeout:      2 * time.Second,
		Leeway:       time.Minute,
		Now:          func() time.Time { return flowNow },
	}
	if modify != nil {
		modify(&o)
	}
	rp, err := NewRelyingParty(o)
	if err != nil {
		t.Fatal(err)
	}
	return rp
}

func TestNewRelyingParty(t *testing.T) {
	tests := []struct {
		name   string
		modify func(o *RelyingPartyOptions)
		want   bool // constructed
	}{
		{name: "minimal", modify: func(o *RelyingPartyOptions) {}, want: true},
		{name: "public client", modify: func(o *RelyingPartyOptions) { o.ClientSecret = "" }, want: true},
		{name: "post", modify: func(o *RelyingPartyOptions) { o.ClientAuthMethod = ClientSecretPost }, want: true},
		{name: "no issuer", modify: func(o *RelyingPartyOptions) { o.Issuer = "" }, want: false},
		{name: "issuer not a URL", modify: func(o *RelyingPartyOptions) { o.Issuer = "idp.example" }, want: false},
		{name: "no client", modify: func(o *RelyingPartyOptions) { o.ClientID = "" }, want: false},
		{name: "bad token URL", modify: func(o *RelyingPartyOptions) { o.TokenURL = "ftp://x/token" }, want: false},
		{name: "basic without secret", modify: func(o *RelyingPartyOptions) {
			o.ClientSecret = ""
			o.ClientAuthMethod = ClientSecretBasic
		}, want: false},
		{name: "none with secret", modify: func(o *RelyingPartyOptions) { o.ClientAuthMethod = ClientAuthNone }, want: false},
		{name: "unknown method", modify: func(o *RelyingPartyOptions) { o.ClientAuthMethod = "private_key_jwt" }, want: false},
		{name: "bad scope", modify: func(o *RelyingPartyOptions) { o.Scopes = []string{"a b"} }, want: false},
		{name: "extra param", modify: func(o *RelyingPartyOptions) { o.ExtraAuthParams = map[string]string{"ui_locales": "fr"} }, want: true},
		{name: "extra overrides state", modify: func(o *RelyingPartyOptions) { o.ExtraAuthParams = map[string]string{"state": "x"} }, want: false},
		{name: "extra form_post", modify: func(o *RelyingPartyOptions) { o.ExtraAuthParams = map[string]string{"response_mode": "form_post"} }, want: false},
		{name: "alg none", modify: func(o *RelyingPartyOptions) { o.IDTokenAlgorithms = []string{"none"} }, want: false},
	}
	for _, tt := range tests {
		o := RelyingPartyOptions{Issuer: "https://idp.example", ClientID: "c", ClientSecret: "s"}
		tt.modify(&o)
		rp, err := NewRelyingParty(o)
		if got := err == nil && rp != nil; got != tt.want {
			t.Errorf("%s: constructed = %v (err %v), want %v", tt.name, got, err, tt.want)
		}
	}
}

func TestAuthorizationRequestURL(t *testing.T) {
	f := newTestFlow(t, flowNow) // acr urn:acr:mfa, max_age 0
	plain, err := NewLoginFlow("/", nil, 0, false, "", flowNow, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	explicit := func(o *RelyingPartyOptions) {
		o.AuthorizationURL = "https://idp.example/auth?tenant=t1&client_id=evil"
		o.TokenURL = "https://idp.example/token"
		o.Scopes = []string{"profile", "openid", "email", "profile"}
		o.ExtraAuthParams = map[string]string{"ui_locales": "fr"}
	}
	essential := func(o *RelyingPartyOptions) {
		explicit(o)
		o.EssentialACRClaims = true
	}
	aged, err := NewLoginFlow("/", []string{"urn:acr:mfa"}, 10*time.Minute, true, "", flowNow, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	stale := *aged
	stale.Reauthenticate = true
	p := newFakeIdP(t) // for a relying party built from discovery

	tests := []struct {
		name   string
		modify func(o *RelyingPartyOptions)
		flow   *LoginFlow
		hint   string
		want   map[string]string // "" = absent
	}{
		{name: "step-up with freshness", modify: explicit, flow: f, hint: "alice", want: map[string]string{
			"response_type": "code", "client_id": "client-1", "redirect_uri": "https://app.example/cb",
			"scope": "openid profile email", "state": f.State, "nonce": f.Nonce,
			"code_challenge": f.CodeChallenge(), "code_challenge_method": "S256",
			"acr_values": "urn:acr:mfa", "max_age": "0", "prompt": "login", "login_hint": "alice",
			"ui_locales": "fr", "tenant": "t1", "claims": "",
		}},
		{name: "no step-up parameters", modify: explicit, flow: plain, want: map[string]string{
			"acr_values": "", "max_age": "", "prompt": "", "login_hint": "", "claims": "", "state": plain.State,
		}},
		{name: "essential acr claim", modify: essential, flow: f, want: map[string]string{
			"claims": `{"id_token":{"acr":{"essential":true,"value":"urn:acr:mfa"}}}`,
		}},
		{name: "essential acrs claim for Entra", modify: func(o *RelyingPartyOptions) {
			essential(o)
			o.ACRClaim = "acrs"
		}, flow: f, want: map[string]string{
			"claims": `{"id_token":{"acrs":{"essential":true,"value":"urn:acr:mfa"}}}`,
		}},
		{name: "essential without acr", modify: essential, flow: plain, want: map[string]string{"claims": ""}},
		{name: "max age from a fresh weaker login", modify: explicit, flow: aged, want: map[string]string{
			"max_age": "600", "prompt": "", "acr_values": "urn:acr:mfa",
		}},
		{name: "max age after a too old login", modify: explicit, flow: &stale, want: map[string]string{
			"max_age": "600", "prompt": "login",
		}},
		{name: "discovered endpoint", modify: nil, flow: plain, want: map[string]string{
			"tenant": "t1", "scope": "openid", "response_type": "code",
		}},
	}
	for _, tt := range tests {
		rp := newTestRP(t, p, tt.modify)
		raw, err := rp.AuthorizationRequestURL(context.Background(), tt.flow, "https://app.example/cb", tt.hint)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		for k, want := range tt.want {
			if len(q[k]) > 1 {
				t.Errorf("%s: %s sent %d times", tt.name, k, len(q[k]))
			}
			if got := q.Get(k); got != want {
				t.Errorf("%s: %s = %q, want %q", tt.name, k, got, want)
			}
		}
	}
}

func TestEndSessionURL(t *testing.T) {
	p := newFakeIdP(t)
	rp := newTestRP(t, p, nil)
	raw, err := rp.EndSessionURL(context.Background(), "idt", "https://app.example/")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(raw)
	q := u.Query()
	if u.Path != "/logout" || q.Get("id_token_hint") != "idt" || q.Get("client_id") != "client-1" ||
		q.Get("post_logout_redirect_uri") != "https://app.example/" {
		t.Errorf("EndSessionURL = %s", raw)
	}

	noLogout := newFakeIdP(t)
	noLogout.set(func(p *fakeIdP) { p.noEndSession = true })
	if raw, err := newTestRP(t, noLogout, nil).EndSessionURL(context.Background(), "", ""); raw != "" || err != nil {
		t.Errorf("without endpoint: %q, %v", raw, err)
	}

	explicit := newTestRP(t, p, func(o *RelyingPartyOptions) {
		o.AuthorizationURL = "https://idp.example/auth"
		o.TokenURL = "https://idp.example/token"
	})
	if raw, err := explicit.EndSessionURL(context.Background(), "x", ""); raw != "" || err != nil {
		t.Errorf("explicit endpoints, none for logout: %q, %v", raw, err)
	}
}

// idClaimsFor returns valid ID token claims for rp's client and nonce.
func idClaimsFor(p *fakeIdP, nonce string) map[string]interface{} {
	return map[string]interface{}{
		"iss": p.srv.URL, "sub": "alice", "aud": "client-1", "nonce": nonce,
		"iat": flowNow.Unix(), "exp": flowNow.Unix() + 300, "auth_time": flowNow.Unix() - 5,
		"acr": "urn:acr:mfa", "amr": []string{"pwd", "otp"},
	}
}

func TestRelyingPartyVerifyIDToken(t *testing.T) {
	p := newFakeIdP(t)
	rp := newTestRP(t, p, nil)
	tests := []struct {
		name   string
		modify func(c map[string]interface{})
		nonce  string
		want   error
	}{
		{name: "valid", modify: func(c map[string]interface{}) {}, want: nil},
		{name: "aud array with azp", modify: func(c map[string]interface{}) {
			c["aud"] = []string{"client-1", "api"}
			c["azp"] = "client-1"
		}, want: nil},
		{name: "single aud array without azp", modify: func(c map[string]interface{}) { c["aud"] = []string{"client-1"} }, want: nil},
		{name: "wrong nonce", modify: func(c map[string]interface{}) { c["nonce"] = "other" }, want: ErrNonceInvalid},
		{name: "missing nonce", modify: func(c map[string]interface{}) { delete(c, "nonce") }, want: ErrNonceInvalid},
		{name: "flow without nonce", modify: func(c map[string]interface{}) { c["nonce"] = "" }, nonce: "-", want: ErrNonceInvalid},
		{name: "azp mismatch", modify: func(c map[string]interface{}) { c["azp"] = "client-2" }, want: ErrAudienceInvalid},
		{name: "aud array without azp", modify: func(c map[string]interface{}) { c["aud"] = []string{"client-1", "api"} }, want: ErrAudienceInvalid},
		{name: "another audience", modify: func(c map[string]interface{}) { c["aud"] = "client-2" }, want: ErrAudienceInvalid},
		{name: "another issuer", modify: func(c map[string]interface{}) { c["iss"] = "https://evil.example" }, want: ErrIssuerInvalid},
		{name: "missing iat", modify: func(c map[string]interface{}) { delete(c, "iat") }, want: ErrTokenMalformed},
		{name: "missing sub", modify: func(c map[string]interface{}) { delete(c, "sub") }, want: ErrTokenMalformed},
		{name: "expired", modify: func(c map[string]interface{}) { c["exp"] = flowNow.Unix() - 120 }, want: ErrExpired},
	}
	for _, tt := range tests {
		nonce := "n-123"
		c := idClaimsFor(p, nonce)
		tt.modify(c)
		if tt.nonce == "-" {
			nonce = ""
		}
		got, err := rp.VerifyIDToken(context.Background(), signRPToken(t, c), nonce)
		if tt.want == nil {
			if err != nil || got.Subject != "alice" || got.ACR != "urn:acr:mfa" {
				t.Errorf("%s: claims %+v, err %v", tt.name, got, err)
			}
			continue
		}
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestCallbackError(t *testing.T) {
	tests := []struct {
		name     string
		query    string
		want     error // nil: no error
		assured  bool  // also ErrACRInsufficient
		contains string
	}{
		{name: "success", query: "code=abc&state=s"},
		{name: "access denied", query: "error=access_denied&error_description=User+cancelled",
			want: ErrProviderRejected, contains: "access_denied: User cancelled"},
		{name: "unmet requirements", query: "error=unmet_authentication_requirements",
			want: ErrProviderRejected, assured: true, contains: "unmet_authentication_requirements"},
		{name: "login required", query: "error=login_required", want: ErrProviderRejected},
		{name: "sanitised", query: "error=x%22%0A%5C%1By&error_description=" + strings.Repeat("d", 500),
			want: ErrProviderRejected, contains: "xy: ddd"},
	}
	for _, tt := range tests {
		q, _ := url.ParseQuery(tt.query)
		err := CallbackError(q)
		if tt.want == nil {
			if err != nil {
				t.Errorf("%s: err = %v", tt.name, err)
			}
			continue
		}
		if !errors.Is(err, tt.want) || errors.Is(err, ErrACRInsufficient) != tt.assured {
			t.Errorf("%s: err = %v", tt.name, err)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, tt.contains) || len(msg) > 500 || strings.ContainsAny(msg, "\"\n\\\x1b") {
			t.Errorf("%s: message %q", tt.name, msg)
		}
	}
}
