// Package realparts starts the real pieces the end-to-end tests, the browser
// tests and the demo put together: a Traefik process loading this checkout as
// a local plugin, an echo backend (JSON, WebSocket, server-sent events) and a
// fake OpenID issuer serving discovery and a JWKS whose keys can be rotated,
// with a token minter for arbitrary claims.
//
// Everything binds to 127.0.0.1 only. The functions take a context and
// return errors so that a plain program (make demo) can use them; the
// helpers ending in T wrap them for tests, registering cleanup and dumping
// Traefik's log when the test fails.
package realparts

// TB is the part of testing.TB the T helpers need. *testing.T and
// *testing.B satisfy it; the package does not import testing.
type TB interface {
	Helper()
	Cleanup(func())
	Failed() bool
	Logf(format string, args ...any)
	Fatalf(format string, args ...any)
}
