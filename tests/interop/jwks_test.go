package interop

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/stepup-auth/traefikstepup/stepup"
)

func kidFor(alg string) string {
	return "key-" + strings.ToLower(alg)
}

// joseKeySet marshals, with go-jose, a JWKS holding every public key of the
// ring once per asymmetric algorithm, each with its kid, alg and use "sig".
func joseKeySet(tb testing.TB, k keyring) string {
	tb.Helper()

	var set jose.JSONWebKeySet
	for _, alg := range allAlgorithms {
		if alg[:2] == "HS" {
			continue
		}
		set.Keys = append(set.Keys, jose.JSONWebKey{
			Key:       publicOf(k.signingKey(alg)),
			KeyID:     kidFor(alg),
			Algorithm: alg,
			Use:       "sig",
		})
	}

	raw, err := json.Marshal(set)
	if err != nil {
		tb.Fatalf("marshalling JWKS: %v", err)
	}

	return string(raw)
}

// publicOf returns the public half of a private key of the ring.
func publicOf(priv any) any {
	jwk := jose.JSONWebKey{Key: priv}
	return jwk.Public().Key
}

// TestJOSEKeySet parses go-jose JWKS documents with stepup.ParseKeys.
func TestJOSEKeySet(t *testing.T) {
	k := keys(t)

	ks := parseKeys(t, joseKeySet(t, k))
	if got, want := len(ks), len(allAlgorithms)-3; got != want {
		t.Fatalf("ParseKeys returned %d keys, want %d", got, want)
	}
	for _, key := range ks {
		if key.ID != kidFor(key.Alg) {
			t.Errorf("key %q has alg %q", key.ID, key.Alg)
		}
	}

	// A single JWK, as go-jose marshals it, is accepted too.
	one, err := json.Marshal(jose.JSONWebKey{Key: publicOf(k.ed), KeyID: "ed", Algorithm: "EdDSA"})
	if err != nil {
		t.Fatal(err)
	}
	single := parseKeys(t, string(one))
	if len(single) != 1 || single[0].ID != "ed" || single[0].Type() != "OKP" {
		t.Errorf("single JWK parsed as %+v", single)
	}
	token := mintJOSE(t, "EdDSA", k.ed, baseClaims(nil), map[string]any{"kid": "ed"})
	if _, err := newVerifier(t, single, "EdDSA").Verify(context.Background(), token); err != nil {
		t.Errorf("Verify with the single JWK: %v", err)
	}
}

// TestJOSEKeySetRefused checks that material a verifier must not trust is
// refused by ParseKeys: private keys and a set with nothing usable.
func TestJOSEKeySetRefused(t *testing.T) {
	k := keys(t)

	tests := []struct {
		name string
		set  jose.JSONWebKeySet
	}{
		{name: "private RSA key", set: jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
			{Key: k.rsa, KeyID: "priv", Algorithm: "RS256", Use: "sig"}}}},
		{name: "private EC key", set: jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
			{Key: k.p256, KeyID: "priv", Algorithm: "ES256", Use: "sig"}}}},
		{name: "symmetric key only", set: jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
			{Key: k.hmac, KeyID: "oct", Algorithm: "HS256", Use: "sig"}}}},
		{name: "encryption key only", set: jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
			{Key: publicOf(k.rsa), KeyID: "enc", Algorithm: "RSA-OAEP", Use: "enc"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := json.Marshal(tt.set)
			if err != nil {
				t.Fatal(err)
			}
			if ks, err := stepup.ParseKeys(string(raw)); err == nil {
				t.Errorf("ParseKeys accepted it: %d keys", len(ks))
			}
		})
	}
}

// TestJOSEKeySetServed serves go-jose's JWKS over HTTP to a remote key set:
// tokens of both libraries verify by kid, fetched once, and an unknown kid is
// refused without hammering the server (the cooldown applies).
func TestJOSEKeySetServed(t *testing.T) {
	k := keys(t)
	set := joseKeySet(t, k)
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		rw.Header().Set("Content-Type", "application/jwk-set+json")
		rw.Write([]byte(set))
	}))
	defer srv.Close()

	v, err := stepup.NewVerifier(stepup.VerifierOptions{
		Issuers: []stepup.IssuerOptions{{
			Issuer:     issuer,
			Audience:   []string{audience},
			Algorithms: allAlgorithms[3:],
			Keys:       stepup.NewKeySet(nil, &stepup.RemoteKeysOptions{JWKSURL: srv.URL}),
		}},
		Leeway:    leeway,
		CacheSize: -1,
		Now:       func() time.Time { return now },
	})
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}

	ctx := context.Background()
	for _, m := range minters {
		for _, alg := range allAlgorithms[3:] {
			token := m.mint(t, alg, k.signingKey(alg), baseClaims(nil), map[string]any{"kid": kidFor(alg)})
			if _, err := v.Verify(ctx, token); err != nil {
				t.Errorf("%s %s: %v", m.name, alg, err)
			}
		}
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("JWKS fetched %d times for known kids, want 1", n)
	}

	unknown := mintJOSE(t, "ES256", k.p256, baseClaims(nil), map[string]any{"kid": "not-published"})
	for i := 0; i < 3; i++ {
		_, err := v.Verify(ctx, unknown)
		wantErr(t, err, stepup.ErrKeyNotFound)
	}
	if n := hits.Load(); n > 2 {
		t.Errorf("JWKS fetched %d times after unknown kids, want at most one refetch", n)
	}
}
