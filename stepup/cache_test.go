package stepup

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestVerifyServesCachedClaims(t *testing.T) {
	v, now := newTestVerifier(t, testCacheTokens)
	token := signHS256(t, hs256, validClaims(), hsSecret)

	first, err := v.Verify(context.Background(), token)
	if err != nil {
		t.Fatal(err)
	}
	second, err := v.Verify(context.Background(), token)
	if err != nil || second != first {
		t.Fatalf("second Verify = %p, %v; want the cached %p", second, err, first)
	}

	// Past exp (the cache entry ends there), the token is verified again and
	// refused once beyond the leeway.
	*now = now.Add(300*time.Second + testLeeway + time.Second)
	if _, err := v.Verify(context.Background(), token); !errors.Is(err, ErrExpired) {
		t.Errorf("after exp: err = %v, want ErrExpired", err)
	}
}

func TestVerifyCacheSkipsCrypto(t *testing.T) {
	v, now := newTestVerifier(t, testCacheTokens)
	fake := &Claims{Subject: "cached", ExpiresAt: now.Add(time.Hour)}
	v.cache.put("not-a-jws", fake, *now)

	c, err := v.Verify(context.Background(), "not-a-jws")
	if err != nil || c != fake {
		t.Fatalf("Verify = %v, %v; want the cached claims", c, err)
	}

	// An entry lives at most maxCacheAge, so key removals take effect.
	*now = now.Add(maxCacheAge)
	if _, err := v.Verify(context.Background(), "not-a-jws"); !errors.Is(err, ErrTokenMalformed) {
		t.Errorf("after maxCacheAge: err = %v, want ErrTokenMalformed", err)
	}
}

func TestVerifyWithoutCache(t *testing.T) {
	v, _ := newTestVerifier(t, -1)
	token := signHS256(t, hs256, validClaims(), hsSecret)
	first, err := v.Verify(context.Background(), token)
	if err != nil {
		t.Fatal(err)
	}
	second, err := v.Verify(context.Background(), token)
	if err != nil || second == first {
		t.Errorf("second Verify = %p, %v; want fresh claims", second, err)
	}
}

func TestVerifyDoesNotCacheFailures(t *testing.T) {
	v, _ := newTestVerifier(t, testCacheTokens)
	_, err := v.Verify(context.Background(), signHS256(t, hs256, withClaim("aud", "x"), hsSecret))
	if !errors.Is(err, ErrAudienceInvalid) || v.cache.count() != 0 {
		t.Errorf("err = %v, cached %d", err, v.cache.count())
	}
}

func TestTokenCacheExpiry(t *testing.T) {
	now := time.Unix(testNowUnix, 0)
	tests := []struct {
		name    string
		exp     time.Time
		after   time.Duration
		wantHit bool
	}{
		{name: "fresh", exp: now.Add(time.Hour), after: time.Minute, wantHit: true},
		{name: "until exp", exp: now.Add(time.Minute), after: time.Minute - time.Second, wantHit: true},
		{name: "not past exp", exp: now.Add(time.Minute), after: time.Minute},
		{name: "not past max age", exp: now.Add(time.Hour), after: maxCacheAge},
		{name: "just before max age", exp: now.Add(time.Hour), after: maxCacheAge - time.Second, wantHit: true},
		{name: "already expired", exp: now.Add(-time.Second)},
		{name: "no exp", exp: time.Time{}},
	}
	for _, tt := range tests {
		tc := newTokenCache(2)
		tc.put("t", &Claims{ExpiresAt: tt.exp}, now)
		if got := tc.get("t", now.Add(tt.after)) != nil; got != tt.wantHit {
			t.Errorf("%s: hit = %v, want %v", tt.name, got, tt.wantHit)
		}
	}
}

func TestTokenCacheEviction(t *testing.T) {
	now := time.Unix(testNowUnix, 0)
	tc := newTokenCache(2)
	tc.put("short", &Claims{ExpiresAt: now.Add(time.Second)}, now)
	tc.put("long", &Claims{ExpiresAt: now.Add(time.Hour)}, now)

	// Full: the expired entry goes first.
	later := now.Add(2 * time.Second)
	tc.put("new", &Claims{ExpiresAt: now.Add(time.Hour)}, later)
	if tc.get("long", later) == nil || tc.get("new", later) == nil || tc.count() != 2 {
		t.Fatalf("expired entry not evicted first: %d entries", tc.count())
	}

	// Full of live entries: an arbitrary one goes, the bound holds.
	tc.put("third", &Claims{ExpiresAt: now.Add(time.Hour)}, later)
	if tc.get("third", later) == nil || tc.count() != 2 {
		t.Errorf("count = %d after insert into full cache", tc.count())
	}

	// Replacing an entry evicts nothing.
	tc.put("third", &Claims{ExpiresAt: now.Add(time.Hour)}, later)
	if tc.count() != 2 {
		t.Errorf("count = %d after replacing", tc.count())
	}
}

func BenchmarkVerifyCached(b *testing.B) {
	v, _ := newTestVerifier(b, DefaultCacheSize)
	token := signHS256(b, hs256, validClaims(), hsSecret)
	ctx := context.Background()
	if _, err := v.Verify(ctx, token); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := v.Verify(ctx, token); err != nil {
			b.Fatal(err)
		}
	}
}
