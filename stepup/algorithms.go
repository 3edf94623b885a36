package stepup

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"math/big"
)

// Key types, as the JWK "kty" values of RFC 7518 §6.1 and RFC 8037 §2.
const (
	keyTypeOct = "oct"
	keyTypeRSA = "RSA"
	keyTypeEC  = "EC"
	keyTypeOKP = "OKP"
)

// Signature families: how a signature is checked once the key fits.
const (
	familyHMAC    = "hmac"
	familyPKCS1   = "pkcs1"
	familyPSS     = "pss"
	familyECDSA   = "ecdsa"
	familyEd25519 = "ed25519"
)

// algorithm describes one JWS algorithm of RFC 7518 §3 or RFC 8037 §3.1 and
// binds it to the single key type (and curve) it may be verified with.
type algorithm struct {
	name    string
	family  string
	keyType string
	curve   string      // EC curve or OKP subtype the key must have; empty for oct and RSA
	hash    crypto.Hash // zero for EdDSA, which hashes internally
	sigSize int         // exact signature length in bytes; 0 when the key decides (RSA)
}

// algorithms is the closed table of supported algorithms. Anything else,
// "none" included, is refused before any key is looked at.
var algorithms = map[string]algorithm{
	"HS256": {name: "HS256", family: familyHMAC, keyType: keyTypeOct, hash: crypto.SHA256, sigSize: 32},
	"HS384": {name: "HS384", family: familyHMAC, keyType: keyTypeOct, hash: crypto.SHA384, sigSize: 48},
	"HS512": {name: "HS512", family: familyHMAC, keyType: keyTypeOct, hash: crypto.SHA512, sigSize: 64},
	"RS256": {name: "RS256", family: familyPKCS1, keyType: keyTypeRSA, hash: crypto.SHA256},
	"RS384": {name: "RS384", family: familyPKCS1, keyType: keyTypeRSA, hash: crypto.SHA384},
	"RS512": {name: "RS512", family: familyPKCS1, keyType: keyTypeRSA, hash: crypto.SHA512},
	"PS256": {name: "PS256", family: familyPSS, keyType: keyTypeRSA, hash: crypto.SHA256},
	"PS384": {name: "PS384", family: familyPSS, keyType: keyTypeRSA, hash: crypto.SHA384},
	"PS512": {name: "PS512", family: familyPSS, keyType: keyTypeRSA, hash: crypto.SHA512},
	"ES256": {name: "ES256", family: familyECDSA, keyType: keyTypeEC, curve: "P-256", hash: crypto.SHA256, sigSize: 64},
	"ES384": {name: "ES384", family: familyECDSA, keyType: keyTypeEC, curve: "P-384", hash: crypto.SHA384, sigSize: 96},
	"ES512": {name: "ES512", family: familyECDSA, keyType: keyTypeEC, curve: "P-521", hash: crypto.SHA512, sigSize: 132},
	"EdDSA": {name: "EdDSA", family: familyEd25519, keyType: keyTypeOKP, curve: "Ed25519", sigSize: 64},
}

// lookupAlgorithm returns the table entry for a JWS alg name. Names are
// case-sensitive (RFC 7515 §4.1.1).
func lookupAlgorithm(name string) (algorithm, bool) {
	alg, ok := algorithms[name]
	return alg, ok
}

// IsSupportedAlgorithm reports whether name is a JWS algorithm this package
// can verify. Callers use it to validate configured allowlists.
func IsSupportedAlgorithm(name string) bool {
	_, ok := lookupAlgorithm(name)
	return ok
}

// keyFitsAlgorithm reports whether k may verify signatures of alg: same key
// type, same curve, and the key's own alg (when it has one) equal to alg. This
// binding is what defeats key confusion: an RSA public key can never act as an
// HMAC secret, and a P-384 key never verifies ES256 (RFC 8725 §3.1).
func keyFitsAlgorithm(k *Key, alg algorithm) bool {
	if k == nil || k.kty != alg.keyType {
		return false
	}
	if k.Alg != "" && k.Alg != alg.name {
		return false
	}
	if alg.curve != "" && k.crv != alg.curve {
		return false
	}
	if alg.family == familyHMAC {
		// RFC 7518 §3.2: the secret must be at least as long as the hash output.
		return len(k.secret) >= alg.hash.Size()
	}

	return true
}

// verifyWithKey checks sig over input with k under alg. It returns
// ErrAlgorithmNotAllowed when the key does not fit the algorithm and
// ErrSignatureInvalid when the signature does not verify.
func verifyWithKey(alg algorithm, k *Key, input, sig []byte) error {
	if !keyFitsAlgorithm(k, alg) {
		return fmt.Errorf("%s with this key: %w", alg.name, ErrAlgorithmNotAllowed)
	}
	if alg.sigSize != 0 && len(sig) != alg.sigSize {
		// ECDSA signatures are raw R||S of fixed length (RFC 7518 §3.4), so a
		// DER-encoded signature fails here.
		return fmt.Errorf("%s signature of %d bytes: %w", alg.name, len(sig), ErrSignatureInvalid)
	}

	var ok bool
	switch alg.family {
	case familyHMAC:
		ok = verifyHMAC(alg.hash, k.secret, input, sig)
	case familyPKCS1:
		ok = rsa.VerifyPKCS1v15(k.rsa, alg.hash, digest(alg.hash, input), sig) == nil
	case familyPSS:
		// RFC 7518 §3.5: the salt is as long as the hash output.
		opts := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}
		ok = rsa.VerifyPSS(k.rsa, alg.hash, digest(alg.hash, input), sig, opts) == nil
	case familyECDSA:
		ok = verifyECDSA(k.ec, alg.hash, input, sig)
	case familyEd25519:
		ok = ed25519.Verify(k.ed, input, sig)
	}
	if !ok {
		return fmt.Errorf("%s: %w", alg.name, ErrSignatureInvalid)
	}

	return nil
}

// verifyHMAC recomputes the MAC and compares it in constant time, so the
// comparison leaks nothing about how many leading bytes matched.
func verifyHMAC(h crypto.Hash, secret, input, sig []byte) bool {
	var mac []byte
	switch h {
	case crypto.SHA256:
		m := hmac.New(sha256.New, secret)
		m.Write(input)
		mac = m.Sum(nil)
	case crypto.SHA384:
		m := hmac.New(sha512.New384, secret)
		m.Write(input)
		mac = m.Sum(nil)
	case crypto.SHA512:
		m := hmac.New(sha512.New, secret)
		m.Write(input)
		mac = m.Sum(nil)
	default:
		return false
	}

	return hmac.Equal(mac, sig)
}

// verifyECDSA splits a raw R||S signature into its two halves of equal,
// fixed length and checks them (RFC 7518 §3.4).
func verifyECDSA(pub *ecdsa.PublicKey, h crypto.Hash, input, sig []byte) bool {
	if pub == nil {
		return false
	}
	half := len(sig) / 2
	r := new(big.Int).SetBytes(sig[:half])
	s := new(big.Int).SetBytes(sig[half:])

	return ecdsa.Verify(pub, digest(h, input), r, s)
}

// digest hashes input with one of the three SHA-2 functions JWS uses. It
// calls the functions directly rather than crypto.Hash.New, which depends on
// hash registration.
func digest(h crypto.Hash, input []byte) []byte {
	switch h {
	case crypto.SHA256:
		d := sha256.Sum256(input)
		return d[:]
	case crypto.SHA384:
		d := sha512.Sum384(input)
		return d[:]
	case crypto.SHA512:
		d := sha512.Sum512(input)
		return d[:]
	}

	return nil
}
