package harness

import (
	"context"
	"net/http"
	"sync"
	"testing"
)

// Benchmarks of the speed targets, each through the plugin as Traefik runs it
// (Yaegi) and natively compiled, against the same baseline: a no-op plugin
// under Yaegi (BenchmarkYaegiNoopPlugin) and the bare backend natively
// (BenchmarkNativeNoop). Run: go test -bench . -run '^$'
//
// Every request is GET with a bearer token on the representative
// configuration; the response writer and request are reused (with a new
// header map each time, as a new request has, holding the X-Forwarded-* and
// X-Real-Ip headers Traefik's entry point adds) so the numbers are the
// middleware's cost, not httptest's. The fresh-token cases keep the token
// cache on, as Traefik would, with a new middleware instance per pass over
// their tokens.

// discardWriter is a ResponseWriter that keeps only the header map.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }

// benchServe calls a handler from newHandler b.N times with
// tokens[i%len(tokens)] on path and checks the status of the last call. With
// renew, each pass over tokens gets a new handler (made with the timer
// stopped): a new middleware instance, hence an empty token cache, so no
// token is ever served from the cache.
func benchServe(b *testing.B, newHandler func() http.Handler, renew bool, path string, tokens []string, want int) {
	b.Helper()

	h := newHandler()
	req, err := http.NewRequest("GET", "http://orders.test"+path, nil)
	if err != nil {
		b.Fatal(err)
	}
	rw := &discardWriter{h: http.Header{}}

	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if renew && i > 0 && i%len(tokens) == 0 {
			b.StopTimer()
			h = newHandler()
			b.StartTimer()
		}
		clear(rw.h)
		rw.code = http.StatusOK
		// A new header map, as a new request has: the middleware's identity
		// headers of the last call are not sent again. It holds what Traefik's
		// entry point adds before any middleware runs.
		req.Header = http.Header{
			"X-Forwarded-Host":   {"orders.test"},
			"X-Forwarded-Port":   {"80"},
			"X-Forwarded-Proto":  {"http"},
			"X-Forwarded-Server": {"traefik-1"},
			"X-Real-Ip":          {"127.0.0.1"},
		}
		if tokens != nil {
			req.Header["Authorization"] = []string{"Bearer " + tokens[i%len(tokens)]}
		}
		h.ServeHTTP(rw, req)
	}
	b.StopTimer()

	if rw.code != want {
		b.Fatalf("status %d, want %d (%v)", rw.code, want, rw.h)
	}
}

// freshPool is the most distinct tokens a fresh-token benchmark mints. Each
// pass over the pool runs on a new middleware instance (see benchServe), so
// every request pays for full verification, and for caching the token as
// Traefik would (RS256 signing is too slow to mint one token per iteration).
const freshPool = 2048

// freshTokens pre-mints min(b.N, freshPool) distinct tokens.
func freshTokens(b *testing.B, s signer) []string {
	b.Helper()

	n := b.N
	if n > freshPool {
		n = freshPool
	}
	out := make([]string, n)
	for i := range out {
		out[i] = s.mint(b, claims(map[string]any{"jti": serial(i)}))
	}

	return out
}

// benchCase is one workload, run under Yaegi and natively.
type benchCase struct {
	path   string
	tokens func(b *testing.B) []string
	fresh  bool // a new middleware instance for each pass over tokens
	want   int
}

func cachedToken(b *testing.B) []string {
	rk, _ := testKeys(b)
	return []string{signer{alg: "RS256", key: rk}.mint(b, claims(nil))}
}

func freshRS256(b *testing.B) []string {
	rk, _ := testKeys(b)
	return freshTokens(b, signer{alg: "RS256", key: rk})
}

func freshES256(b *testing.B) []string {
	_, ek := testKeys(b)
	return freshTokens(b, signer{alg: "ES256", key: ek})
}

var (
	caseCached = benchCase{path: "/orders", tokens: cachedToken, want: 200}
	caseRS256  = benchCase{path: "/orders", tokens: freshRS256, fresh: true, want: 200}
	caseES256  = benchCase{path: "/orders", tokens: freshES256, fresh: true, want: 200}
	casePublic = benchCase{path: "/public/status", want: 200}
)

func (c benchCase) run(b *testing.B, newHandler func(testing.TB, map[string]any) http.Handler) {
	var tokens []string
	if c.tokens != nil {
		tokens = c.tokens(b)
	}
	cfg := representativeConfig(b)
	if c.fresh {
		delete(cfg, "cacheSize") // the default, which holds a pass over the pool
	}
	benchServe(b, func() http.Handler { return newHandler(b, cfg) }, c.fresh, c.path, tokens, c.want)
}

func (c benchCase) yaegi(b *testing.B) {
	c.run(b, interpretedHandler)
}

func (c benchCase) native(b *testing.B) {
	c.run(b, nativeHandler)
}

func BenchmarkYaegiNoopPlugin(b *testing.B) {
	h, err := noopPlugin(b).New(context.Background(), backend, nil, "noop@file")
	if err != nil {
		b.Fatal(err)
	}
	benchServe(b, func() http.Handler { return h }, false, "/orders", cachedToken(b), 200)
}

func BenchmarkYaegiCachedToken(b *testing.B)     { caseCached.yaegi(b) }
func BenchmarkYaegiFreshTokenRS256(b *testing.B) { caseRS256.yaegi(b) }
func BenchmarkYaegiFreshTokenES256(b *testing.B) { caseES256.yaegi(b) }
func BenchmarkYaegiPublicRoute(b *testing.B)     { casePublic.yaegi(b) }

func BenchmarkNativeNoop(b *testing.B) {
	benchServe(b, func() http.Handler { return backend }, false, "/orders", cachedToken(b), 200)
}

func BenchmarkNativeCachedToken(b *testing.B)     { caseCached.native(b) }
func BenchmarkNativeFreshTokenRS256(b *testing.B) { caseRS256.native(b) }
func BenchmarkNativeFreshTokenES256(b *testing.B) { caseES256.native(b) }
func BenchmarkNativePublicRoute(b *testing.B)     { casePublic.native(b) }

// The floor plugin (tests/floor-plugin): the least work a correct check of
// these requests can do under Yaegi, the bound make bench -floor measures in
// Traefik. Its cases beside traefikstepup's show what the interpreter allows.
var (
	floorOnce sync.Once
	floorP    *Plugin
	floorErr  error
)

func floorHandler(tb testing.TB, next http.Handler) http.Handler {
	tb.Helper()
	floorOnce.Do(func() {
		floorP, floorErr = Load(Options{ModuleName: "github.com/stepup-auth/floor", Dir: "../floor-plugin"})
	})
	if floorErr != nil {
		tb.Fatalf("loading the floor plugin under Yaegi: %v", floorErr)
	}
	rk, _ := testKeys(tb)
	h, err := floorP.New(context.Background(), next, map[string]any{
		"issuer": issuerURL, "audience": "orders-api", "minACR": acrPwd, "higherACR": acrMFA,
		"publicKey": publicPEM(tb, &rk.PublicKey),
	}, "floor@file")
	if err != nil {
		tb.Fatal(err)
	}

	return h
}

func BenchmarkYaegiFloorCachedToken(b *testing.B) {
	benchServe(b, func() http.Handler { return floorHandler(b, backend) }, false, "/orders", cachedToken(b), 200)
}

func BenchmarkYaegiFloorFreshTokenRS256(b *testing.B) {
	benchServe(b, func() http.Handler { return floorHandler(b, backend) }, true, "/orders", freshRS256(b), 200)
}
