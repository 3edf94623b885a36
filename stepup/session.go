package stepup

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Defaults of SessionOptions.
const (
	// DefaultSessionLifetime is how long a session token is valid.
	DefaultSessionLifetime = time.Hour
	// DefaultSessionMaxSize bounds the session token in bytes: with the
	// cookie name and attributes it stays under the 4096 bytes a browser
	// keeps per cookie.
	DefaultSessionMaxSize = 3800
)

// sessionAlgorithm is the only algorithm of session tokens.
const sessionAlgorithm = "HS256"

// reservedSessionClaims are set by Mint itself: ExtraClaims cannot copy them.
var reservedSessionClaims = map[string]bool{
	"iss": true, "sub": true, "aud": true, "exp": true, "nbf": true,
	"iat": true, "jti": true, "acr": true, "amr": true, "auth_time": true,
	"nonce": true, "azp": true,
}

// SessionOptions configures a SessionIssuer.
type SessionOptions struct {
	// Issuer is the iss of session tokens, for example
	// "urn:traefikstepup:session:" + the middleware name. Required; it must
	// differ from every real issuer the Verifier trusts.
	Issuer string
	// Audience is the aud of session tokens. Required.
	Audience string
	// Secret signs session tokens (HS256). At least 32 bytes.
	Secret []byte
	// PreviousSecrets still verify tokens signed before a rotation. At
	// least 32 bytes each.
	PreviousSecrets [][]byte
	// Lifetime of a session token. Default 1h. It is independent of the ID
	// token's exp: the ID token proves a login at one moment, and the
	// session says for how long this site trusts that login. Step-up rules
	// with a max age still check auth_time, which the session carries over
	// unchanged.
	Lifetime time.Duration
	// ACRClaim, when not "acr", is the array claim (such as Entra ID's
	// "acrs") the identity provider's ACRs come in; the session repeats
	// Claims.ACRs under that name and VerifierIssuer reads it back. Default
	// "acr" (only Claims.ACR is kept).
	ACRClaim string
	// ExtraClaims are claim names copied from the ID token (for example
	// "email", "groups") for claim rules and headers. Registered and
	// step-up claims cannot be listed.
	ExtraClaims []string
	// MaxSize bounds the token in bytes. Default 3800.
	MaxSize int
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// SessionIssuer mints the plugin's own session tokens after a browser login:
// compact HS256 JWTs carrying the subject and the step-up claims (acr, amr,
// auth_time) of the verified ID token. They are checked on each request by
// the main Verifier, like any bearer token, through VerifierIssuer.
type SessionIssuer struct {
	opts SessionOptions // defaults applied
	kid  string         // of the current secret
	keys []*Key         // current first, then previous
}

// NewSessionIssuer checks opts and returns a SessionIssuer, reporting every
// configuration problem at once.
func NewSessionIssuer(opts SessionOptions) (*SessionIssuer, error) {
	s := &SessionIssuer{opts: opts}
	s.applyDefaults()

	problems := s.checkOptions()
	if len(problems) > 0 {
		return nil, joinProblems(problems)
	}

	s.kid = secretKeyID(opts.Secret)
	s.keys = append(s.keys, newSessionKey(opts.Secret))
	for i := 0; i < len(opts.PreviousSecrets); i++ {
		s.keys = append(s.keys, newSessionKey(opts.PreviousSecrets[i]))
	}

	return s, nil
}

// applyDefaults fills the zero options.
func (s *SessionIssuer) applyDefaults() {
	if s.opts.Lifetime <= 0 {
		s.opts.Lifetime = DefaultSessionLifetime
	}
	if s.opts.MaxSize <= 0 {
		s.opts.MaxSize = DefaultSessionMaxSize
	}
	if s.opts.ACRClaim == "" {
		s.opts.ACRClaim = "acr"
	}
	if s.opts.Now == nil {
		s.opts.Now = time.Now
	}
}

// checkOptions reports configuration problems, each with its location.
func (s *SessionIssuer) checkOptions() []string {
	o := s.opts
	var problems []string
	if o.Issuer == "" {
		problems = append(problems, "issuer: required")
	}
	if o.Audience == "" {
		problems = append(problems, "audience: required")
	}
	if len(o.Secret) < MinSecretSize {
		problems = append(problems, fmt.Sprintf("secret: at least %d bytes required", MinSecretSize))
	}
	for i := 0; i < len(o.PreviousSecrets); i++ {
		if len(o.PreviousSecrets[i]) < MinSecretSize {
			problems = append(problems, fmt.Sprintf("previousSecrets[%d]: at least %d bytes required",
				i, MinSecretSize))
		}
	}
	if o.ACRClaim != "acr" && reservedSessionClaims[o.ACRClaim] {
		problems = append(problems, "acrClaim: "+o.ACRClaim+" is a registered claim")
	}
	for i := 0; i < len(o.ExtraClaims); i++ {
		name := o.ExtraClaims[i]
		if name == "" || reservedSessionClaims[name] || name == o.ACRClaim {
			problems = append(problems, fmt.Sprintf("extraClaims[%d]: %q cannot be copied", i, name))
		}
	}

	return problems
}

// secretKeyID names a secret in the kid header without revealing it: the
// first 8 hex digits of its SHA-256. After a rotation, the kid selects the
// secret a token was signed with.
func secretKeyID(secret []byte) string {
	sum := sha256.Sum256(secret)
	return hex.EncodeToString(sum[:4])
}

// newSessionKey returns the verification key of one secret, bound to HS256
// and its kid.
func newSessionKey(secret []byte) *Key {
	k := NewSecretKey(secret)
	k.ID = secretKeyID(secret)
	k.Alg = sessionAlgorithm

	return k
}

// VerifierIssuer returns the issuer entry to add to the main Verifier so
// that it accepts session tokens: this issuer and audience, HS256 only,
// the current and previous secrets selected by kid, and the ACR claim the
// session repeats.
func (s *SessionIssuer) VerifierIssuer() IssuerOptions {
	return IssuerOptions{
		Issuer:     s.opts.Issuer,
		Audience:   []string{s.opts.Audience},
		Algorithms: []string{sessionAlgorithm},
		ACRClaim:   s.opts.ACRClaim,
		Keys:       NewKeySet(s.keys, nil),
	}
}

// sessionExtra is one extra claim and its encoded size, for trimming.
type sessionExtra struct {
	name string
	size int
}

func newSessionExtra(name string, size int) sessionExtra {
	return sessionExtra{name: name, size: size}
}

// Mint returns a session token for the user of a verified ID token, and
// when it expires (now + Lifetime, whatever the ID token's exp). It carries
// iss, aud, sub, iat, exp, and from the ID token acr, amr, auth_time (when
// present; auth_time is not invented when the provider did not send it) and
// the configured extra claims found in idClaims.Raw.
//
// When the token exceeds MaxSize, extra claims are dropped, largest first,
// until it fits; if it still does not fit, the error wraps
// ErrSessionTooLarge.
func (s *SessionIssuer) Mint(idClaims *Claims) (string, time.Time, error) {
	if idClaims == nil || idClaims.Subject == "" {
		return "", time.Time{}, errors.New("minting session: no subject")
	}

	now := s.opts.Now()
	exp := now.Add(s.opts.Lifetime)
	claims := s.baseClaims(idClaims, now, exp)
	extras := s.copyExtraClaims(idClaims, claims)

	for {
		token, err := s.sign(claims)
		if err != nil {
			return "", time.Time{}, err
		}
		if len(token) <= s.opts.MaxSize {
			return token, time.Unix(exp.Unix(), 0), nil
		}
		if len(extras) == 0 {
			return "", time.Time{}, fmt.Errorf("%w: %d bytes exceed %d",
				ErrSessionTooLarge, len(token), s.opts.MaxSize)
		}
		delete(claims, extras[0].name)
		extras = extras[1:]
	}
}

// baseClaims returns the registered and step-up claims of a session.
func (s *SessionIssuer) baseClaims(idClaims *Claims, now, exp time.Time) map[string]interface{} {
	claims := map[string]interface{}{
		"iss": s.opts.Issuer,
		"aud": s.opts.Audience,
		"sub": idClaims.Subject,
		"iat": now.Unix(),
		"exp": exp.Unix(),
	}
	if idClaims.ACR != "" {
		claims["acr"] = idClaims.ACR
	}
	if s.opts.ACRClaim != "acr" && len(idClaims.ACRs) > 0 {
		claims[s.opts.ACRClaim] = idClaims.ACRs
	}
	if len(idClaims.AMR) > 0 {
		claims["amr"] = idClaims.AMR
	}
	if !idClaims.AuthTime.IsZero() {
		claims["auth_time"] = idClaims.AuthTime.Unix()
	}

	return claims
}

// copyExtraClaims copies the configured extra claims present in the ID
// token into claims and returns them largest first, the order in which Mint
// drops them.
func (s *SessionIssuer) copyExtraClaims(idClaims *Claims, claims map[string]interface{}) []sessionExtra {
	var extras []sessionExtra
	for i := 0; i < len(s.opts.ExtraClaims); i++ {
		name := s.opts.ExtraClaims[i]
		v, ok := idClaims.Raw[name]
		if !ok || v == nil {
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			continue
		}
		claims[name] = v
		extras = append(extras, newSessionExtra(name, len(name)+len(b)))
	}
	// Insertion sort, largest first; stable, so ties keep configuration order.
	for i := 1; i < len(extras); i++ {
		for j := i; j > 0 && extras[j].size > extras[j-1].size; j-- {
			extras[j], extras[j-1] = extras[j-1], extras[j]
		}
	}

	return extras
}

// sign encodes and signs claims as a compact JWS (RFC 7515 §7.1) with
// HS256 and the current secret's kid.
func (s *SessionIssuer) sign(claims map[string]interface{}) (string, error) {
	header := map[string]interface{}{"alg": sessionAlgorithm, "typ": "JWT", "kid": s.kid}
	h, err := json.Marshal(header)
	if err != nil {
		return "", fmt.Errorf("minting session: %v", err)
	}
	p, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("minting session: %v", err)
	}

	var b strings.Builder
	b.WriteString(base64.RawURLEncoding.EncodeToString(h))
	b.WriteByte('.')
	b.WriteString(base64.RawURLEncoding.EncodeToString(p))
	mac := hmac.New(sha256.New, s.opts.Secret)
	mac.Write([]byte(b.String()))
	sig := mac.Sum(nil)
	b.WriteByte('.')
	b.WriteString(base64.RawURLEncoding.EncodeToString(sig))

	return b.String(), nil
}
