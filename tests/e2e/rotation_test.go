package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/stepup-auth/traefikstepup/tests/e2e/realparts"
)

// refetchWithin bounds how long a token with a newly published kid may be
// refused: an immediate refetch, or one delayed by a refetch cooldown of up
// to 30 s after the initial fetch.
const refetchWithin = 40 * time.Second

// rotationToken mints a token of the rotation issuer signed with key.
func rotationToken(t *testing.T, key *realparts.SigningKey) string {
	t.Helper()

	tok, err := env.rotIssuer.Token(key, map[string]any{"aud": "api"})
	if err != nil {
		t.Fatalf("minting token: %v", err)
	}

	return tok
}

// TestKeyRotation stages a rotation on the issuer the stepup-rotation
// middleware finds through discovery. The steps depend on each other, so
// they run in order and stop at the first failure.
func TestKeyRotation(t *testing.T) {
	t.Parallel()

	rotation := func(tok string) result {
		return send(t, request{host: hostRotation, path: "/data", token: tok})
	}

	seenOld := rotationToken(t, env.rotOld)
	if res := rotation(seenOld); res.status != http.StatusOK {
		t.Fatalf("token with the published kid: status %d, want 200 (%q)",
			res.status, res.header.Get("WWW-Authenticate"))
	}
	fetchesBefore := env.rotIssuer.JWKSFetches()

	env.rotIssuer.Publish(env.rotNew)

	start := time.Now()
	var res result
	for {
		res = rotation(rotationToken(t, env.rotNew))
		if res.status == http.StatusOK || time.Since(start) > refetchWithin {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if res.status != http.StatusOK {
		t.Fatalf("token with the new kid still refused after %s: status %d (%q)",
			refetchWithin, res.status, res.header.Get("WWW-Authenticate"))
	}
	t.Logf("new kid accepted after %s", time.Since(start).Round(100*time.Millisecond))
	// Every poll above carried an unknown kid: a cooldown must have kept
	// the refetches to a handful rather than one per request.
	refetches := env.rotIssuer.JWKSFetches() - fetchesBefore
	if refetches < 1 || refetches > 3 {
		t.Errorf("%d JWKS refetches while unknown kids kept arriving, want 1 to 3", refetches)
	}

	t.Run("fresh token with the removed kid is rejected", func(t *testing.T) {
		res := rotation(rotationToken(t, env.rotOld))
		checkWant(t, res, want{status: 401,
			challenge: invalid("stepup-rotation@file", "token signing key is unknown")})
	})

	t.Run("already seen token with the removed kid", func(t *testing.T) {
		// A verified-token cache may keep it for a bounded time: report, do not fail.
		res := rotation(seenOld)
		t.Logf("already verified token signed with the removed kid: status %d", res.status)
	})

	t.Run("a burst of unknown kids does not hammer the JWKS", func(t *testing.T) {
		ghost := realparts.MustKey(realparts.NewRSAKey("ghost"))
		before := env.rotIssuer.JWKSFetches()
		for i := 0; i < 20; i++ {
			res := rotation(rotationToken(t, ghost))
			if res.status != http.StatusUnauthorized {
				t.Fatalf("token with an unpublished kid: status %d, want 401", res.status)
			}
		}
		if n := env.rotIssuer.JWKSFetches() - before; n > 1 {
			t.Errorf("%d JWKS fetches for 20 tokens with an unknown kid, want at most 1 (cooldown)", n)
		}
	})

	t.Run("JWKS outage keeps the last good keys", func(t *testing.T) {
		env.rotIssuer.FailJWKS(http.StatusServiceUnavailable)
		defer env.rotIssuer.FailJWKS(0)

		res := rotation(rotationToken(t, env.rotNew))
		checkWant(t, res, want{status: 200, backend: true})
	})
}
