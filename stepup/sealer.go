package stepup

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
)

// MinSecretSize is the smallest secret, in bytes, that NewSealer and
// NewSessionIssuer accept: 256 bits, the strength of the derived keys.
const MinSecretSize = 32

// maxSealedSize bounds a sealed value, in characters. A browser keeps about
// 4096 bytes per cookie (name and value), so nothing larger can come back from
// one; Open refuses longer input before decoding it, and Seal refuses to
// produce what Open would refuse.
const maxSealedSize = 4096

// gcmNonceSize is the standard 96-bit AES-GCM nonce (NIST SP 800-38D §8.2).
const gcmNonceSize = 12

// Sealer encrypts and authenticates small values, such as cookie contents,
// so that they can be handed to the browser and read back without any
// server-side store. The browser can neither read nor alter them.
//
// A value is sealed with the current secret and opened with the current or
// any previous secret, so secrets can be rotated without logging everyone
// out. The purpose separates uses: a value sealed for one purpose does not
// open under another, even with the same secret.
type Sealer struct {
	purpose string
	keys    []*sealKey // current first
}

// sealKey is one AEAD derived from one secret.
type sealKey struct {
	aead cipher.AEAD
}

// NewSealer returns a Sealer for purpose. secret seals and opens; previous
// secrets only open. Every secret must be at least MinSecretSize bytes, and
// purpose must not be empty.
//
// Keys are derived as HMAC-SHA256(secret, "traefikstepup/"+purpose), used
// as an AES-256-GCM key. (crypto/hkdf would be the textbook choice, but it is
// absent from the standard library Yaegi offers; a single HMAC of a
// high-entropy secret with a fixed label is a sound PRF-based derivation.)
// The same secret may also sign HS256 session tokens: a JWS signing input
// always contains a ".", so no token signature ever equals a derived key.
func NewSealer(secret []byte, previous [][]byte, purpose string) (*Sealer, error) {
	if purpose == "" {
		return nil, errors.New("sealer purpose is empty")
	}

	s := &Sealer{purpose: purpose}
	all := make([][]byte, 0, 1+len(previous))
	all = append(all, secret)
	all = append(all, previous...)
	for i := 0; i < len(all); i++ {
		k, err := newSealKey(all[i], purpose)
		if err != nil {
			if i == 0 {
				return nil, fmt.Errorf("secret: %v", err)
			}
			return nil, fmt.Errorf("previous secret %d: %v", i-1, err)
		}
		s.keys = append(s.keys, k)
	}

	return s, nil
}

// newSealKey derives the AEAD of one secret for purpose.
func newSealKey(secret []byte, purpose string) (*sealKey, error) {
	if len(secret) < MinSecretSize {
		return nil, fmt.Errorf("shorter than %d bytes", MinSecretSize)
	}

	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("traefikstepup/" + purpose))
	block, err := aes.NewCipher(mac.Sum(nil))
	if err != nil {
		return nil, err
	}

	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}

	return &sealKey{aead: aead}, nil
}

// Seal encrypts plaintext under the current secret and returns
// base64url(nonce || ciphertext || tag), without padding. The nonce is 12
// random bytes; the purpose is bound as additional data. It fails when the
// result would be longer than Open accepts (4096 characters).
func (s *Sealer) Seal(plaintext []byte) (string, error) {
	nonce := make([]byte, gcmNonceSize)
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("sealing: %v", err)
	}

	out := s.keys[0].aead.Seal(nonce, nonce, plaintext, []byte(s.purpose))
	sealed := base64.RawURLEncoding.EncodeToString(out)
	if len(sealed) > maxSealedSize {
		return "", fmt.Errorf("sealing: %d characters exceed %d", len(sealed), maxSealedSize)
	}

	return sealed, nil
}

// Open authenticates and decrypts a value made by Seal, trying the current
// secret then each previous one. Any failure (too long, bad encoding, too
// short, forged, sealed for another purpose or with an unknown secret) is
// ErrSealedInvalid; the cause is deliberately not distinguished. GCM checks
// the tag in constant time.
func (s *Sealer) Open(sealed string) ([]byte, error) {
	// Bound the input before decoding: it comes straight from the client.
	if len(sealed) > maxSealedSize {
		return nil, fmt.Errorf("%w: too long", ErrSealedInvalid)
	}

	raw, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil {
		return nil, fmt.Errorf("%w: bad encoding", ErrSealedInvalid)
	}
	if len(raw) < gcmNonceSize+s.keys[0].aead.Overhead() {
		return nil, fmt.Errorf("%w: too short", ErrSealedInvalid)
	}

	nonce, ciphertext := raw[:gcmNonceSize], raw[gcmNonceSize:]
	for i := 0; i < len(s.keys); i++ {
		plain, err := s.keys[i].aead.Open(nil, nonce, ciphertext, []byte(s.purpose))
		if err == nil {
			return plain, nil
		}
	}

	return nil, fmt.Errorf("%w: authentication failed", ErrSealedInvalid)
}
