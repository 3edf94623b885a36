package stepup

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeIssuer serves a discovery document and a JWK Set whose content,
// status and latency a test changes between requests.
type fakeIssuer struct {
	srv       *httptest.Server
	jwksHits  int64
	discoHits int64

	mu      sync.Mutex
	body    string
	status  int
	issuer  string        // issuer of the discovery document; "" = the server's URL
	delay   time.Duration // JWKS latency
	release chan struct{} // when set, JWKS requests wait for it to close
}

func newFakeIssuer(t *testing.T) *fakeIssuer {
	t.Helper()
	f := &fakeIssuer{status: http.StatusOK}
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.close)

	return f
}

func (f *fakeIssuer) close() {
	f.mu.Lock()
	if f.release != nil {
		close(f.release)
		f.release = nil
	}
	f.mu.Unlock()
	f.srv.Close()
}

func (f *fakeIssuer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	body, status, issuer, delay, release := f.body, f.status, f.issuer, f.delay, f.release
	f.mu.Unlock()
	base := "http://" + r.Host

	switch r.URL.Path {
	case discoverySuffix:
		atomic.AddInt64(&f.discoHits, 1)
		if issuer == "" {
			issuer = base
		}
		fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q}`, issuer, base+"/jwks")
	case "/jwks":
		atomic.AddInt64(&f.jwksHits, 1)
		if delay > 0 {
			time.Sleep(delay)
		}
		if release != nil {
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
		}
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeIssuer) serve(body string, status int) {
	f.mu.Lock()
	f.body, f.status = body, status
	f.mu.Unlock()
}

func (f *fakeIssuer) hits() int64 { return atomic.LoadInt64(&f.jwksHits) }

// fakeClock is the injected clock of a remote key set.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1700000000, 0)} }

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()

	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// remoteFixture holds the JWKS bodies and tokens the remote tests share:
// k1 is the P-256 test key, k2 the P-384 one; k3 is in no set.
type remoteFixture struct {
	sets   map[string]string
	tokens map[string]string
}

func newRemoteFixture(t *testing.T) *remoteFixture {
	t.Helper()
	tk := joseKeys(t)
	k1 := jwkJSON(t, withMember(ecJWK(&tk.p256.PublicKey), "kid", "k1"))
	k2 := jwkJSON(t, withMember(ecJWK(&tk.p384.PublicKey), "kid", "k2"))
	loose := jwkJSON(t, ecJWK(&tk.p256.PublicKey)) // k1's key without a kid

	return &remoteFixture{
		sets: map[string]string{
			"k1":                    `{"keys":[` + k1 + `]}`,
			"k2":                    `{"keys":[` + k2 + `]}`,
			"both":                  `{"keys":[` + k1 + `,` + k2 + `]}`,
			"k2 and a kid-less key": `{"keys":[` + k2 + `,` + loose + `]}`,
		},
		tokens: map[string]string{
			"k1": joseToken(t, "ES256", map[string]interface{}{"kid": "k1"}, testClaims),
			"k2": joseToken(t, "ES384", map[string]interface{}{"kid": "k2"}, testClaims),
			"k3": joseToken(t, "ES256", map[string]interface{}{"kid": "k3"}, testClaims),
		},
	}
}

func verifyToken(ctx context.Context, t *testing.T, ks *KeySet, token string) error {
	t.Helper()
	jws, err := ParseJWS(token, 0)
	if err != nil {
		t.Fatal(err)
	}

	return ks.VerifySignature(ctx, jws, allAlgorithms)
}

// verifyAsVerifier checks token as a Verifier does: verifyFetched first,
// VerifySignature when it does not decide.
func verifyAsVerifier(ctx context.Context, t *testing.T, ks *KeySet, token string) error {
	t.Helper()
	jws, err := ParseJWS(token, 0)
	if err != nil {
		t.Fatal(err)
	}
	if handled, err := verifyFetched(ks, jws, allAlgorithms); handled {
		return err
	}

	return ks.VerifySignature(ctx, jws, allAlgorithms)
}

// remoteStep is one request in a remote key set scenario: advance the clock,
// change what the issuer serves ("" keeps it, "500" fails), verify a token.
type remoteStep struct {
	name    string
	advance time.Duration
	serve   string
	token   string
	want    error
	hits    int64 // JWKS fetches so far
}

func TestRemoteKeySetScenarios(t *testing.T) {
	fx := newRemoteFixture(t)
	tests := []struct {
		name   string
		maxAge time.Duration
		steps  []remoteStep
	}{
		{name: "cache hit", steps: []remoteStep{
			{name: "first use fetches", serve: "k1", token: "k1", hits: 1},
			{name: "second use", token: "k1", hits: 1},
			{name: "much later", advance: time.Hour, token: "k1", hits: 1},
		}},
		{name: "unknown kid", steps: []remoteStep{
			{name: "first use", serve: "k1", token: "k1", hits: 1},
			{name: "within cooldown", advance: 29 * time.Second, token: "k3", want: ErrKeyNotFound, hits: 1},
			{name: "cooldown over", advance: time.Second, token: "k3", want: ErrKeyNotFound, hits: 2},
			{name: "once per cooldown", advance: time.Second, token: "k3", want: ErrKeyNotFound, hits: 2},
			{name: "next cooldown", advance: 30 * time.Second, token: "k3", want: ErrKeyNotFound, hits: 3},
		}},
		{name: "rotation", steps: []remoteStep{
			{name: "first use", serve: "k1", token: "k1", hits: 1},
			{name: "rotated within cooldown", advance: time.Second, serve: "k2", token: "k2",
				want: ErrKeyNotFound, hits: 1},
			{name: "rotated after cooldown", advance: 30 * time.Second, token: "k2", hits: 2},
			{name: "old key gone", token: "k1", want: ErrKeyNotFound, hits: 2},
		}},
		{name: "outage keeps last good set", steps: []remoteStep{
			{name: "first use", serve: "k1", token: "k1", hits: 1},
			{name: "unknown kid during outage", advance: time.Minute, serve: "500", token: "k2",
				want: ErrKeyNotFound, hits: 2},
			{name: "cached key still verifies", token: "k1", hits: 2},
			{name: "later still", advance: time.Minute, token: "k1", hits: 2},
			{name: "recovered with a new key", serve: "both", token: "k2", hits: 3},
			{name: "old key kept", token: "k1", hits: 3},
		}},
		{name: "initial outage", steps: []remoteStep{
			{name: "first use fails", serve: "500", token: "k1", want: ErrKeysUnavailable, hits: 1},
			{name: "no retry within cooldown", token: "k1", want: ErrKeysUnavailable, hits: 1},
			{name: "recovered after cooldown", advance: 30 * time.Second, serve: "k1", token: "k1", hits: 2},
		}},
		{name: "invalid set is a failed fetch", steps: []remoteStep{
			{name: "not JSON", serve: "{", token: "k1", want: ErrKeysUnavailable, hits: 1},
			{name: "no usable key", advance: time.Minute, serve: `{"keys":[{"kty":"oct","k":"AA"}]}`,
				token: "k1", want: ErrKeysUnavailable, hits: 2},
		}},
		{name: "max age", maxAge: time.Minute, steps: []remoteStep{
			{name: "first use", serve: "k1", token: "k1", hits: 1},
			{name: "young set", advance: 59 * time.Second, serve: "k2", token: "k1", hits: 1},
			{name: "old set still serves while refetched", advance: time.Second, token: "k1", hits: 2},
			{name: "refetched set applies", token: "k1", want: ErrKeyNotFound, hits: 2},
		}},
		{name: "kid-less key", steps: []remoteStep{
			{name: "first use", serve: "k2 and a kid-less key", token: "k2", hits: 1},
			{name: "unknown kid within cooldown: the kid-less key", advance: time.Second, token: "k3", hits: 1},
			{name: "unknown kid after cooldown: refetched first", advance: 30 * time.Second, token: "k3", hits: 2},
			{name: "a kid the kid-less key serves", advance: 30 * time.Second, token: "k1", hits: 3},
		}},
	}

	// Each scenario runs twice: through VerifySignature alone, and as a
	// Verifier runs it, with the fetched keys' index (verifyFetched) first.
	for k := 0; k < 2*len(tests); k++ {
		tt, asVerifier := tests[k/2], k%2 == 1
		issuer := newFakeIssuer(t)
		clock := newFakeClock()
		ks := NewKeySet(nil, &RemoteKeysOptions{
			JWKSURL: issuer.srv.URL + "/jwks",
			MaxAge:  tt.maxAge,
			now:     clock.now,
		})
		if n := issuer.hits(); n != 0 {
			t.Fatalf("%s: %d fetches at construction, want 0", tt.name, n)
		}
		for _, st := range tt.steps {
			clock.advance(st.advance)
			switch st.serve {
			case "":
			case "500":
				issuer.serve("down", http.StatusInternalServerError)
			default:
				body, ok := fx.sets[st.serve]
				if !ok {
					body = st.serve
				}
				issuer.serve(body, http.StatusOK)
			}
			verify := verifyToken
			if asVerifier {
				verify = verifyAsVerifier
			}
			err := verify(context.Background(), t, ks, fx.tokens[st.token])
			if (st.want == nil && err != nil) || (st.want != nil && !errors.Is(err, st.want)) {
				t.Errorf("%s / %s (as verifier: %v): err = %v, want %v", tt.name, st.name, asVerifier, err, st.want)
			}
			waitForFetch(ks) // a background refresh may still run
			if n := issuer.hits(); n != st.hits {
				t.Errorf("%s / %s (as verifier: %v): %d fetches, want %d", tt.name, st.name, asVerifier, n, st.hits)
			}
		}
	}
}

func TestRemoteKeySetDiscovery(t *testing.T) {
	fx := newRemoteFixture(t)
	tests := []struct {
		name      string
		served    string // issuer the document names; "" = the server's URL
		configure string // RemoteKeysOptions.Issuer; "" = derived
		want      error
	}{
		{name: "issuer derived from URL", want: nil},
		{name: "issuer configured", configure: "https://idp.example", served: "https://idp.example"},
		{name: "issuer mismatch", served: "https://evil.example", want: ErrKeysUnavailable},
		{name: "configured issuer mismatch", configure: "https://idp.example", want: ErrKeysUnavailable},
	}
	for _, tt := range tests {
		issuer := newFakeIssuer(t)
		issuer.serve(fx.sets["k1"], http.StatusOK)
		issuer.mu.Lock()
		issuer.issuer = tt.served
		issuer.mu.Unlock()
		ks := NewKeySet(nil, &RemoteKeysOptions{
			DiscoveryURL: issuer.srv.URL + discoverySuffix,
			Issuer:       tt.configure,
		})
		err := verifyToken(context.Background(), t, ks, fx.tokens["k1"])
		if (tt.want == nil && err != nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
		if n := atomic.LoadInt64(&issuer.discoHits); n != 1 {
			t.Errorf("%s: %d discovery fetches, want 1", tt.name, n)
		}
	}
}

func TestRemoteKeySetFetchLimits(t *testing.T) {
	fx := newRemoteFixture(t)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		opts RemoteKeysOptions
		body string
		want string // in the error text
	}{
		{name: "body over the bound", opts: RemoteKeysOptions{MaxBodySize: 64}, body: fx.sets["k1"],
			want: "exceeds 64 bytes"},
		{name: "cancelled parent context", opts: RemoteKeysOptions{Context: cancelled}, body: fx.sets["k1"],
			want: "canceled"},
		{name: "object without keys", opts: RemoteKeysOptions{}, body: `{"x":1}`, want: "no keys member"},
		{name: "no URL", opts: RemoteKeysOptions{}, want: "neither a JWKS URL"},
	}
	for _, tt := range tests {
		issuer := newFakeIssuer(t)
		issuer.serve(tt.body, http.StatusOK)
		opts := tt.opts
		if tt.body != "" {
			opts.JWKSURL = issuer.srv.URL + "/jwks"
		}
		err := verifyToken(context.Background(), t, NewKeySet(nil, &opts), fx.tokens["k1"])
		if !errors.Is(err, ErrKeysUnavailable) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want ErrKeysUnavailable with %q", tt.name, err, tt.want)
		}
	}
}

func TestRemoteKeySetTimeout(t *testing.T) {
	fx := newRemoteFixture(t)
	issuer := newFakeIssuer(t)
	issuer.serve(fx.sets["k1"], http.StatusOK)
	issuer.mu.Lock()
	issuer.release = make(chan struct{}) // never released: the issuer hangs
	issuer.mu.Unlock()
	ks := NewKeySet(nil, &RemoteKeysOptions{JWKSURL: issuer.srv.URL + "/jwks", Timeout: 100 * time.Millisecond})

	start := time.Now()
	err := verifyToken(context.Background(), t, ks, fx.tokens["k1"])
	if !errors.Is(err, ErrKeysUnavailable) {
		t.Errorf("err = %v, want ErrKeysUnavailable", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v, want about the 100ms timeout", d)
	}
}

// TestRemoteKeySetCallerGivesUp cancels a caller's context while the fetch
// runs: the caller returns, the fetch completes for the next caller.
func TestRemoteKeySetCallerGivesUp(t *testing.T) {
	fx := newRemoteFixture(t)
	issuer := newFakeIssuer(t)
	issuer.serve(fx.sets["k1"], http.StatusOK)
	release := make(chan struct{})
	issuer.mu.Lock()
	issuer.release = release
	issuer.mu.Unlock()
	ks := NewKeySet(nil, &RemoteKeysOptions{JWKSURL: issuer.srv.URL + "/jwks"})

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := verifyToken(ctx, t, ks, fx.tokens["k1"]); !errors.Is(err, ErrKeysUnavailable) {
		t.Errorf("impatient caller: err = %v, want ErrKeysUnavailable", err)
	}
	issuer.mu.Lock()
	close(release)
	issuer.release = nil
	issuer.mu.Unlock()
	if err := verifyToken(context.Background(), t, ks, fx.tokens["k1"]); err != nil {
		t.Errorf("next caller: err = %v, want nil", err)
	}
	if n := issuer.hits(); n != 1 {
		t.Errorf("%d fetches, want 1", n)
	}
}

// TestRemoteKeySetOneFetchInFlight starts many callers while the first fetch
// is slow: they all wait for that one fetch. Run natively with -race.
func TestRemoteKeySetOneFetchInFlight(t *testing.T) {
	fx := newRemoteFixture(t)
	issuer := newFakeIssuer(t)
	issuer.serve(fx.sets["k1"], http.StatusOK)
	issuer.mu.Lock()
	issuer.delay = 200 * time.Millisecond
	issuer.mu.Unlock()
	ks := NewKeySet(nil, &RemoteKeysOptions{JWKSURL: issuer.srv.URL + "/jwks"})
	jws, err := ParseJWS(fx.tokens["k1"], 0)
	if err != nil {
		t.Fatal(err)
	}

	const callers = 8
	results := make(chan error, callers)
	for i := 0; i < callers; i++ {
		go func() {
			results <- ks.VerifySignature(context.Background(), jws, allAlgorithms)
		}()
	}
	for i := 0; i < callers; i++ {
		if err := <-results; err != nil {
			t.Errorf("caller: err = %v, want nil", err)
		}
	}
	if n := issuer.hits(); n != 1 {
		t.Errorf("%d fetches, want 1", n)
	}
}

// TestStaticKeysDuringOutage: static keys keep verifying while the remote
// set is unreachable.
func TestStaticKeysDuringOutage(t *testing.T) {
	fx := newRemoteFixture(t)
	tk := joseKeys(t)
	issuer := newFakeIssuer(t)
	issuer.serve("down", http.StatusServiceUnavailable)
	static := []*Key{pubKey(t, &tk.p256.PublicKey)}
	ks := NewKeySet(static, &RemoteKeysOptions{JWKSURL: issuer.srv.URL + "/jwks"})

	if err := verifyToken(context.Background(), t, ks, fx.tokens["k1"]); err != nil {
		t.Errorf("static key: err = %v, want nil", err)
	}
	if err := verifyToken(context.Background(), t, ks, fx.tokens["k2"]); !errors.Is(err, ErrKeysUnavailable) {
		t.Errorf("remote-only key: err = %v, want ErrKeysUnavailable", err)
	}
}

// waitForFetch waits until no fetch of ks is in flight.
func waitForFetch(ks *KeySet) {
	ks.mu.Lock()
	done := ks.inFlight
	ks.mu.Unlock()
	if done != nil {
		<-done
	}
}
