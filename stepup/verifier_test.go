package stepup

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testIssuer      = "https://idp.example"
	otherIssuer     = "https://other.example"
	testAudience    = "api"
	testLeeway      = 60 * time.Second
	testNowUnix     = 1700000000
	testCacheTokens = 4
)

var (
	hsSecret      = []byte("0123456789abcdef0123456789abcdef")
	hsOtherSecret = []byte("fedcba9876543210fedcba9876543210")
)

// signHS256 builds a compact JWS over header and claims with secret.
func signHS256(t testing.TB, header, claims map[string]interface{}, secret []byte) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(input))

	return input + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// validClaims returns claims that pass every check at testNowUnix.
func validClaims() map[string]interface{} {
	return map[string]interface{}{
		"iss": testIssuer, "sub": "alice", "aud": testAudience,
		"exp": testNowUnix + 300, "iat": testNowUnix - 10, "auth_time": testNowUnix - 20,
		"acr": "loa2", "amr": []string{"pwd", "otp"},
	}
}

// withClaim returns validClaims with name set to value, or removed when nil.
func withClaim(name string, value interface{}) map[string]interface{} {
	c := validClaims()
	if value == nil {
		delete(c, name)
	} else {
		c[name] = value
	}

	return c
}

// newTestVerifier returns a verifier for testIssuer (typ at+jwt, ACR claim
// acrs when asked) and otherIssuer, and a pointer to its clock.
func newTestVerifier(t testing.TB, cacheSize int) (*Verifier, *time.Time) {
	t.Helper()
	now := time.Unix(testNowUnix, 0)
	v, err := NewVerifier(VerifierOptions{
		Issuers: []IssuerOptions{
			{
				Issuer: testIssuer, Audience: []string{testAudience, "api2"},
				Algorithms: []string{"HS256"},
				Keys:       NewKeySet([]*Key{NewSecretKey(hsSecret)}, nil),
			},
			{
				Issuer: otherIssuer, Audience: []string{testAudience}, Algorithms: []string{"HS256"},
				TokenType: "at+jwt", ACRClaim: "acrs",
				Keys: NewKeySet([]*Key{NewSecretKey(hsOtherSecret)}, nil),
			},
		},
		Leeway:    testLeeway,
		CacheSize: cacheSize,
		Now:       func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}

	return v, &now
}

var hs256 = map[string]interface{}{"alg": "HS256"}

func TestVerify(t *testing.T) {
	v, _ := newTestVerifier(t, -1)
	otherClaims := withClaim("iss", otherIssuer)
	otherClaims["acrs"] = []string{"c1", "c2"}
	atJWT := map[string]interface{}{"alg": "HS256", "typ": "at+jwt"}

	tests := []struct {
		name    string
		token   string
		wantErr error
		wantACR string
	}{
		{name: "valid", token: signHS256(t, hs256, validClaims(), hsSecret), wantACR: "loa2"},
		{name: "aud array with one accepted", token: signHS256(t, hs256, withClaim("aud", []string{"x", "api2"}), hsSecret), wantACR: "loa2"},
		{name: "aud not accepted", token: signHS256(t, hs256, withClaim("aud", []string{"x"}), hsSecret), wantErr: ErrAudienceInvalid},
		{name: "aud missing", token: signHS256(t, hs256, withClaim("aud", nil), hsSecret), wantErr: ErrAudienceInvalid},
		{name: "exp missing", token: signHS256(t, hs256, withClaim("exp", nil), hsSecret), wantErr: ErrExpired},
		{name: "exp at leeway", token: signHS256(t, hs256, withClaim("exp", testNowUnix-60), hsSecret), wantACR: "loa2"},
		{name: "exp a second beyond leeway", token: signHS256(t, hs256, withClaim("exp", testNowUnix-61), hsSecret), wantErr: ErrExpired},
		{name: "exp string", token: signHS256(t, hs256, withClaim("exp", "soon"), hsSecret), wantErr: ErrTokenMalformed},
		{name: "nbf at leeway", token: signHS256(t, hs256, withClaim("nbf", testNowUnix+60), hsSecret), wantACR: "loa2"},
		{name: "nbf a second beyond leeway", token: signHS256(t, hs256, withClaim("nbf", testNowUnix+61), hsSecret), wantErr: ErrNotYetValid},
		{name: "iat at leeway", token: signHS256(t, hs256, withClaim("iat", testNowUnix+60), hsSecret), wantACR: "loa2"},
		{name: "iat in the future", token: signHS256(t, hs256, withClaim("iat", testNowUnix+61), hsSecret), wantErr: ErrIssuedInFuture},
		{name: "auth_time in the future", token: signHS256(t, hs256, withClaim("auth_time", testNowUnix+61), hsSecret), wantErr: ErrIssuedInFuture},
		{name: "unknown issuer", token: signHS256(t, hs256, withClaim("iss", "https://evil"), hsSecret), wantErr: ErrIssuerInvalid},
		{name: "issuer missing", token: signHS256(t, hs256, withClaim("iss", nil), hsSecret), wantErr: ErrIssuerInvalid},
		{name: "issuer differs in case", token: signHS256(t, hs256, withClaim("iss", "https://IDP.example"), hsSecret), wantErr: ErrIssuerInvalid},
		{name: "other issuer's key", token: signHS256(t, hs256, validClaims(), hsOtherSecret), wantErr: ErrSignatureInvalid},
		{name: "claiming other issuer with our key", token: signHS256(t, atJWT, otherClaims, hsSecret), wantErr: ErrSignatureInvalid},
		{name: "algorithm not allowed", token: signHS256(t, map[string]interface{}{"alg": "HS384"}, validClaims(), hsSecret), wantErr: ErrAlgorithmNotAllowed},
		{name: "alg none", token: signHS256(t, map[string]interface{}{"alg": "none"}, validClaims(), hsSecret), wantErr: ErrAlgorithmNotAllowed},
		{name: "garbage", token: "not.a.jwt", wantErr: ErrTokenMalformed},
		{name: "typ and acrs claim", token: signHS256(t, atJWT, otherClaims, hsOtherSecret), wantACR: "c1 c2"},
		{name: "typ with application prefix", token: signHS256(t, map[string]interface{}{"alg": "HS256", "typ": "application/AT+JWT"}, otherClaims, hsOtherSecret), wantACR: "c1 c2"},
		{name: "typ JWT refused", token: signHS256(t, map[string]interface{}{"alg": "HS256", "typ": "JWT"}, otherClaims, hsOtherSecret), wantErr: ErrTypeInvalid},
		{name: "typ missing refused", token: signHS256(t, hs256, otherClaims, hsOtherSecret), wantErr: ErrTypeInvalid},
	}
	for _, tt := range tests {
		c, err := v.Verify(context.Background(), tt.token)
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("%s: err = %v, want %v", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: unexpected error %v", tt.name, err)
			continue
		}
		if got := strings.Join(c.ACRs, " "); got != tt.wantACR {
			t.Errorf("%s: ACRs = %q, want %q", tt.name, got, tt.wantACR)
		}
	}
}

// TestValidate checks the claim checks without any signature.
func TestValidate(t *testing.T) {
	now := time.Unix(testNowUnix, 0)
	v := &Verifier{leeway: testLeeway}
	iss := &issuer{audience: stringSet([]string{"api"}), tokenType: mediaType("at+jwt")}
	skip := &issuer{skipAudience: true}
	at := Header{Typ: "at+jwt"}

	tests := []struct {
		name   string
		issuer *issuer
		header Header
		claims string
		want   error
	}{
		{name: "valid", issuer: iss, header: at, claims: `{"aud":"api","exp":1700000000}`},
		{name: "fractional exp within leeway", issuer: iss, header: at, claims: `{"aud":"api","exp":1699999940.5}`},
		{name: "fractional exp beyond leeway", issuer: iss, header: at, claims: `{"aud":"api","exp":1699999939.5}`, want: ErrExpired},
		{name: "audience check skipped", issuer: skip, claims: `{"aud":"other","exp":1700000000}`},
		{name: "no aud", issuer: iss, header: at, claims: `{"exp":1700000000}`, want: ErrAudienceInvalid},
		{name: "typ case-insensitive", issuer: iss, header: Header{Typ: "AT+JWT"}, claims: `{"aud":"api","exp":1700000000}`},
		{name: "typ wrong", issuer: iss, header: Header{Typ: "jwt"}, claims: `{"aud":"api","exp":1700000000}`, want: ErrTypeInvalid},
		{name: "typ unchecked", issuer: skip, header: Header{Typ: "anything"}, claims: `{"exp":1700000000}`},
		{name: "exp before epoch", issuer: skip, claims: `{"exp":-1}`, want: ErrExpired},
		{name: "exp zero is present", issuer: skip, claims: `{"exp":0}`, want: ErrExpired},
	}
	for _, tt := range tests {
		c, err := ParseClaims([]byte(tt.claims), "")
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		err = v.validate(tt.issuer, tt.header, c, now)
		if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("%s: validate = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestNewVerifierProblems(t *testing.T) {
	keys := NewKeySet(nil, nil)
	tests := []struct {
		name string
		opts VerifierOptions
		want []string
	}{
		{name: "no issuers", opts: VerifierOptions{}, want: []string{"issuers: at least one"}},
		{
			name: "everything missing",
			opts: VerifierOptions{Issuers: []IssuerOptions{{}}, Leeway: -1, MaxTokenSize: -1},
			want: []string{"leeway", "maxTokenSize", "issuers[0].issuer: required", "issuers[0].audience: required",
				"issuers[0].algorithms: required", "issuers[0].keys: required"},
		},
		{
			name: "none and blanks",
			opts: VerifierOptions{Issuers: []IssuerOptions{{Issuer: "i", Audience: []string{""}, Algorithms: []string{"RS256", "none"}, Keys: keys}}},
			want: []string{"issuers[0].audience[0]: must not be empty", `issuers[0].algorithms[1]: "none"`},
		},
		{
			name: "duplicate issuer",
			opts: VerifierOptions{Issuers: []IssuerOptions{
				{Issuer: "i", Audience: []string{"a"}, Algorithms: []string{"RS256"}, Keys: keys},
				{Issuer: "i", Audience: []string{"b"}, Algorithms: []string{"RS256"}, Keys: keys},
			}},
			want: []string{`issuers[1].issuer: "i" is configured twice`},
		},
		{
			name: "skip issuer check with two issuers",
			opts: VerifierOptions{Issuers: []IssuerOptions{
				{SkipIssuerCheck: true, Audience: []string{"a"}, Algorithms: []string{"RS256"}, Keys: keys},
				{Issuer: "i", Audience: []string{"b"}, Algorithms: []string{"RS256"}, Keys: keys},
			}},
			want: []string{"issuers[0].skipIssuerCheck: only allowed with a single issuer"},
		},
	}
	for _, tt := range tests {
		_, err := NewVerifier(tt.opts)
		if err == nil {
			t.Errorf("%s: no error", tt.name)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", tt.name, err, w)
			}
		}
	}
}

func TestVerifySkipChecks(t *testing.T) {
	v, err := NewVerifier(VerifierOptions{
		Issuers: []IssuerOptions{{
			SkipIssuerCheck: true, SkipAudienceCheck: true, Algorithms: []string{"HS256"},
			Keys: NewKeySet([]*Key{NewSecretKey(hsSecret)}, nil),
		}},
		Now: func() time.Time { return time.Unix(testNowUnix, 0) },
	})
	if err != nil {
		t.Fatal(err)
	}

	claims := withClaim("iss", "https://anyone")
	claims["aud"] = "anything"
	c, err := v.Verify(context.Background(), signHS256(t, hs256, claims, hsSecret))
	if err != nil || c.Issuer != "https://anyone" {
		t.Fatalf("Verify = %v, %v", c, err)
	}

	_, err = v.Verify(context.Background(), signHS256(t, hs256, claims, hsOtherSecret))
	if !errors.Is(err, ErrSignatureInvalid) {
		t.Errorf("wrong key: err = %v", err)
	}
}

// TestVerifyIDToken shows the OIDC relying party's use: a verifier for the
// IdP with the client as audience and no cache; nonce and azp are on Claims.
func TestVerifyIDToken(t *testing.T) {
	v, err := NewVerifier(VerifierOptions{
		Issuers: []IssuerOptions{{
			Issuer: testIssuer, Audience: []string{"client-1"}, Algorithms: []string{"HS256"},
			Keys: NewKeySet([]*Key{NewSecretKey(hsSecret)}, nil),
		}},
		CacheSize: -1,
		Leeway:    testLeeway,
		Now:       func() time.Time { return time.Unix(testNowUnix, 0) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if v.cache != nil {
		t.Fatal("CacheSize -1 kept a cache")
	}

	claims := withClaim("aud", []string{"client-1"})
	claims["nonce"] = "n-123"
	claims["azp"] = "client-1"
	c, err := v.Verify(context.Background(), signHS256(t, hs256, claims, hsSecret))
	if err != nil {
		t.Fatal(err)
	}
	if c.Nonce != "n-123" || c.AuthorizedParty != "client-1" || c.Subject != "alice" {
		t.Errorf("claims = nonce %q, azp %q, sub %q", c.Nonce, c.AuthorizedParty, c.Subject)
	}
}

func TestVerifyRejectsOversizedToken(t *testing.T) {
	v, err := NewVerifier(VerifierOptions{
		Issuers: []IssuerOptions{{
			Issuer: testIssuer, Audience: []string{testAudience}, Algorithms: []string{"HS256"},
			Keys: NewKeySet([]*Key{NewSecretKey(hsSecret)}, nil),
		}},
		MaxTokenSize: 64,
	})
	if err != nil {
		t.Fatal(err)
	}

	_, err = v.Verify(context.Background(), signHS256(t, hs256, validClaims(), hsSecret))
	if !errors.Is(err, ErrTokenTooLarge) {
		t.Errorf("err = %v, want ErrTokenTooLarge", err)
	}
}

func TestVerifyConcurrent(t *testing.T) {
	v, _ := newTestVerifier(t, testCacheTokens)
	token := signHS256(t, hs256, validClaims(), hsSecret)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go verifyInto(v, token, &wg, errs)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// verifyInto verifies token and reports a failure on errs.
func verifyInto(v *Verifier, token string, wg *sync.WaitGroup, errs chan error) {
	defer wg.Done()
	if _, err := v.Verify(context.Background(), token); err != nil {
		errs <- err
	}
}

// TestValidateFastPath: validateClaims, which compares whole-second dates
// as nanoseconds, judges every date around the leeway's edges as
// claimsError, which compares time.Time values, does; now has a fraction
// of a second, and fractional and far dates take claimsError's way.
func TestValidateFastPath(t *testing.T) {
	v, _ := newTestVerifier(t, -1)
	iss := v.issuers[testIssuer]
	nows := []time.Time{time.Unix(testNowUnix, 0), time.Unix(testNowUnix, 400_000_000), time.Unix(testNowUnix, 950_000_000)}
	lw := int64(testLeeway / time.Second)
	offsets := []interface{}{
		int64(0), -lw, -lw - 1, -lw + 1, lw, lw + 1, lw - 1, int64(-3600), int64(3600),
		json.Number("1e10"), json.Number("-1e10"), float64(-lw) + 0.3, float64(lw) + 0.5, float64(lw) + 0.3,
	}
	names := []string{"exp", "nbf", "iat", "auth_time"}
	for k := 0; k < len(nows)*len(names); k++ {
		now, i := nows[k/len(names)], k%len(names)
		for j := 0; j < len(offsets); j++ {
			raw := validClaims()
			delete(raw, "exp")
			raw["exp"] = testNowUnix + 300
			switch off := offsets[j].(type) {
			case int64:
				raw[names[i]] = testNowUnix + off
			case float64:
				raw[names[i]] = float64(testNowUnix) + off
			case json.Number:
				raw[names[i]] = off
			}
			payload, err := json.Marshal(raw)
			if err != nil {
				t.Fatal(err)
			}
			c, err := ParseClaims(payload, "")
			if err != nil {
				t.Fatalf("%s %v: %v", names[i], offsets[j], err)
			}
			got := validateClaims(v, iss, "", c, now)
			want := claimsError(v, iss, "", c, now)
			if (got == nil) != (want == nil) || got != nil && got.Error() != want.Error() {
				t.Errorf("%s at %v, now %v: validateClaims = %v, claimsError = %v", names[i], offsets[j], now, got, want)
			}
		}
	}
	// The grid must reach both answers.
	now := nows[1]
	raw := validClaims()
	payload, _ := json.Marshal(raw)
	c, _ := ParseClaims(payload, "")
	if err := validateClaims(v, iss, "", c, now); err != nil {
		t.Fatalf("valid claims: %v", err)
	}
	raw["exp"] = testNowUnix - lw - 1
	payload, _ = json.Marshal(raw)
	c, _ = ParseClaims(payload, "")
	if err := validateClaims(v, iss, "", c, now); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired claims: %v", err)
	}
}

// A leeway longer than the time since the epoch (accepted by NewVerifier and
// by the adapter's duration parsing) makes now-leeway negative: the
// nanosecond check then takes an absent exp (0 in Claims.unix) for a date
// within the leeway, and a token without exp verifies. claimsError refuses
// it (exp is required).
func TestHugeLeewayStillRequiresExp(t *testing.T) {
	now := time.Unix(testNowUnix, 0)
	leeway := 500000 * time.Hour // about 57 years
	v, err := NewVerifier(VerifierOptions{
		Issuers: []IssuerOptions{{
			Issuer: testIssuer, Audience: []string{testAudience}, Algorithms: []string{"HS256"},
			Keys: NewKeySet([]*Key{NewSecretKey(hsSecret)}, nil),
		}},
		Leeway:    leeway,
		CacheSize: -1,
		Now:       func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	token := signHS256(t, hs256, withClaim("exp", nil), hsSecret)
	if _, err := v.Verify(context.Background(), token); !errors.Is(err, ErrExpired) {
		t.Errorf("token without exp, leeway %v: Verify error = %v, want ErrExpired", leeway, err)
	}
}

// TestVerifierBoundsItsHeaderCache: distinct header segments do not grow
// the verifier's cache of decoded headers past maxCachedHeaders.
func TestVerifierBoundsItsHeaderCache(t *testing.T) {
	v, _ := newTestVerifier(t, -1)
	for i := 0; i < 3*maxCachedHeaders; i++ {
		token := signHS256(t, map[string]interface{}{"alg": "HS256", "x": i}, validClaims(), hsSecret)
		if _, err := v.Verify(context.Background(), token); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	v.headers.entries.Range(countInto(&n))
	if n == 0 || n > maxCachedHeaders {
		t.Errorf("%d header segments cached (count %d), want 1 to %d", n, v.headers.count.Load(), maxCachedHeaders)
	}
}

// TestDatesMustBeNumbers: a NumericDate that is a JSON string, boolean,
// array, object or null is malformed, on the verifier and through the gate.
func TestDatesMustBeNumbers(t *testing.T) {
	tests := []struct {
		name  string
		claim string
		value interface{}
	}{
		{name: "exp as a string", claim: "exp", value: "1700000300"},
		{name: "exp as a far string", claim: "exp", value: "99999999999"},
		{name: "nbf as a string", claim: "nbf", value: "1600000000"},
		{name: "auth_time as a string", claim: "auth_time", value: "1699999990"},
		{name: "exp as true", claim: "exp", value: true},
		{name: "exp as an array", claim: "exp", value: []int{1700000300}},
		{name: "iat as null", claim: "iat", value: json.RawMessage("null")},
		{name: "auth_time as null", claim: "auth_time", value: json.RawMessage("null")},
		{name: "auth_time as an object", claim: "auth_time", value: map[string]int{"t": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token := signHS256(t, hs256, withClaim(tt.claim, tt.value), hsSecret)
			v, _ := newTestVerifier(t, -1)
			if _, err := v.Verify(context.Background(), token); !errors.Is(err, ErrTokenMalformed) {
				t.Errorf("Verify error = %v, want ErrTokenMalformed", err)
			}
			g, _, _ := newTestGate(t, GateOptions{})
			rule, err := Admit(g, gateRequest("GET", "/orders", "Authorization", "Bearer "+token))
			if rule == Admitted || !errors.Is(err, ErrTokenMalformed) {
				t.Errorf("Admit = %v, %v; want the rule and ErrTokenMalformed", rule, err)
			}
		})
	}
}

// TestNonNumberDateTakesNoOtherDate: an auth_time that is not a number is
// malformed even after a valid iat. Under Yaegi v0.16.1 a failed comma-ok
// assertion in a loop leaves its variable as the previous iteration set
// it: decodeClaims once read such an auth_time as the iat before it, and a
// max-age rule admitted a sign-in of long ago as a fresh one.
func TestNonNumberDateTakesNoOtherDate(t *testing.T) {
	for _, authTime := range []interface{}{json.RawMessage("null"), "1699996400", false} {
		claims := validClaims()
		claims["iat"] = testNowUnix - 10 // the token refreshed just now
		claims["auth_time"] = authTime   // not a NumericDate
		token := signHS256(t, hs256, claims, hsSecret)
		payload, err := json.Marshal(claims)
		if err != nil {
			t.Fatal(err)
		}
		value, _ := json.Marshal(authTime)
		g, _, _ := newTestGate(t, GateOptions{})
		rule, err := Admit(g, gateRequest("GET", "/admin/users", "Authorization", "Bearer "+token))
		if rule == Admitted || !errors.Is(err, ErrTokenMalformed) {
			t.Errorf("auth_time %s: Admit = %v, %v; want the rule and ErrTokenMalformed", value, rule, err)
		}
		if c, err := ParseClaims(payload, ""); err == nil {
			t.Errorf("auth_time %s: ParseClaims gave auth_time %v, want an error", value, c.AuthTime)
		}
	}
}
