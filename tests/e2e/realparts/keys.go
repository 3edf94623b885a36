package realparts

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/go-jose/go-jose/v4"
)

// SigningKey is a private key with its key ID and the one JWS algorithm it
// signs with (RFC 7517 §4.4, §4.5).
type SigningKey struct {
	// KID is the kid published in the JWKS and put in token headers.
	KID string
	// Algorithm is RS256 or ES256.
	Algorithm string
	// Private is the *rsa.PrivateKey or *ecdsa.PrivateKey.
	Private crypto.Signer
}

// NewRSAKey generates a 2048-bit RSA key for RS256.
func NewRSAKey(kid string) (*SigningKey, error) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generating RSA key: %w", err)
	}

	return &SigningKey{KID: kid, Algorithm: string(jose.RS256), Private: priv}, nil
}

// NewECKey generates a P-256 key for ES256.
func NewECKey(kid string) (*SigningKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating EC key: %w", err)
	}

	return &SigningKey{KID: kid, Algorithm: string(jose.ES256), Private: priv}, nil
}

// MustKey returns k, panicking on err: for package-level test keys.
func MustKey(k *SigningKey, err error) *SigningKey {
	if err != nil {
		panic(err)
	}

	return k
}

// PublicJWK is the key's public half as published in a JWKS.
func (k *SigningKey) PublicJWK() jose.JSONWebKey {
	return jose.JSONWebKey{
		Key:       k.Private.Public(),
		KeyID:     k.KID,
		Algorithm: k.Algorithm,
		Use:       "sig",
	}
}

// Sign returns a compact JWS of claims signed with k, with typ "JWT" and
// k's kid in the header. Extra header parameters may be added (typ
// overrides the default).
func (k *SigningKey) Sign(claims map[string]any, header map[string]any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("encoding claims: %w", err)
	}

	opts := (&jose.SignerOptions{}).WithType("JWT")
	for name, value := range header {
		opts = opts.WithHeader(jose.HeaderKey(name), value)
	}
	signer, err := jose.NewSigner(jose.SigningKey{
		Algorithm: jose.SignatureAlgorithm(k.Algorithm),
		Key:       jose.JSONWebKey{Key: k.Private, KeyID: k.KID},
	}, opts)
	if err != nil {
		return "", fmt.Errorf("creating signer: %w", err)
	}

	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("signing: %w", err)
	}

	return jws.CompactSerialize()
}

// RawToken assembles a compact JWS from a header, claims and signature
// without any checks: for alg "none", algorithm confusion and malformed
// tokens.
func RawToken(header, claims map[string]any, signature []byte) string {
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding

	return enc.EncodeToString(h) + "." + enc.EncodeToString(c) + "." + enc.EncodeToString(signature)
}

// TamperSignature returns token with one bit of its signature flipped.
func TamperSignature(token string) string {
	enc := base64.RawURLEncoding
	dot := strings.LastIndexByte(token, '.')
	sig, err := enc.DecodeString(token[dot+1:])
	if err != nil || len(sig) == 0 {
		return token + "x"
	}
	sig[len(sig)/2] ^= 0x01

	return token[:dot+1] + enc.EncodeToString(sig)
}
