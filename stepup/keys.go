package stepup

import (
	"context"
	"net/http"
	"time"
)

// STUB: replaced by the keys work. The exported surface below is the contract.

// Key is one verification key bound to a key type and, when known, one
// algorithm.
type Key struct {
	ID  string // kid, may be empty
	Alg string // the one algorithm this key may verify; empty = any alg of its type
}

// ParseKeys reads verification keys from inline material: one or more PEM
// blocks (SPKI public key, PKCS#1 RSA public key, X.509 certificate), a JWK
// or a JWKS as JSON. Private keys and symmetric JWKs ("oct") are refused.
func ParseKeys(material string) ([]*Key, error) { return nil, nil }

// NewSecretKey returns an HMAC key for HS256/384/512 only.
func NewSecretKey(secret []byte) *Key { return &Key{} }

// RemoteKeysOptions configures a key set fetched over HTTP.
type RemoteKeysOptions struct {
	JWKSURL      string // fetched as is
	DiscoveryURL string // an OpenID configuration document whose jwks_uri is used; exclusive with JWKSURL
	Client       *http.Client
	Timeout      time.Duration // per fetch
	Cooldown     time.Duration // minimum time between refetches on unknown kid
	Context      context.Context
}

// KeySet holds the keys of one issuer: static keys and, optionally, a remote set.
type KeySet struct{}

// NewKeySet builds a key set. remote may be nil. Nothing is fetched here.
func NewKeySet(static []*Key, remote *RemoteKeysOptions) *KeySet { return &KeySet{} }

// VerifySignature checks jws against the set's keys, allowing only the
// algorithms in allowed. It selects keys by kid (and by alg/key type), fetches
// the remote set lazily, refetches once per cooldown on an unknown kid.
func (ks *KeySet) VerifySignature(ctx context.Context, jws *JWS, allowed []string) error {
	return ErrKeyNotFound
}
