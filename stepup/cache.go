package stepup

import (
	"sync"
	"time"
)

// DefaultCacheSize is the number of verified tokens a Verifier keeps unless
// configured otherwise.
const DefaultCacheSize = 10000

// maxCacheAge bounds how long a verified token is served from the cache. A
// key removed from the issuer's JWKS, or an issuer removed by a
// configuration reload, stops being honoured for cached tokens within this
// time: the cache trades that delay for skipping the signature check.
const maxCacheAge = 5 * time.Minute

// evictionScan bounds how many entries one insertion into a full cache
// examines, so a flood of distinct valid tokens costs a bounded amount of
// work per request (each loop step is slow under Yaegi).
const evictionScan = 64

// cacheEntry is one verified token. The map holds pointers: under Yaegi,
// copying an interpreted struct out of a map costs more than the lookup.
type cacheEntry struct {
	claims  *Claims
	expires time.Time
}

// tokenCache maps verified token strings to their claims.
//
// It is keyed by the token string itself rather than a digest: Go's map
// hashes strings natively, while computing SHA-256 would run through the
// interpreter's call machinery under Yaegi and cost more than the lookup it
// replaces. The price is memory: a full cache holds up to size tokens of up
// to the maximum token size each.
//
// Entries expire at the token's exp or maxCacheAge after verification,
// whichever is sooner. When the cache is full, an insertion first deletes
// expired entries among a bounded scan, then, if none was expired, one
// arbitrary entry (Go's map iteration order). It starts no goroutine.
//
// The *Claims handed out are shared: callers must not modify them.
type tokenCache struct {
	mu      sync.Mutex
	size    int
	entries map[string]*cacheEntry
}

// newTokenCache returns a cache for at most size tokens.
func newTokenCache(size int) *tokenCache {
	return &tokenCache{size: size, entries: make(map[string]*cacheEntry)}
}

// get returns the claims cached for token, or nil when absent or expired.
func (tc *tokenCache) get(token string, now time.Time) *Claims {
	tc.mu.Lock()
	e := tc.entries[token]
	tc.mu.Unlock()

	// Expired entries are left for put to evict: get stays one locked lookup.
	if e == nil || !now.Before(e.expires) {
		return nil
	}

	return e.claims
}

// put caches claims for token until the sooner of its exp and
// now+maxCacheAge. Tokens without exp, or already past it, are not cached.
func (tc *tokenCache) put(token string, c *Claims, now time.Time) {
	storeToken(tc, token, c, now)
}

// storeToken is put, returning the entry made, or nil when the token is not
// cached. (A function: cheaper than a method under Yaegi.)
func storeToken(tc *tokenCache, token string, c *Claims, now time.Time) *cacheEntry {
	expires := now.Add(maxCacheAge)
	if c.ExpiresAt.Before(expires) {
		expires = c.ExpiresAt
	}
	if c.ExpiresAt.IsZero() || !now.Before(expires) {
		return nil
	}

	e := &cacheEntry{claims: c, expires: expires} // not in a loop: no constructor needed
	tc.mu.Lock()
	if len(tc.entries) >= tc.size {
		makeRoom(tc, token, now)
	}
	tc.entries[token] = e
	tc.mu.Unlock()

	return e
}

// makeRoom evicts an entry unless token is one (it is then replaced). The
// caller holds tc.mu.
func makeRoom(tc *tokenCache, token string, now time.Time) {
	if _, ok := tc.entries[token]; !ok {
		tc.evict(now)
	}
}

// evict frees at least one slot. The caller holds tc.mu.
func (tc *tokenCache) evict(now time.Time) {
	victim := ""
	removed := false
	scanned := 0
	for token, e := range tc.entries {
		if !now.Before(e.expires) {
			delete(tc.entries, token)
			removed = true
		} else if victim == "" {
			victim = token
		}
		scanned++
		if scanned >= evictionScan {
			break
		}
	}

	if !removed {
		delete(tc.entries, victim)
	}
}

// count returns the number of entries, expired ones included.
func (tc *tokenCache) count() int {
	tc.mu.Lock()
	n := len(tc.entries)
	tc.mu.Unlock()

	return n
}
