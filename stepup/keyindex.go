package stepup

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"
	"math/big"
)

// algKeys are a static key set's candidates for one algorithm, selected
// once by selectKeys: for a token without kid, for each kid a key has, and
// for any other kid.
type algKeys struct {
	alg    algorithm
	verify func(k *Key, input, sig []byte) bool // signatureCheck(alg)
	noKid  []*Key
	byKid  map[string][]*Key
	other  []*Key
}

// indexStatic selects, for every supported algorithm, the candidates of a
// set of static keys, so that VerifySignature does no selection per token.
// Keys never change in a static set, so the selection does not either.
func indexStatic(keys []*Key) map[string]*algKeys {
	absent := "~" // longer than every kid, hence none of them
	for i := 0; i < len(keys); i++ {
		absent += keys[i].ID
	}
	index := make(map[string]*algKeys, len(algorithms))
	for name, alg := range algorithms {
		index[name] = newAlgKeys(keys, alg, absent)
	}

	return index
}

// newAlgKeys selects the candidates of keys for alg (a constructor, so that
// each algorithm gets its own under Yaegi).
func newAlgKeys(keys []*Key, alg algorithm, absent string) *algKeys {
	a := &algKeys{alg: alg, verify: signatureCheck(alg), byKid: make(map[string][]*Key)}
	a.noKid, _ = selectKeys(keys, "", alg)
	a.other, _ = selectKeys(keys, absent, alg)
	for i := 0; i < len(keys); i++ {
		if keys[i].ID != "" {
			candidates, _ := selectKeys(keys, keys[i].ID, alg)
			a.byKid[keys[i].ID] = candidates
		}
	}

	return a
}

// allowedIndex returns the entries of index for the algorithms in allowed:
// an issuer's own view of its static keys, so that a token's alg is allowed
// when it has an entry.
func allowedIndex(index map[string]*algKeys, allowed []string) map[string]*algKeys {
	out := make(map[string]*algKeys, len(allowed))
	for i := 0; i < len(allowed); i++ {
		if a := index[allowed[i]]; a != nil {
			out[allowed[i]] = a
		}
	}

	return out
}

// verifyStatic is VerifySignature for a static set when the token's
// algorithm is allowed and has the entry a. It returns whether it handled
// the token, and the verification's error: not handled when no key is a
// candidate, and the caller then selects and reports as for any set.
// (Unnamed results: under Yaegi named ones are not reset between calls.)
func verifyStatic(a *algKeys, jws *JWS) (bool, error) {
	candidates := a.noKid
	if jws.Header.Kid != "" {
		if candidates = a.byKid[jws.Header.Kid]; candidates == nil {
			candidates = a.other
		}
	}
	if len(candidates) == 0 {
		return false, nil
	}

	return true, verifyCandidates(a, candidates, jws)
}

// verifyCandidates checks jws's signature with each of candidates, keys
// of a that fit its algorithm, until one verifies it.
func verifyCandidates(a *algKeys, candidates []*Key, jws *JWS) error {
	for i := 0; i < len(candidates); i++ {
		if a.verify(candidates[i], jws.SigningInput, jws.Signature) {
			return nil
		}
	}

	return signatureError(jws)
}

// signatureError reports a signature that no candidate key verifies.
func signatureError(jws *JWS) error {
	return fmt.Errorf("%s, kid %q: %w", jws.Header.Alg, jws.Header.Kid, ErrSignatureInvalid)
}

// signatureCheck returns the signature check of alg's family for keys that
// are known to fit alg (every candidate of an index is): the check alone,
// without verifyWithKey's fit test and family switch, whose expressions
// Yaegi would allocate on every call.
func signatureCheck(alg algorithm) func(k *Key, input, sig []byte) bool {
	newHash := hashConstructor(alg.hash)
	switch alg.family {
	case familyHMAC:
		return hmacCheck(alg.hash)
	case familyPKCS1:
		return pkcs1Check(alg.hash, newHash)
	case familyPSS:
		return pssCheck(alg.hash, newHash)
	case familyECDSA:
		return ecdsaCheck(newHash, alg.sigSize)
	}

	return ed25519Check(alg.sigSize)
}

// hashConstructor returns the constructor of one of the SHA-2 functions JWS
// uses (called directly: crypto.Hash.New depends on hash registration), nil
// for none.
func hashConstructor(h crypto.Hash) func() hash.Hash {
	switch h {
	case crypto.SHA256:
		return sha256.New
	case crypto.SHA384:
		return sha512.New384
	case crypto.SHA512:
		return sha512.New
	}

	return nil
}

// hmacCheck checks HMAC signatures (RFC 7518 §3.2) in constant time.
func hmacCheck(h crypto.Hash) func(k *Key, input, sig []byte) bool {
	return func(k *Key, input, sig []byte) bool {
		return verifyHMAC(h, k.secret, input, sig)
	}
}

// pkcs1Check checks RSASSA-PKCS1-v1_5 signatures (RFC 7518 §3.3).
func pkcs1Check(h crypto.Hash, newHash func() hash.Hash) func(k *Key, input, sig []byte) bool {
	return func(k *Key, input, sig []byte) bool {
		d := newHash()
		d.Write(input)
		return rsa.VerifyPKCS1v15(k.rsa, h, d.Sum(nil), sig) == nil
	}
}

// pssCheck checks RSASSA-PSS signatures, salt as long as the hash output
// (RFC 7518 §3.5).
func pssCheck(h crypto.Hash, newHash func() hash.Hash) func(k *Key, input, sig []byte) bool {
	opts := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}
	return func(k *Key, input, sig []byte) bool {
		d := newHash()
		d.Write(input)
		return rsa.VerifyPSS(k.rsa, h, d.Sum(nil), sig, opts) == nil
	}
}

// ecdsaCheck checks ECDSA signatures: raw R||S of exactly size bytes, two
// halves of equal length (RFC 7518 §3.4), so a DER-encoded one fails.
func ecdsaCheck(newHash func() hash.Hash, size int) func(k *Key, input, sig []byte) bool {
	return func(k *Key, input, sig []byte) bool {
		if len(sig) != size {
			return false
		}
		d := newHash()
		d.Write(input)
		r := new(big.Int).SetBytes(sig[:size/2])
		s := new(big.Int).SetBytes(sig[size/2:])
		return ecdsa.Verify(k.ec, d.Sum(nil), r, s)
	}
}

// ed25519Check checks EdDSA signatures with Ed25519 keys (RFC 8037 §3.1).
func ed25519Check(size int) func(k *Key, input, sig []byte) bool {
	return func(k *Key, input, sig []byte) bool {
		return len(sig) == size && ed25519.Verify(k.ed, input, sig)
	}
}
