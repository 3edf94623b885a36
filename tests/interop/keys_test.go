// Package interop checks the engine's JOSE verification against tokens and
// key sets made by two independent, widely used Go libraries: golang-jwt/jwt
// v5 and go-jose v4. Every algorithm both libraries sign with must verify;
// every attack or mistake they can be made to produce must be refused with
// the right sentinel of stepup/errors.go.
package interop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"sync"
	"testing"
)

// keyring holds one private key per key type and curve, generated once for
// the package (RSA generation is slow).
type keyring struct {
	rsa   *rsa.PrivateKey
	p256  *ecdsa.PrivateKey
	p384  *ecdsa.PrivateKey
	p521  *ecdsa.PrivateKey
	ed    ed25519.PrivateKey
	hmac  []byte // 64 bytes: long enough for HS512 (RFC 7518 §3.2)
	other *ecdsa.PrivateKey
}

var (
	ringOnce sync.Once
	ring     keyring
	ringErr  error
)

func keys(tb testing.TB) keyring {
	tb.Helper()

	ringOnce.Do(func() { ring, ringErr = newKeyring() })
	if ringErr != nil {
		tb.Fatalf("generating keys: %v", ringErr)
	}

	return ring
}

func newKeyring() (keyring, error) {
	var k keyring
	var err error

	if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return k, err
	}
	if k.p256, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return k, err
	}
	if k.p384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader); err != nil {
		return k, err
	}
	if k.p521, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader); err != nil {
		return k, err
	}
	if k.other, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return k, err
	}
	if _, k.ed, err = ed25519.GenerateKey(rand.Reader); err != nil {
		return k, err
	}

	k.hmac = make([]byte, 64)
	_, err = rand.Read(k.hmac)

	return k, err
}

// signingKey returns the private key (or secret) that signs alg.
func (k keyring) signingKey(alg string) any {
	switch alg {
	case "HS256", "HS384", "HS512":
		return k.hmac
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		return k.rsa
	case "ES256":
		return k.p256
	case "ES384":
		return k.p384
	case "ES512":
		return k.p521
	case "EdDSA":
		return k.ed
	}

	return nil
}

// publicPEM encodes public keys as SPKI PEM blocks, one after the other.
func publicPEM(tb testing.TB, pubs ...crypto.PublicKey) string {
	tb.Helper()

	var out []byte
	for _, p := range pubs {
		der, err := x509.MarshalPKIXPublicKey(p)
		if err != nil {
			tb.Fatalf("marshalling public key: %v", err)
		}
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})...)
	}

	return string(out)
}

// allPublicPEM is every asymmetric public key of the ring as PEM.
func (k keyring) allPublicPEM(tb testing.TB) string {
	tb.Helper()

	return publicPEM(tb, &k.rsa.PublicKey, &k.p256.PublicKey, &k.p384.PublicKey,
		&k.p521.PublicKey, k.ed.Public())
}

// allAlgorithms is every JWS algorithm the engine supports and both
// libraries sign with.
var allAlgorithms = []string{
	"HS256", "HS384", "HS512",
	"RS256", "RS384", "RS512",
	"PS256", "PS384", "PS512",
	"ES256", "ES384", "ES512",
	"EdDSA",
}
