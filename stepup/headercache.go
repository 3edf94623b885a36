package stepup

import (
	"sync"
	"sync/atomic"
)

// maxCachedHeaders bounds a headerCache. An issuer signs with a handful of
// keys and token types, so its tokens share a handful of header segments;
// past this many, the cache is emptied and filled again as tokens come, so
// a flood of made-up headers costs decoding, never memory.
const maxCachedHeaders = 64

// headerCache maps the header segments of tokens seen to their decoded,
// checked Header, so that a new token of a known issuer skips decoding its
// header: one native map lookup under Yaegi instead of a base64 decode, a
// JSON decode and a frame of checks. Only headers that passed parseHeader
// are kept. The *Header values are shared: read-only.
type headerCache struct {
	entries sync.Map // header segment (string) -> *Header
	count   atomic.Int64
}

// put keeps h for segment.
func (hc *headerCache) put(segment string, h *Header) {
	if hc.count.Add(1) > maxCachedHeaders {
		hc.entries.Range(deleteFrom(&hc.entries))
		hc.count.Store(1)
	}
	hc.entries.Store(segment, h)
}
