package stepup

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// minRSABits is the smallest RSA modulus accepted. RFC 7518 §3.3 requires
// 2048 bits for RS*, and §3.5 the same for PS*.
const minRSABits = 2048

// Key is one verification key bound to a key type and, when known, one
// algorithm. Keys are built by ParseKeys, NewSecretKey or a remote key set;
// the zero Key verifies nothing.
type Key struct {
	// ID is the key's kid, possibly empty (PEM keys have none).
	ID string
	// Alg is the one algorithm this key may verify; empty allows any
	// algorithm of the key's type and curve.
	Alg string

	// Concrete key fields, one set per key type. They are typed fields, not
	// an interface, so that Yaegi keeps them apart (see yaegi.md rule 4).
	kty    string
	crv    string
	rsa    *rsa.PublicKey
	ec     *ecdsa.PublicKey
	ed     ed25519.PublicKey
	secret []byte
}

// Type returns the key's JWK key type: "RSA", "EC", "OKP" or "oct".
func (k *Key) Type() string { return k.kty }

// NewSecretKey returns an HMAC key for HS256/384/512 only. The secret is
// copied. It verifies an algorithm only when it is at least as long as the
// hash output (32, 48 or 64 bytes, RFC 7518 §3.2); callers should refuse
// shorter secrets at configuration time.
func NewSecretKey(secret []byte) *Key {
	s := make([]byte, len(secret))
	copy(s, secret)

	return &Key{kty: keyTypeOct, secret: s}
}

// ParseKeys reads verification keys from inline material: one or more PEM
// blocks (SPKI public key, PKCS#1 RSA public key, X.509 certificate), a JWK
// or a JWKS as JSON. Private keys and symmetric JWKs ("oct") are refused, and
// so are RSA keys under 2048 bits. A certificate's validity period and chain
// are not checked: the certificate only carries a pinned key. In a JWKS, keys
// this package cannot use (another kty or curve, use "enc", an unsupported
// alg) are skipped, but a set with no usable key is an error.
func ParseKeys(material string) ([]*Key, error) {
	text := strings.TrimSpace(material)
	switch {
	case text == "":
		return nil, errors.New("no key material")
	case strings.HasPrefix(text, "-----BEGIN"):
		return keysFromPEM([]byte(text))
	case strings.HasPrefix(text, "{"):
		return keysFromJSON([]byte(text))
	}

	return nil, errors.New("key material is neither PEM nor JSON")
}

// keysFromPEM reads every PEM block of data; each must hold a public key.
func keysFromPEM(data []byte) ([]*Key, error) {
	var keys []*Key
	rest := data
	for i := 1; ; i++ {
		block, next := pem.Decode(rest)
		if block == nil {
			if i == 1 {
				return nil, errors.New("pem: no readable block")
			}
			if len(bytes.TrimSpace(next)) != 0 {
				return nil, fmt.Errorf("pem: unreadable data after block %d", i-1)
			}
			break
		}
		k, err := keyFromPEMBlock(block)
		if err != nil {
			return nil, fmt.Errorf("pem block %d: %w", i, err)
		}
		keys = append(keys, k)
		rest = next
	}

	return keys, nil
}

// keyFromPEMBlock turns one PEM block into a key.
func keyFromPEMBlock(block *pem.Block) (*Key, error) {
	if strings.Contains(block.Type, "PRIVATE KEY") {
		return nil, fmt.Errorf("%s refused: configure the public key only", block.Type)
	}

	switch block.Type {
	case "PUBLIC KEY":
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("public key: %v", err)
		}
		return keyFromPublic(pub)
	case "RSA PUBLIC KEY":
		pub, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("rsa public key: %v", err)
		}
		return newRSAKey(pub)
	case "CERTIFICATE":
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate: %v", err)
		}
		return keyFromPublic(cert.PublicKey)
	}

	return nil, fmt.Errorf("unsupported block type %q", block.Type)
}

// keyFromPublic wraps a public key parsed by crypto/x509.
func keyFromPublic(pub interface{}) (*Key, error) {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		return newRSAKey(p)
	case *ecdsa.PublicKey:
		return newECKey(p)
	case ed25519.PublicKey:
		return newEd25519Key(p)
	}

	return nil, fmt.Errorf("unsupported public key type %T", pub)
}

// newRSAKey checks an RSA public key's size and exponent and wraps it.
func newRSAKey(pub *rsa.PublicKey) (*Key, error) {
	if pub == nil || pub.N == nil {
		return nil, errors.New("rsa key is empty")
	}
	if pub.N.BitLen() < minRSABits {
		return nil, fmt.Errorf("rsa key of %d bits refused: at least %d required",
			pub.N.BitLen(), minRSABits)
	}
	if pub.E < 3 || pub.E%2 == 0 {
		return nil, fmt.Errorf("rsa key exponent %d is invalid", pub.E)
	}

	return &Key{kty: keyTypeRSA, rsa: pub}, nil
}

// newECKey checks that an ECDSA public key is on one of the JWS curves.
func newECKey(pub *ecdsa.PublicKey) (*Key, error) {
	if pub == nil || pub.Curve == nil || pub.X == nil || pub.Y == nil {
		return nil, errors.New("ec key is empty")
	}
	name := pub.Curve.Params().Name
	if curveByName(name) == nil {
		return nil, fmt.Errorf("ec curve %q is not supported", name)
	}
	if !pub.Curve.IsOnCurve(pub.X, pub.Y) {
		return nil, errors.New("ec point is not on the curve")
	}

	return &Key{kty: keyTypeEC, crv: name, ec: pub}, nil
}

// newEd25519Key checks an Ed25519 public key's length.
func newEd25519Key(pub ed25519.PublicKey) (*Key, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("ed25519 key of %d bytes is invalid", len(pub))
	}
	k := make([]byte, ed25519.PublicKeySize)
	copy(k, pub)

	return &Key{kty: keyTypeOKP, crv: "Ed25519", ed: ed25519.PublicKey(k)}, nil
}

// curveByName returns the curve of a JWK "crv" value (RFC 7518 §6.2.1.1),
// or nil when it is not one of the three JWS curves.
func curveByName(name string) elliptic.Curve {
	switch name {
	case "P-256":
		return elliptic.P256()
	case "P-384":
		return elliptic.P384()
	case "P-521":
		return elliptic.P521()
	}

	return nil
}

// keysFromJSON reads a JWK or, when the object has "keys", a JWKS.
func keysFromJSON(data []byte) ([]*Key, error) {
	var doc map[string]interface{}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("json keys: %v", err)
	}
	if doc == nil {
		return nil, errors.New("json keys: not an object")
	}
	if raw, ok := doc["keys"]; ok {
		return keysFromJWKS(raw)
	}

	k, skip, err := keyFromJWK(doc)
	if err != nil {
		return nil, fmt.Errorf("jwk: %w", err)
	}
	if skip != "" {
		return nil, fmt.Errorf("jwk: %s", skip)
	}

	return []*Key{k}, nil
}

// keysFromJWKS reads the "keys" member of a JWK Set (RFC 7517 §5). Keys
// this package cannot use are skipped; malformed or refused keys are errors.
func keysFromJWKS(raw interface{}) ([]*Key, error) {
	list, ok := raw.([]interface{})
	if !ok {
		return nil, errors.New("jwks: keys is not an array")
	}

	var keys []*Key
	var skipped []string
	for i := 0; i < len(list); i++ {
		m, ok := list[i].(map[string]interface{})
		if !ok {
			return nil, fmt.Errorf("jwks key %d: not an object", i)
		}
		k, skip, err := keyFromJWK(m)
		if err != nil {
			return nil, fmt.Errorf("jwks key %d: %w", i, err)
		}
		if skip != "" {
			skipped = append(skipped, fmt.Sprintf("key %d: %s", i, skip))
			continue
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		if len(skipped) == 0 {
			return nil, errors.New("jwks: no keys")
		}
		return nil, fmt.Errorf("jwks: no usable key (%s)", strings.Join(skipped, "; "))
	}

	return keys, nil
}

// keyFromJWK builds a key from one JWK (RFC 7517 §4). It returns a non-empty
// skip reason, and no error, for a well-formed key this package does not use.
func keyFromJWK(m map[string]interface{}) (*Key, string, error) {
	kty, err := jwkString(m, "kty")
	if err != nil {
		return nil, "", err
	}
	if kty == "" {
		return nil, "", errors.New("kty is missing")
	}
	// A "d" member means private key material (RFC 7518 §6.2.2, §6.3.2,
	// RFC 8037 §2): it has no place in a verifier's configuration.
	if _, ok := m["d"]; ok {
		return nil, "", errors.New("private key material refused: publish the public key only")
	}
	if kty == keyTypeOct {
		return nil, "", errors.New(`symmetric "oct" key refused: configure an HMAC secret instead`)
	}

	skip, err := jwkUnusable(m)
	if err != nil || skip != "" {
		return nil, skip, err
	}
	kid, err := jwkString(m, "kid")
	if err != nil {
		return nil, "", err
	}
	alg, err := jwkString(m, "alg")
	if err != nil {
		return nil, "", err
	}
	if alg != "" && !IsSupportedAlgorithm(alg) {
		return nil, fmt.Sprintf("alg %q is not supported", alg), nil
	}

	var k *Key
	switch kty {
	case keyTypeRSA:
		k, err = jwkRSA(m)
	case keyTypeEC:
		k, skip, err = jwkEC(m)
	case keyTypeOKP:
		k, skip, err = jwkOKP(m)
	default:
		return nil, fmt.Sprintf("kty %q is not supported", kty), nil
	}
	if err != nil || skip != "" {
		return nil, skip, err
	}
	if alg != "" && !keyFitsAlgorithm(k, algorithms[alg]) {
		return nil, "", fmt.Errorf("alg %q does not fit a %s %s key", alg, k.kty, k.crv)
	}
	k.ID = kid
	k.Alg = alg

	return k, "", nil
}

// jwkUnusable reports why a JWK is not meant for verifying signatures: "use"
// other than "sig" (RFC 7517 §4.2) or "key_ops" without "verify" (§4.3).
func jwkUnusable(m map[string]interface{}) (string, error) {
	use, err := jwkString(m, "use")
	if err != nil {
		return "", err
	}
	if use != "" && use != "sig" {
		return fmt.Sprintf("use %q is not sig", use), nil
	}

	raw, ok := m["key_ops"]
	if !ok {
		return "", nil
	}
	ops, ok := raw.([]interface{})
	if !ok {
		return "", errors.New("key_ops is not an array")
	}
	for i := 0; i < len(ops); i++ {
		if op, ok := ops[i].(string); ok && op == "verify" {
			return "", nil
		}
	}

	return "key_ops lacks verify", nil
}

// jwkRSA reads the "n" and "e" members of an RSA JWK (RFC 7518 §6.3.1).
func jwkRSA(m map[string]interface{}) (*Key, error) {
	n, err := jwkBytes(m, "n")
	if err != nil {
		return nil, err
	}
	e, err := jwkBytes(m, "e")
	if err != nil {
		return nil, err
	}
	eInt := new(big.Int).SetBytes(e)
	if eInt.BitLen() > 31 {
		return nil, errors.New("rsa exponent is too large")
	}

	return newRSAKey(&rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(eInt.Int64())})
}

// jwkEC reads an EC JWK (RFC 7518 §6.2.1). Coordinates must have the full
// length of the curve's field (§6.2.1.2, §6.2.1.3) and lie on the curve.
func jwkEC(m map[string]interface{}) (*Key, string, error) {
	crv, err := jwkString(m, "crv")
	if err != nil {
		return nil, "", err
	}
	curve := curveByName(crv)
	if curve == nil {
		return nil, fmt.Sprintf("ec crv %q is not supported", crv), nil
	}
	size := (curve.Params().BitSize + 7) / 8
	x, err := jwkBytes(m, "x")
	if err != nil {
		return nil, "", err
	}
	y, err := jwkBytes(m, "y")
	if err != nil {
		return nil, "", err
	}
	if len(x) != size || len(y) != size {
		return nil, "", fmt.Errorf("ec coordinates must be %d bytes", size)
	}
	pub := &ecdsa.PublicKey{Curve: curve, X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}
	k, err := newECKey(pub)

	return k, "", err
}

// jwkOKP reads an Ed25519 OKP JWK (RFC 8037 §2); other subtypes are skipped.
func jwkOKP(m map[string]interface{}) (*Key, string, error) {
	crv, err := jwkString(m, "crv")
	if err != nil {
		return nil, "", err
	}
	if crv != "Ed25519" {
		return nil, fmt.Sprintf("okp crv %q is not supported", crv), nil
	}
	x, err := jwkBytes(m, "x")
	if err != nil {
		return nil, "", err
	}
	k, err := newEd25519Key(ed25519.PublicKey(x))

	return k, "", err
}

// jwkString returns an optional string member; absent is "", another type
// is an error.
func jwkString(m map[string]interface{}, name string) (string, error) {
	raw, ok := m[name]
	if !ok {
		return "", nil
	}
	s, ok := raw.(string)
	if !ok {
		return "", fmt.Errorf("%s is not a string", name)
	}

	return s, nil
}

// jwkBytes returns a required base64url member (RFC 7518 §6). Trailing "="
// padding, which the RFC forbids but some publishers emit, is tolerated: the
// keys come from a configured, trusted source.
func jwkBytes(m map[string]interface{}, name string) ([]byte, error) {
	s, err := jwkString(m, name)
	if err != nil {
		return nil, err
	}
	if s == "" {
		return nil, fmt.Errorf("%s is missing", name)
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, fmt.Errorf("%s is not base64url: %v", name, err)
	}

	return b, nil
}
