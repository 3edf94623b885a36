package stepup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Defaults for RemoteKeysOptions.
const (
	// DefaultKeysTimeout bounds each HTTP request of a key fetch.
	DefaultKeysTimeout = 10 * time.Second
	// DefaultKeysCooldown is the minimum time between two fetches.
	DefaultKeysCooldown = 30 * time.Second
	// DefaultKeysMaxBody bounds a discovery document or JWKS: 1 MiB.
	DefaultKeysMaxBody = 1 << 20
)

// maxCandidateKeys bounds how many keys one token is tried against, so a
// token without kid cannot make the verifier run every key of a large set.
const maxCandidateKeys = 8

// discoverySuffix is the well-known path of OIDC Discovery §4.
const discoverySuffix = "/.well-known/openid-configuration"

// RemoteKeysOptions configures a key set fetched over HTTP.
type RemoteKeysOptions struct {
	// JWKSURL is a JWK Set fetched as is. Exclusive with DiscoveryURL.
	JWKSURL string
	// DiscoveryURL is an OpenID configuration document whose jwks_uri is used.
	// It is fetched again before each JWKS fetch.
	DiscoveryURL string
	// Issuer is the issuer the discovery document must name (OIDC Discovery
	// §4.3). Default: DiscoveryURL without its /.well-known/openid-configuration
	// suffix. A discovery document naming another issuer is refused.
	Issuer string
	// Client sends the requests. Default: a client of its own.
	Client *http.Client
	// Timeout bounds each request of a fetch. Default 10s.
	Timeout time.Duration
	// Cooldown is the minimum time between two fetches, whatever triggers
	// them (first use, unknown kid, MaxAge, retry after a failure). Default 30s.
	Cooldown time.Duration
	// MaxAge, when positive, refetches a set older than this on next use,
	// in the background: the request that notices goes on with the old set,
	// which also keeps serving if the fetch fails. Keys the issuer removed
	// thus stop verifying. Zero keeps a set until an unknown kid.
	MaxAge time.Duration
	// MaxBodySize bounds each response body in bytes. Default 1 MiB.
	MaxBodySize int64
	// Context is the parent of every fetch; Traefik cancels it on reload.
	// Default: context.Background().
	Context context.Context

	// now is the clock; tests inject one. Default time.Now.
	now func() time.Time
}

// KeySet holds the keys of one issuer: static keys and, optionally, a remote
// set. It is safe for concurrent use.
//
// The remote set is fetched lazily, on the first VerifySignature, never in
// NewKeySet. It is refetched when a token names a kid no key has, or its alg
// finds no fitting key, at most once per Cooldown, and when MaxAge has passed.
// Only one fetch runs at a time: callers that need keys while it runs wait for
// its result (or for their own context), then all use it. The fetch runs
// under the options' Context, not the caller's, so one caller giving up does
// not fail the fetch for the others; it ends within Timeout per request. A
// failed fetch keeps the last good set.
//
// A token without kid whose signature fails against cached keys of the right
// type does not trigger a refetch: such a token gives no sign of rotation.
// Issuers that rotate keys without kids are followed through MaxAge only.
type KeySet struct {
	static []*Key
	remote *RemoteKeysOptions  // nil: static keys only
	index  map[string]*algKeys // candidates by algorithm, for static keys only
	client *http.Client

	mu          sync.Mutex
	view        *keyView // the fetched keys indexed, nil before the first fetch
	remoteKeys  []*Key
	fetchedAt   time.Time     // last successful fetch
	attemptedAt time.Time     // last fetch started, successful or not
	attempted   bool          // a fetch was ever started
	inFlight    chan struct{} // closed when the running fetch ends; nil when none runs
	lastErr     error         // error of the last fetch, nil after a success
}

// NewKeySet builds a key set. remote may be nil. Nothing is fetched here.
// The options are copied; zero fields get their defaults.
func NewKeySet(static []*Key, remote *RemoteKeysOptions) *KeySet {
	ks := &KeySet{static: append([]*Key(nil), static...)}
	if remote == nil {
		ks.index = indexStatic(ks.static)
		return ks
	}

	opts := *remote
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultKeysTimeout
	}
	if opts.Cooldown <= 0 {
		opts.Cooldown = DefaultKeysCooldown
	}
	if opts.MaxBodySize <= 0 {
		opts.MaxBodySize = DefaultKeysMaxBody
	}
	if opts.Context == nil {
		opts.Context = context.Background()
	}
	if opts.now == nil {
		opts.now = time.Now
	}
	if opts.Issuer == "" && strings.HasSuffix(opts.DiscoveryURL, discoverySuffix) {
		opts.Issuer = strings.TrimSuffix(opts.DiscoveryURL, discoverySuffix)
	}
	ks.remote = &opts
	ks.client = opts.Client
	if ks.client == nil {
		ks.client = &http.Client{}
	}

	return ks
}

// VerifySignature checks jws against the set's keys, allowing only the
// algorithms in allowed (an empty list allows none). It selects keys by kid
// and by alg and key type, fetches the remote set lazily and refetches it once
// per cooldown on an unknown kid. It checks no claim.
//
// Errors: ErrAlgorithmNotAllowed (alg not allowed or not supported, or the
// keys the kid designates, all keys when it has none, are of another type),
// ErrKeyNotFound (no key for the kid), ErrKeysUnavailable (the remote set
// could not be fetched and none is cached), ErrSignatureInvalid (fitting keys
// exist, none verifies).
func (ks *KeySet) VerifySignature(ctx context.Context, jws *JWS, allowed []string) error {
	if jws == nil {
		return ErrTokenMalformed
	}
	if a := ks.index[jws.Header.Alg]; a != nil && allowsAlgorithm(allowed, jws.Header.Alg) {
		if handled, err := verifyStatic(a, jws); handled {
			return err
		}
	}
	if ctx == nil {
		ctx = context.Background()
	}
	name := jws.Header.Alg
	if !allowsAlgorithm(allowed, name) {
		return fmt.Errorf("alg %q is not allowed: %w", name, ErrAlgorithmNotAllowed)
	}
	alg, ok := lookupAlgorithm(name)
	if !ok {
		return fmt.Errorf("alg %q is not supported: %w", name, ErrAlgorithmNotAllowed)
	}

	keys, fetchErr := ks.currentKeys(ctx, false)
	kid := jws.Header.Kid
	if ks.remote != nil && !hasFittingKey(keys, kid, alg) {
		// An unknown kid usually means the issuer rotated its keys.
		keys, fetchErr = ks.currentKeys(ctx, true)
	}

	candidates, named := selectKeys(keys, kid, alg)
	if len(candidates) == 0 {
		return noKeyError(kid, name, named, fetchErr, ks.remoteCached())
	}
	for i := 0; i < len(candidates); i++ {
		if verifyWithKey(alg, candidates[i], jws.SigningInput, jws.Signature) == nil {
			return nil
		}
	}

	return fmt.Errorf("%s, kid %q: %w", name, kid, ErrSignatureInvalid)
}

// noKeyError explains why no key was a candidate.
func noKeyError(kid, alg string, named int, fetchErr error, cached bool) error {
	if fetchErr != nil && !cached {
		return fmt.Errorf("%v: %w", fetchErr, ErrKeysUnavailable)
	}
	if named > 0 {
		return fmt.Errorf("kid %q names no %s key: %w", kid, alg, ErrAlgorithmNotAllowed)
	}
	if fetchErr != nil {
		return fmt.Errorf("kid %q (refetch failed: %v): %w", kid, fetchErr, ErrKeyNotFound)
	}

	return fmt.Errorf("kid %q, alg %s: %w", kid, alg, ErrKeyNotFound)
}

// hasFittingKey reports whether a key can verify the token without a
// refetch: one with the token's kid (when it has one) that fits alg.
func hasFittingKey(keys []*Key, kid string, alg algorithm) bool {
	for i := 0; i < len(keys); i++ {
		k := keys[i]
		if (kid == "" || k.ID == kid) && keyFitsAlgorithm(k, alg) {
			return true
		}
	}

	return false
}

// selectKeys returns the keys to try, at most maxCandidateKeys: those whose
// kid equals the token's first, then keys without kid (a PEM key matches any
// token). A token without kid is tried against every fitting key. named
// counts the keys the kid designates (all keys when the token has none),
// fitting alg or not.
func selectKeys(keys []*Key, kid string, alg algorithm) ([]*Key, int) {
	var exact, loose []*Key
	named := 0
	for i := 0; i < len(keys); i++ {
		k := keys[i]
		if kid == "" || k.ID == kid {
			named++
		}
		if !keyFitsAlgorithm(k, alg) {
			continue
		}
		switch {
		case kid != "" && k.ID == kid:
			exact = append(exact, k)
		case kid == "" || k.ID == "":
			loose = append(loose, k)
		}
	}
	candidates := append(exact, loose...)
	if len(candidates) > maxCandidateKeys {
		candidates = candidates[:maxCandidateKeys]
	}

	return candidates, named
}

// keyView is a fetched key set, static keys included, indexed as a static
// set is (indexStatic), until it is due for its MaxAge refresh.
type keyView struct {
	index map[string]*algKeys
	until time.Time // fetchedAt + MaxAge; the zero time without MaxAge
}

// newKeyView indexes the static keys and the fetched keys of ks. The caller
// holds ks.mu and has just set ks.fetchedAt.
func newKeyView(ks *KeySet, fetched []*Key) *keyView {
	v := &keyView{index: indexStatic(append(append([]*Key(nil), ks.static...), fetched...))}
	if ks.remote.MaxAge > 0 {
		v.until = ks.fetchedAt.Add(ks.remote.MaxAge)
	}

	return v
}

// verifyFetched is VerifySignature for a remote set whose keys are fetched
// and not yet due for a refresh, when the token names a kid one of those
// keys has and fits (or no kid) and the algorithm is allowed: then no fetch
// could change the answer, and the index gives the candidates selectKeys
// would. It returns whether it handled the token, and the verification's
// error; when it did not, VerifySignature decides, fetching as it does.
func verifyFetched(ks *KeySet, jws *JWS, allowed []string) (bool, error) {
	ks.mu.Lock()
	v := ks.view
	ks.mu.Unlock()
	if v == nil || !v.until.IsZero() && !ks.remote.now().Before(v.until) || !allowsAlgorithm(allowed, jws.Header.Alg) {
		return false, nil
	}
	a := v.index[jws.Header.Alg]
	if a == nil {
		return false, nil
	}
	candidates := a.noKid
	if jws.Header.Kid != "" {
		// Keys of this kid come first; none that fits means an unknown
		// kid, which VerifySignature answers with a refetch.
		candidates = a.byKid[jws.Header.Kid]
		if len(candidates) == 0 || candidates[0].ID != jws.Header.Kid {
			return false, nil
		}
	}
	if len(candidates) == 0 {
		return false, nil
	}

	return true, verifyCandidates(a, candidates, jws)
}

// remoteCached reports whether a remote set was ever fetched successfully.
func (ks *KeySet) remoteCached() bool {
	if ks.remote == nil {
		return true
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()

	return !ks.fetchedAt.IsZero()
}

// currentKeys returns the static keys followed by the cached remote keys,
// fetching first when the remote set is missing, older than MaxAge, or
// refresh is asked, and the cooldown allows. The error is that of the fetch
// this call started or waited for, or the last one when the cooldown stops
// a retry while nothing is cached.
func (ks *KeySet) currentKeys(ctx context.Context, refresh bool) ([]*Key, error) {
	if ks.remote == nil {
		return ks.static, nil
	}

	ks.mu.Lock()
	done := ks.inFlight
	if done == nil && ks.shouldFetch(refresh) {
		done = make(chan struct{})
		ks.inFlight = done
		ks.attempted = true
		ks.attemptedAt = ks.remote.now()
		go ks.fetch(done)
	}
	// A set that is only older than MaxAge is refreshed in the background:
	// this request goes on with the keys it has (stale while revalidating),
	// so a periodic refresh never holds requests up. Callers wait only when
	// nothing is cached yet or when they asked for fresh keys (unknown kid).
	wait := done != nil && (refresh || ks.fetchedAt.IsZero())
	ks.mu.Unlock()

	if wait {
		select {
		case <-done:
		case <-ctx.Done():
			return ks.snapshot(), fmt.Errorf("waiting for keys: %v", ctx.Err())
		}
	}

	ks.mu.Lock()
	err := ks.lastErr
	ks.mu.Unlock()

	return ks.snapshot(), err
}

// shouldFetch decides, under ks.mu, whether to start a fetch now.
func (ks *KeySet) shouldFetch(refresh bool) bool {
	now := ks.remote.now()
	if ks.attempted && now.Sub(ks.attemptedAt) < ks.remote.Cooldown {
		// The cooldown protects the issuer from a flood of tokens with
		// random kids: at most one fetch per period, whatever the cause.
		return false
	}
	if ks.fetchedAt.IsZero() || refresh {
		return true
	}

	return ks.remote.MaxAge > 0 && now.Sub(ks.fetchedAt) >= ks.remote.MaxAge
}

// snapshot returns the static keys followed by the cached remote keys.
func (ks *KeySet) snapshot() []*Key {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	keys := make([]*Key, 0, len(ks.static)+len(ks.remoteKeys))
	keys = append(keys, ks.static...)

	return append(keys, ks.remoteKeys...)
}

// fetch runs one remote fetch, stores its outcome and closes done. A failure
// keeps the keys already cached.
func (ks *KeySet) fetch(done chan struct{}) {
	keys, err := ks.fetchRemoteKeys()

	ks.mu.Lock()
	if err == nil {
		ks.remoteKeys = keys
		ks.fetchedAt = ks.remote.now()
		ks.view = newKeyView(ks, keys)
	}
	ks.lastErr = err
	ks.inFlight = nil
	ks.mu.Unlock()
	close(done)
}

// fetchRemoteKeys resolves the JWKS URL (through discovery if configured)
// and fetches and parses the set.
func (ks *KeySet) fetchRemoteKeys() ([]*Key, error) {
	jwksURL := ks.remote.JWKSURL
	if jwksURL == "" {
		var err error
		jwksURL, err = ks.discoverJWKSURL()
		if err != nil {
			return nil, err
		}
	}

	body, err := ks.get(jwksURL)
	if err != nil {
		return nil, fmt.Errorf("fetching jwks: %v", err)
	}
	keys, err := keysFromJWKSDocument(body)
	if err != nil {
		return nil, fmt.Errorf("jwks from %s: %v", jwksURL, err)
	}

	return keys, nil
}

// keysFromJWKSDocument parses a fetched JWK Set: an object with "keys".
func keysFromJWKSDocument(body []byte) ([]*Key, error) {
	var doc map[string]interface{}
	if err := json.Unmarshal(body, &doc); err != nil || doc == nil {
		return nil, errors.New("not a JSON object")
	}
	raw, ok := doc["keys"]
	if !ok {
		return nil, errors.New("no keys member")
	}

	return keysFromJWKS(raw)
}

// discoverJWKSURL fetches the OpenID configuration and returns its jwks_uri,
// after checking that it names the expected issuer (OIDC Discovery §4.3),
// so a document served for another issuer cannot substitute its keys.
func (ks *KeySet) discoverJWKSURL() (string, error) {
	if ks.remote.DiscoveryURL == "" {
		return "", errors.New("neither a JWKS URL nor a discovery URL is configured")
	}
	body, err := ks.get(ks.remote.DiscoveryURL)
	if err != nil {
		return "", fmt.Errorf("fetching discovery: %v", err)
	}

	var doc map[string]interface{}
	if err := json.Unmarshal(body, &doc); err != nil || doc == nil {
		return "", errors.New("discovery document is not a JSON object")
	}
	issuer, _ := doc["issuer"].(string)
	if ks.remote.Issuer == "" || issuer != ks.remote.Issuer {
		return "", fmt.Errorf("discovery issuer %q, want %q", issuer, ks.remote.Issuer)
	}
	jwksURI, _ := doc["jwks_uri"].(string)
	u, err := url.Parse(jwksURI)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("discovery jwks_uri %q is not an absolute URL", jwksURI)
	}

	return jwksURI, nil
}

// get fetches rawURL under the options' Context and Timeout and returns the
// body of a 200 response, at most MaxBodySize bytes. Content-Type is not
// checked: issuers serve JWKS under several media types.
func (ks *KeySet) get(rawURL string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ks.remote.Context, ks.remote.Timeout)
	defer cancel()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := ks.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered status %d", rawURL, resp.StatusCode)
	}

	// Bound the body: a hostile or broken endpoint must not exhaust memory.
	body, err := io.ReadAll(io.LimitReader(resp.Body, ks.remote.MaxBodySize+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > ks.remote.MaxBodySize {
		return nil, fmt.Errorf("%s body exceeds %d bytes", rawURL, ks.remote.MaxBodySize)
	}

	return body, nil
}

// allowsAlgorithm reports whether the allowlist holds name, exactly.
func allowsAlgorithm(allowed []string, name string) bool {
	for i := 0; i < len(allowed); i++ {
		if allowed[i] == name {
			return true
		}
	}

	return false
}
