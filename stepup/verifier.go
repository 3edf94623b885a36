package stepup

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// DefaultMaxTokenSize bounds the token length in bytes unless configured
// otherwise.
const DefaultMaxTokenSize = 16384

// IssuerOptions describes one trusted issuer and how its tokens are verified.
type IssuerOptions struct {
	// Issuer is the exact iss value. Required unless SkipIssuerCheck.
	Issuer string
	// Audience lists accepted aud values; a token must carry at least one.
	// Required unless SkipAudienceCheck.
	Audience []string
	// Algorithms is the allowlist of JWS algorithms for this issuer. Required.
	Algorithms []string
	// TokenType, when set, must match the typ header ("at+jwt" for RFC 9068
	// access tokens); see RFC 7515 §4.1.9 for the comparison.
	TokenType string
	// ACRClaim names the claim carrying the ACR. Default "acr".
	ACRClaim string
	// Keys holds the keys this issuer signs with. Required. A key only
	// verifies tokens whose iss selects this issuer.
	Keys *KeySet
	// SkipIssuerCheck accepts any iss. Only allowed with a single issuer;
	// Issuer may still be set (for example as the discovery base).
	SkipIssuerCheck bool
	// SkipAudienceCheck accepts any aud.
	SkipAudienceCheck bool
}

// VerifierOptions configures a Verifier.
type VerifierOptions struct {
	// Issuers are the trusted issuers. At least one.
	Issuers []IssuerOptions
	// Leeway is the clock skew allowed on exp, nbf, iat and auth_time. Zero
	// means none.
	Leeway time.Duration
	// MaxTokenSize bounds the token length in bytes. Default 16384.
	MaxTokenSize int
	// CacheSize bounds the number of verified tokens kept. 0 means 10000; a
	// negative value disables the cache (use it for ID tokens, checked once).
	CacheSize int
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Verifier verifies JWTs from a fixed set of issuers: the signature with the
// issuer's own keys and algorithm allowlist, then typ, aud and the time
// claims. It checks no step-up requirement (see Rule.Check) and no ID-token
// nonce or azp (the OIDC relying party compares them on the Claims).
// A Verifier is safe for concurrent use.
type Verifier struct {
	issuers      map[string]*issuer
	anyIssuer    *issuer // set when the single issuer skips the iss check
	leeway       time.Duration
	maxTokenSize int
	cache        *tokenCache // nil when disabled
	headers      *headerCache
	now          func() time.Time
}

// issuer is the compiled form of IssuerOptions.
type issuer struct {
	name         string
	audience     map[string]bool // nil when the audience check is skipped
	algorithms   []string
	tokenType    string // normalised by mediaType; "" = not checked
	acrClaim     string // a claim other than "acr" that carries the ACR, or ""
	keys         *KeySet
	static       map[string]*algKeys // the static keys' index for the allowed algorithms; nil for remote sets
	skipIssuer   bool
	skipAudience bool
}

// NewVerifier checks opts and returns a Verifier. Every problem found is
// reported in one error, each with its location.
func NewVerifier(opts VerifierOptions) (*Verifier, error) {
	var problems []string
	if len(opts.Issuers) == 0 {
		problems = append(problems, "issuers: at least one issuer is required")
	}
	if opts.Leeway < 0 {
		problems = append(problems, "leeway: must not be negative")
	}
	if opts.MaxTokenSize < 0 {
		problems = append(problems, "maxTokenSize: must not be negative")
	}

	v := &Verifier{
		issuers:      make(map[string]*issuer),
		leeway:       opts.Leeway,
		maxTokenSize: opts.MaxTokenSize,
		headers:      new(headerCache),
		now:          opts.Now,
	}
	for i := 0; i < len(opts.Issuers); i++ {
		iss, issProblems := newIssuer(fmt.Sprintf("issuers[%d]", i), opts.Issuers[i], len(opts.Issuers))
		problems = append(problems, issProblems...)
		problems = append(problems, v.addIssuer(i, iss)...)
	}
	if len(problems) > 0 {
		return nil, joinProblems(problems)
	}

	v.applyDefaults(opts.CacheSize)

	return v, nil
}

// applyDefaults fills the zero options.
func (v *Verifier) applyDefaults(cacheSize int) {
	if v.maxTokenSize == 0 {
		v.maxTokenSize = DefaultMaxTokenSize
	}
	if v.now == nil {
		v.now = time.Now
	}
	if cacheSize == 0 {
		cacheSize = DefaultCacheSize
	}
	if cacheSize > 0 {
		v.cache = newTokenCache(cacheSize)
	}
}

// addIssuer registers iss under its name, refusing duplicates.
func (v *Verifier) addIssuer(i int, iss *issuer) []string {
	if iss == nil {
		return nil
	}
	if iss.skipIssuer {
		v.anyIssuer = iss
		return nil
	}
	if _, dup := v.issuers[iss.name]; dup {
		return []string{fmt.Sprintf("issuers[%d].issuer: %q is configured twice", i, iss.name)}
	}
	v.issuers[iss.name] = iss

	return nil
}

// newIssuer compiles one issuer, returning nil and the problems if invalid.
func newIssuer(loc string, o IssuerOptions, count int) (*issuer, []string) {
	var problems []string
	if o.SkipIssuerCheck && count > 1 {
		problems = append(problems, loc+".skipIssuerCheck: only allowed with a single issuer")
	}
	if !o.SkipIssuerCheck && o.Issuer == "" {
		problems = append(problems, loc+".issuer: required")
	}
	if !o.SkipAudienceCheck && len(o.Audience) == 0 {
		problems = append(problems, loc+".audience: required")
	}
	problems = append(problems, checkNonEmpty(loc+".audience", o.Audience)...)
	if len(o.Algorithms) == 0 {
		problems = append(problems, loc+".algorithms: required")
	}
	problems = append(problems, checkAlgorithms(loc+".algorithms", o.Algorithms)...)
	if o.Keys == nil {
		problems = append(problems, loc+".keys: required")
	}
	if len(problems) > 0 {
		return nil, problems
	}

	iss := &issuer{
		name:         o.Issuer,
		algorithms:   o.Algorithms,
		tokenType:    mediaType(o.TokenType),
		acrClaim:     o.ACRClaim,
		keys:         o.Keys,
		skipIssuer:   o.SkipIssuerCheck,
		skipAudience: o.SkipAudienceCheck,
	}
	if iss.acrClaim == DefaultACRClaim {
		iss.acrClaim = "" // decodeClaims reads it
	}
	if !o.SkipAudienceCheck {
		iss.audience = stringSet(o.Audience)
	}
	if o.Keys.index != nil {
		iss.static = allowedIndex(o.Keys.index, o.Algorithms)
	}

	return iss, nil
}

// checkNonEmpty reports empty entries of list.
func checkNonEmpty(loc string, list []string) []string {
	var problems []string
	for i := 0; i < len(list); i++ {
		if strings.TrimSpace(list[i]) == "" {
			problems = append(problems, fmt.Sprintf("%s[%d]: must not be empty", loc, i))
		}
	}

	return problems
}

// checkAlgorithms refuses "none" (RFC 8725 §3.1), empty entries and names
// this package does not implement. Names are case-sensitive (RFC 7518 §3.1):
// "rs256" would never match a token's header, so it is a configuration error.
func checkAlgorithms(loc string, algs []string) []string {
	problems := checkNonEmpty(loc, algs)
	for i := 0; i < len(algs); i++ {
		switch {
		case strings.EqualFold(algs[i], "none"):
			problems = append(problems, fmt.Sprintf("%s[%d]: \"none\" is never allowed", loc, i))
		case algs[i] != "" && !IsSupportedAlgorithm(algs[i]):
			problems = append(problems, fmt.Sprintf("%s[%d]: %q is not a supported algorithm", loc, i, algs[i]))
		}
	}

	return problems
}

// Verify returns the claims of token if it is a valid JWT from a configured
// issuer. A token verified before and still fresh in the cache is returned
// without any cryptography. Errors wrap the sentinels of errors.go.
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	now := v.now()
	if tc := v.cache; tc != nil {
		// tc.get, inlined: this is the hot path, and under Yaegi a method
		// call costs more than the lookup itself.
		tc.mu.Lock()
		e := tc.entries[token]
		tc.mu.Unlock()
		if e != nil && now.Before(e.expires) {
			return e.claims, nil
		}
	}

	return verifyFresh(v, ctx, token, now)
}

// verifyFresh verifies a token the cache does not hold: its form, its
// issuer, its signature, then its claims; and caches it. Kept apart from
// Verify so that a cache hit does not pay for this frame, and in one frame:
// under Yaegi every call allocates one, and this runs for every new token.
// (A function, not a method: cheaper to call under Yaegi.)
func verifyFresh(v *Verifier, ctx context.Context, token string, now time.Time) (*Claims, error) {
	jws, err := parseJWS(token, v.maxTokenSize, v.headers)
	if err != nil {
		return nil, err
	}
	c, err := decodeClaims(jws.Payload)
	if err != nil {
		return nil, err
	}

	// The issuer, by exact iss (RFC 7519 §4.1.1, OIDC Core §3.1.3.7 step 2).
	// Unknown issuers are rejected before any signature work, so their keys
	// are never looked up or fetched.
	iss := v.anyIssuer
	if iss == nil {
		iss = v.issuers[c.Issuer]
	}
	if iss == nil {
		return nil, issuerError(c.Issuer)
	}

	// VerifySignature's static-set case called directly: under Yaegi its
	// frame and a method call cost more than the check itself.
	handled := false
	if a := iss.static[jws.Header.Alg]; a != nil {
		handled, err = verifyStatic(a, jws)
	} else if iss.keys.remote != nil {
		handled, err = verifyFetched(iss.keys, jws, iss.algorithms)
	}
	if !handled {
		err = iss.keys.VerifySignature(ctx, jws, iss.algorithms)
	}
	if err == nil && iss.acrClaim != "" {
		err = c.applyACRClaim(iss.acrClaim)
	}
	if err == nil {
		err = validateClaims(v, iss, jws.Header.Typ, c, now)
	}
	if err != nil {
		return nil, err
	}

	if v.cache != nil {
		storeToken(v.cache, token, c, now)
	}

	return c, nil
}

// issuerError reports a token from an issuer that is not configured.
func issuerError(iss string) error {
	return fmt.Errorf("iss %q: %w", iss, ErrIssuerInvalid)
}

// validate checks the claims of a token whose signature is good.
func (v *Verifier) validate(iss *issuer, h Header, c *Claims, now time.Time) error {
	return validateClaims(v, iss, h.Typ, c, now)
}

// validateClaims is validate. The claims of a valid token are checked
// inline, with few expressions (under Yaegi each allocates on every call);
// when one check fails, or the issuer requires a typ, claimsError runs every
// check in order for the error.
func validateClaims(v *Verifier, iss *issuer, typ string, c *Claims, now time.Time) error {
	audienceOK := iss.skipAudience
	for i := 0; i < len(c.Audience) && !audienceOK; i++ {
		audienceOK = iss.audience[c.Audience[i]]
	}
	// In nanoseconds: exp (0 when absent: claimsError reports it, whatever
	// the leeway) not before now-leeway; nbf, iat and auth_time (0 when
	// absent, which passes) not after now+leeway.
	n := now.UnixNano()
	lw := int64(v.leeway)
	if !audienceOK || iss.tokenType != "" || c.inexact || c.unix[0] <= 0 || c.unix[0] < n-lw ||
		c.unix[1] > n+lw || c.unix[2] > n+lw || c.unix[3] > n+lw {
		return claimsError(v, iss, typ, c, now)
	}

	return nil
}

// claimsError checks the claims of a token whose signature is good, in
// order, and returns the first failure.
func claimsError(v *Verifier, iss *issuer, typ string, c *Claims, now time.Time) error {
	if err := verifyType(iss.tokenType, typ); err != nil {
		return err
	}
	if err := verifyAudience(iss, c.Audience); err != nil {
		return err
	}
	if err := verifyExpiry(c.ExpiresAt, now, v.leeway); err != nil {
		return err
	}
	if err := verifyNotBefore(c.NotBefore, now, v.leeway); err != nil {
		return err
	}
	if err := verifyNotFuture("iat", c.IssuedAt, now, v.leeway); err != nil {
		return err
	}

	return verifyNotFuture("auth_time", c.AuthTime, now, v.leeway)
}

// verifyType compares the typ header with the required type, if any. Media
// types compare case-insensitively and "application/" may be omitted
// (RFC 7515 §4.1.9), so "at+jwt" equals "application/AT+JWT".
func verifyType(want, typ string) error {
	if want == "" || mediaType(typ) == want {
		return nil
	}

	return fmt.Errorf("typ %q: %w", typ, ErrTypeInvalid)
}

// mediaType normalises a typ value for comparison.
func mediaType(typ string) string {
	t := strings.ToLower(typ)

	return strings.TrimPrefix(t, "application/")
}

// verifyAudience requires one of the configured audiences in aud
// (RFC 7519 §4.1.3).
func verifyAudience(iss *issuer, aud []string) error {
	if iss.skipAudience {
		return nil
	}
	for i := 0; i < len(aud); i++ {
		if iss.audience[aud[i]] {
			return nil
		}
	}

	return fmt.Errorf("aud %q: %w", aud, ErrAudienceInvalid)
}

// verifyExpiry requires exp and rejects it once now is past exp+leeway
// (RFC 7519 §4.1.4; exp is required by RFC 9068 §2.2 and OIDC Core §2).
func verifyExpiry(exp, now time.Time, leeway time.Duration) error {
	if exp.IsZero() {
		return fmt.Errorf("exp missing: %w", ErrExpired)
	}
	if now.After(exp.Add(leeway)) {
		return fmt.Errorf("exp %s: %w", exp.UTC().Format(time.RFC3339), ErrExpired)
	}

	return nil
}

// verifyNotBefore rejects a token used before nbf-leeway (RFC 7519 §4.1.5).
func verifyNotBefore(nbf, now time.Time, leeway time.Duration) error {
	if !nbf.IsZero() && nbf.After(now.Add(leeway)) {
		return fmt.Errorf("nbf %s: %w", nbf.UTC().Format(time.RFC3339), ErrNotYetValid)
	}

	return nil
}

// verifyNotFuture rejects an iat or auth_time later than now+leeway: a token
// claiming to come from the future is forged or from a skewed clock.
func verifyNotFuture(name string, t, now time.Time, leeway time.Duration) error {
	if !t.IsZero() && t.After(now.Add(leeway)) {
		return fmt.Errorf("%s %s: %w", name, t.UTC().Format(time.RFC3339), ErrIssuedInFuture)
	}

	return nil
}

// stringSet builds a set from list.
func stringSet(list []string) map[string]bool {
	set := make(map[string]bool, len(list))
	for i := 0; i < len(list); i++ {
		set[list[i]] = true
	}

	return set
}

// joinProblems turns configuration problems into one error, or nil.
func joinProblems(problems []string) error {
	if len(problems) == 0 {
		return nil
	}

	return errors.New(strings.Join(problems, "; "))
}
