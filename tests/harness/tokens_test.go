package harness

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"sync"
	"testing"
)

// signer mints compact JWS tokens with the standard library, independently of
// the plugin's own JOSE code.
type signer struct {
	alg string
	kid string
	key any // *rsa.PrivateKey, *ecdsa.PrivateKey or []byte (HMAC secret)
}

// mint signs claims into a compact JWS with the signer's alg and kid.
func (s signer) mint(tb testing.TB, claims map[string]any) string {
	tb.Helper()

	header := map[string]any{"alg": s.alg, "typ": "JWT"}
	if s.kid != "" {
		header["kid"] = s.kid
	}

	return s.sign(tb, b64JSON(tb, header)+"."+b64JSON(tb, claims))
}

// sign signs input, the encoded header and payload joined by ".", with the
// signer's alg and key, and returns the compact JWS.
func (s signer) sign(tb testing.TB, input string) string {
	tb.Helper()

	digest := sha256.Sum256([]byte(input))

	var sig []byte
	var err error
	switch s.alg {
	case "RS256":
		sig, err = rsa.SignPKCS1v15(rand.Reader, s.key.(*rsa.PrivateKey), crypto.SHA256, digest[:])
	case "ES256":
		sig, err = signES256(s.key.(*ecdsa.PrivateKey), digest[:])
	case "HS256":
		mac := hmac.New(sha256.New, s.key.([]byte))
		mac.Write([]byte(input))
		sig = mac.Sum(nil)
	default:
		tb.Fatalf("signer: unsupported alg %s", s.alg)
	}
	if err != nil {
		tb.Fatalf("signing %s: %v", s.alg, err)
	}

	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// signES256 returns the JWS form of an ECDSA P-256 signature: R and S as
// fixed 32-byte big-endian integers (RFC 7518 §3.4), not DER.
func signES256(key *ecdsa.PrivateKey, digest []byte) ([]byte, error) {
	r, s, err := ecdsa.Sign(rand.Reader, key, digest)
	if err != nil {
		return nil, err
	}

	out := make([]byte, 64)
	r.FillBytes(out[:32])
	s.FillBytes(out[32:])

	return out, nil
}

func b64JSON(tb testing.TB, v any) string {
	tb.Helper()

	raw, err := json.Marshal(v)
	if err != nil {
		tb.Fatalf("marshalling: %v", err)
	}

	return base64.RawURLEncoding.EncodeToString(raw)
}

// Keys shared by every test and benchmark of the package: RSA generation is
// slow, so it happens once.
var (
	keysOnce sync.Once
	rsaKey   *rsa.PrivateKey
	ecKey    *ecdsa.PrivateKey
	keysErr  error
)

func testKeys(tb testing.TB) (*rsa.PrivateKey, *ecdsa.PrivateKey) {
	tb.Helper()

	keysOnce.Do(func() {
		rsaKey, keysErr = rsa.GenerateKey(rand.Reader, 2048)
		if keysErr != nil {
			return
		}
		ecKey, keysErr = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	})
	if keysErr != nil {
		tb.Fatalf("generating keys: %v", keysErr)
	}

	return rsaKey, ecKey
}

// publicPEM encodes public keys as concatenated SPKI PEM blocks.
func publicPEM(tb testing.TB, keys ...crypto.PublicKey) string {
	tb.Helper()

	var out []byte
	for _, k := range keys {
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			tb.Fatalf("marshalling public key: %v", err)
		}
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})...)
	}

	return string(out)
}

// testDataSigner returns a signer for the issuer key of .traefik.yml's testData.
func testDataSigner(tb testing.TB) signer {
	tb.Helper()

	raw, err := os.ReadFile("testdata/issuer-es256.key")
	if err != nil {
		tb.Fatalf("reading testData issuer key: %v", err)
	}

	block, _ := pem.Decode(raw)
	if block == nil {
		tb.Fatal("testData issuer key: no PEM block")
	}

	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		tb.Fatalf("parsing testData issuer key: %v", err)
	}

	return signer{alg: "ES256", key: k.(*ecdsa.PrivateKey)}
}

// serial makes distinct jti values for fresh-token benchmarks.
func serial(i int) string {
	return new(big.Int).SetInt64(int64(i)).Text(36)
}
