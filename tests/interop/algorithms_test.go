package interop

import (
	"context"
	"reflect"
	"testing"

	"github.com/stepup-auth/traefikstepup/stepup"
)

// TestAlgorithms verifies a token from each library for every algorithm,
// with keys given as PEM (asymmetric) and as a secret (HMAC).
func TestAlgorithms(t *testing.T) {
	k := keys(t)
	ks := append(parseKeys(t, k.allPublicPEM(t)), stepup.NewSecretKey(k.hmac))
	v := newVerifier(t, ks, allAlgorithms...)

	for _, m := range minters {
		for _, alg := range allAlgorithms {
			t.Run(m.name+"/"+alg, func(t *testing.T) {
				token := m.mint(t, alg, k.signingKey(alg), baseClaims(nil), nil)

				c, err := v.Verify(context.Background(), token)
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				checkClaims(t, c)
			})
		}
	}
}

// TestAlgorithmsWithKid is the same matrix with each key carrying a kid and
// the token naming it, keys parsed from one JWK each.
func TestAlgorithmsWithKid(t *testing.T) {
	k := keys(t)
	set := joseKeySet(t, k)
	v := newVerifier(t, append(parseKeys(t, set), stepup.NewSecretKey(k.hmac)), allAlgorithms...)

	for _, m := range minters {
		for _, alg := range allAlgorithms {
			if alg[:2] == "HS" {
				continue // secrets have no kid here
			}
			t.Run(m.name+"/"+alg, func(t *testing.T) {
				hdr := map[string]any{"kid": kidFor(alg)}
				token := m.mint(t, alg, k.signingKey(alg), baseClaims(nil), hdr)

				if _, err := v.Verify(context.Background(), token); err != nil {
					t.Fatalf("Verify: %v", err)
				}
			})
		}
	}
}

// TestOnlyAllowedAlgorithm checks that a verifier allowing one algorithm
// refuses a correctly signed token of every other one.
func TestOnlyAllowedAlgorithm(t *testing.T) {
	k := keys(t)
	ks := append(parseKeys(t, k.allPublicPEM(t)), stepup.NewSecretKey(k.hmac))
	v := newVerifier(t, ks, "ES256")

	for _, alg := range allAlgorithms {
		if alg == "ES256" {
			continue
		}
		t.Run(alg, func(t *testing.T) {
			token := mintJOSE(t, alg, k.signingKey(alg), baseClaims(nil), nil)
			_, err := v.Verify(context.Background(), token)
			wantErr(t, err, stepup.ErrAlgorithmNotAllowed)
		})
	}
}

func checkClaims(t *testing.T, c *stepup.Claims) {
	t.Helper()

	if c.Issuer != issuer || c.Subject != "alice" {
		t.Errorf("iss, sub = %q, %q", c.Issuer, c.Subject)
	}
	if want := []string{audience, "another-api"}; !reflect.DeepEqual(c.Audience, want) {
		t.Errorf("aud = %q, want %q", c.Audience, want)
	}
	if c.ExpiresAt.Unix() != now.Unix()+300 || c.AuthTime.Unix() != now.Unix()-60 {
		t.Errorf("exp, auth_time = %v, %v", c.ExpiresAt, c.AuthTime)
	}
	if c.ACR != "urn:stepup:acr:mfa" {
		t.Errorf("acr = %q", c.ACR)
	}
	if want := []string{"pwd", "otp"}; !reflect.DeepEqual(c.AMR, want) {
		t.Errorf("amr = %q, want %q", c.AMR, want)
	}
}
