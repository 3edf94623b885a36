package interop

import (
	"encoding/json"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"github.com/stepup-auth/traefikstepup/stepup"
)

const (
	issuer   = "https://idp.interop.test"
	audience = "interop-api"
	leeway   = 30 * time.Second
)

// now is the fixed clock of every verifier here.
var now = time.Unix(1767225600, 0) // 2026-01-01T00:00:00Z

// minter signs a claims set with one library. hdr adds header members (kid,
// crit, extensions).
type minter struct {
	name string
	mint func(tb testing.TB, alg string, key any, claims, hdr map[string]any) string
}

var minters = []minter{
	{name: "golang-jwt", mint: mintJWT},
	{name: "go-jose", mint: mintJOSE},
}

// mintJWT signs with golang-jwt/jwt v5.
func mintJWT(tb testing.TB, alg string, key any, claims, hdr map[string]any) string {
	tb.Helper()

	method := jwt.GetSigningMethod(alg)
	if method == nil {
		tb.Fatalf("golang-jwt: no signing method %s", alg)
	}

	t := jwt.NewWithClaims(method, jwt.MapClaims(claims))
	for k, v := range hdr {
		t.Header[k] = v
	}

	s, err := t.SignedString(key)
	if err != nil {
		tb.Fatalf("golang-jwt: signing %s: %v", alg, err)
	}

	return s
}

// mintJOSE signs with go-jose v4.
func mintJOSE(tb testing.TB, alg string, key any, claims, hdr map[string]any) string {
	tb.Helper()

	opts := (&jose.SignerOptions{}).WithType("JWT")
	for k, v := range hdr {
		if k == "crit" {
			names, _ := v.([]string)
			opts.WithCritical(names...)
			continue
		}
		opts.WithHeader(jose.HeaderKey(k), v)
	}

	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: key}, opts)
	if err != nil {
		tb.Fatalf("go-jose: signer for %s: %v", alg, err)
	}

	payload, err := json.Marshal(claims)
	if err != nil {
		tb.Fatalf("go-jose: marshalling claims: %v", err)
	}

	obj, err := sig.Sign(payload)
	if err != nil {
		tb.Fatalf("go-jose: signing %s: %v", alg, err)
	}

	s, err := obj.CompactSerialize()
	if err != nil {
		tb.Fatalf("go-jose: serializing: %v", err)
	}

	return s
}

// baseClaims is a valid claim set at now; extra overrides, nil deletes.
func baseClaims(extra map[string]any) map[string]any {
	c := map[string]any{
		"iss":       issuer,
		"aud":       []string{audience, "another-api"},
		"sub":       "alice",
		"iat":       now.Unix() - 10,
		"nbf":       now.Unix() - 10,
		"exp":       now.Unix() + 300,
		"auth_time": now.Unix() - 60,
		"acr":       "urn:stepup:acr:mfa",
		"amr":       []string{"pwd", "otp"},
	}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}

	return c
}

// newVerifier trusts one issuer with the given keys and algorithms, on the
// fixed clock, with the cache disabled so every Verify does the work.
func newVerifier(tb testing.TB, keys []*stepup.Key, algs ...string) *stepup.Verifier {
	tb.Helper()

	v, err := stepup.NewVerifier(stepup.VerifierOptions{
		Issuers: []stepup.IssuerOptions{{
			Issuer:     issuer,
			Audience:   []string{audience},
			Algorithms: algs,
			Keys:       stepup.NewKeySet(keys, nil),
		}},
		Leeway:    leeway,
		CacheSize: -1,
		Now:       func() time.Time { return now },
	})
	if err != nil {
		tb.Fatalf("NewVerifier: %v", err)
	}

	return v
}

// parseKeys is stepup.ParseKeys that fails the test on error.
func parseKeys(tb testing.TB, material string) []*stepup.Key {
	tb.Helper()

	ks, err := stepup.ParseKeys(material)
	if err != nil {
		tb.Fatalf("ParseKeys: %v", err)
	}

	return ks
}
