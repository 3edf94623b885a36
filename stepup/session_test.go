package stepup

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

var sessionNow = time.Unix(1700000000, 0)

func newTestSessionIssuer(t *testing.T, opts SessionOptions) *SessionIssuer {
	t.Helper()
	if opts.Issuer == "" {
		opts.Issuer = "urn:traefikstepup:session:test"
	}
	if opts.Audience == "" {
		opts.Audience = "traefikstepup"
	}
	if opts.Secret == nil {
		opts.Secret = sealerSecret(1)
	}
	if opts.Now == nil {
		opts.Now = func() time.Time { return sessionNow }
	}
	s, err := NewSessionIssuer(opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func sessionVerifier(t *testing.T, s *SessionIssuer, now time.Time) *Verifier {
	t.Helper()
	v, err := NewVerifier(VerifierOptions{
		Issuers:   []IssuerOptions{s.VerifierIssuer()},
		CacheSize: -1,
		Now:       func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func idClaimsFixture() *Claims {
	return &Claims{
		Issuer:    "https://idp.example",
		Subject:   "alice",
		Audience:  []string{"client"},
		ExpiresAt: sessionNow.Add(time.Minute),
		AuthTime:  sessionNow.Add(-30 * time.Second),
		ACR:       "urn:acr:mfa",
		ACRs:      []string{"urn:acr:mfa"},
		AMR:       []string{"pwd", "otp"},
		Raw: map[string]interface{}{
			"email":  "alice@example.com",
			"groups": []interface{}{"admins", "ops"},
			"big":    strings.Repeat("x", 2000),
			"bigger": strings.Repeat("y", 3000),
		},
	}
}

func TestNewSessionIssuer(t *testing.T) {
	valid := SessionOptions{Issuer: "urn:s", Audience: "a", Secret: sealerSecret(1)}
	tests := []struct {
		name   string
		modify func(o *SessionOptions)
		want   bool // constructed
	}{
		{name: "valid", modify: func(o *SessionOptions) {}, want: true},
		{name: "no issuer", modify: func(o *SessionOptions) { o.Issuer = "" }, want: false},
		{name: "no audience", modify: func(o *SessionOptions) { o.Audience = "" }, want: false},
		{name: "short secret", modify: func(o *SessionOptions) { o.Secret = []byte("0123456789") }, want: false},
		{name: "short previous", modify: func(o *SessionOptions) { o.PreviousSecrets = [][]byte{[]byte("x")} }, want: false},
		{name: "reserved extra claim", modify: func(o *SessionOptions) { o.ExtraClaims = []string{"email", "exp"} }, want: false},
		{name: "empty extra claim", modify: func(o *SessionOptions) { o.ExtraClaims = []string{""} }, want: false},
		{name: "acr claim as extra", modify: func(o *SessionOptions) { o.ACRClaim = "acrs"; o.ExtraClaims = []string{"acrs"} }, want: false},
		{name: "registered acr claim", modify: func(o *SessionOptions) { o.ACRClaim = "sub" }, want: false},
	}
	for _, tt := range tests {
		o := valid
		tt.modify(&o)
		s, err := NewSessionIssuer(o)
		if got := err == nil && s != nil; got != tt.want {
			t.Errorf("%s: constructed = %v (err %v), want %v", tt.name, got, err, tt.want)
		}
	}
}

func TestSessionMintVerify(t *testing.T) {
	s := newTestSessionIssuer(t, SessionOptions{
		Lifetime:    2 * time.Hour,
		ExtraClaims: []string{"email", "groups", "missing"},
	})
	token, exp, err := s.Mint(idClaimsFixture())
	if err != nil {
		t.Fatal(err)
	}
	// The session outlives the ID token's exp: it is the site's own decision.
	c, err := sessionVerifier(t, s, sessionNow.Add(90*time.Minute)).Verify(context.Background(), token)
	if err != nil {
		t.Fatal(err)
	}
	groups, _ := c.Raw["groups"].([]interface{})
	tests := []struct {
		name string
		got  any
		want any
	}{
		{name: "expiry", got: exp.Unix(), want: sessionNow.Add(2 * time.Hour).Unix()},
		{name: "exp claim", got: c.ExpiresAt.Unix(), want: exp.Unix()},
		{name: "iat", got: c.IssuedAt.Unix(), want: sessionNow.Unix()},
		{name: "issuer", got: c.Issuer, want: "urn:traefikstepup:session:test"},
		{name: "audience", got: strings.Join(c.Audience, ","), want: "traefikstepup"},
		{name: "subject", got: c.Subject, want: "alice"},
		{name: "acr", got: c.ACR, want: "urn:acr:mfa"},
		{name: "amr", got: strings.Join(c.AMR, ","), want: "pwd,otp"},
		{name: "auth_time", got: c.AuthTime.Unix(), want: sessionNow.Unix() - 30},
		{name: "email", got: c.Raw["email"], want: "alice@example.com"},
		{name: "groups", got: len(groups), want: 2},
		{name: "no nonce", got: c.Nonce, want: ""},
		{name: "missing extra absent", got: c.Raw["missing"] == nil, want: true},
		{name: "big not copied", got: c.Raw["big"] == nil, want: true},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
		}
	}

	if _, err := sessionVerifier(t, s, exp.Add(time.Second)).Verify(context.Background(), token); !errors.Is(err, ErrExpired) {
		t.Errorf("after expiry: err = %v, want ErrExpired", err)
	}
}

func TestSessionHeader(t *testing.T) {
	s := newTestSessionIssuer(t, SessionOptions{})
	token, _, err := s.Mint(idClaimsFixture())
	if err != nil {
		t.Fatal(err)
	}
	h, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var header map[string]interface{}
	if err := json.Unmarshal(h, &header); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(sealerSecret(1))
	if header["alg"] != "HS256" || header["kid"] != hex.EncodeToString(sum[:])[:8] {
		t.Errorf("header = %v", header)
	}
}

func TestSessionRotation(t *testing.T) {
	current := newTestSessionIssuer(t, SessionOptions{Secret: sealerSecret(1), PreviousSecrets: [][]byte{sealerSecret(2)}})
	old := newTestSessionIssuer(t, SessionOptions{Secret: sealerSecret(2)})
	unknown := newTestSessionIssuer(t, SessionOptions{Secret: sealerSecret(3)})
	otherIssuer := newTestSessionIssuer(t, SessionOptions{Issuer: "urn:other", Secret: sealerSecret(1)})
	v := sessionVerifier(t, current, sessionNow)

	tests := []struct {
		name   string
		issuer *SessionIssuer
		want   bool // verifies
	}{
		{name: "current secret", issuer: current, want: true},
		{name: "previous secret", issuer: old, want: true},
		{name: "unknown secret", issuer: unknown, want: false},
		{name: "other session issuer", issuer: otherIssuer, want: false},
	}
	for _, tt := range tests {
		token, _, err := tt.issuer.Mint(idClaimsFixture())
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.Verify(context.Background(), token)
		if got := err == nil; got != tt.want {
			t.Errorf("%s: verified = %v (err %v), want %v", tt.name, got, err, tt.want)
		}
	}
}

func TestSessionSize(t *testing.T) {
	tests := []struct {
		name    string
		maxSize int
		extras  []string
		kept    []string
		dropped []string
		err     error
	}{
		{name: "everything fits", maxSize: 8000, extras: []string{"email", "big", "bigger"},
			kept: []string{"email", "big", "bigger"}},
		{name: "largest dropped first", maxSize: 3800, extras: []string{"email", "big", "bigger"},
			kept: []string{"email", "big"}, dropped: []string{"bigger"}},
		{name: "both large dropped", maxSize: 1000, extras: []string{"bigger", "email", "big"},
			kept: []string{"email"}, dropped: []string{"big", "bigger"}},
		{name: "too large without extras", maxSize: 100, extras: []string{"email"}, err: ErrSessionTooLarge},
	}
	for _, tt := range tests {
		s := newTestSessionIssuer(t, SessionOptions{MaxSize: tt.maxSize, ExtraClaims: tt.extras})
		token, _, err := s.Mint(idClaimsFixture())
		if tt.err != nil {
			if !errors.Is(err, tt.err) {
				t.Errorf("%s: err = %v, want %v", tt.name, err, tt.err)
			}
			continue
		}
		if err != nil || len(token) > tt.maxSize {
			t.Errorf("%s: %d bytes, err %v", tt.name, len(token), err)
			continue
		}
		c, err := sessionVerifier(t, s, sessionNow).Verify(context.Background(), token)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(tt.kept); i++ {
			if c.Raw[tt.kept[i]] == nil {
				t.Errorf("%s: %s dropped", tt.name, tt.kept[i])
			}
		}
		for i := 0; i < len(tt.dropped); i++ {
			if c.Raw[tt.dropped[i]] != nil {
				t.Errorf("%s: %s kept", tt.name, tt.dropped[i])
			}
		}
	}
}

func TestSessionACRClaim(t *testing.T) {
	s := newTestSessionIssuer(t, SessionOptions{ACRClaim: "acrs"})
	id := idClaimsFixture()
	id.ACR = ""
	id.ACRs = []string{"c1", "c2"}
	token, _, err := s.Mint(id)
	if err != nil {
		t.Fatal(err)
	}
	c, err := sessionVerifier(t, s, sessionNow).Verify(context.Background(), token)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.ACRs, ",") != "c1,c2" || c.ACR != "" {
		t.Errorf("ACR %q ACRs %v, want the acrs array back", c.ACR, c.ACRs)
	}
}

func TestSessionMintRefusesNoSubject(t *testing.T) {
	s := newTestSessionIssuer(t, SessionOptions{})
	id := idClaimsFixture()
	id.Subject = ""
	if _, _, err := s.Mint(id); err == nil {
		t.Error("minted a session without subject")
	}
	if _, _, err := s.Mint(nil); err == nil {
		t.Error("minted a session from nil claims")
	}
}

func TestSessionNoAuthTime(t *testing.T) {
	s := newTestSessionIssuer(t, SessionOptions{})
	id := idClaimsFixture()
	id.AuthTime = time.Time{}
	id.AMR = nil
	token, _, err := s.Mint(id)
	if err != nil {
		t.Fatal(err)
	}
	c, err := sessionVerifier(t, s, sessionNow).Verify(context.Background(), token)
	if err != nil {
		t.Fatal(err)
	}
	if !c.AuthTime.IsZero() || len(c.AMR) != 0 {
		t.Errorf("auth_time %v amr %v invented", c.AuthTime, c.AMR)
	}
}
