package stepup

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
)

// joseTestKeys are the private keys tokens are signed with in these tests.
type joseTestKeys struct {
	rsa    *rsa.PrivateKey
	p256   *ecdsa.PrivateKey
	p384   *ecdsa.PrivateKey
	p521   *ecdsa.PrivateKey
	ed     ed25519.PrivateKey
	secret []byte // 64 bytes: long enough for HS512
}

var (
	joseKeysOnce sync.Once
	joseKeysVal  *joseTestKeys
)

// joseKeys returns the package's test keys, made once: RSA 2048 key
// generation is slow, under Yaegi most of all.
func joseKeys(t testing.TB) *joseTestKeys {
	t.Helper()
	joseKeysOnce.Do(func() { joseKeysVal = newJOSETestKeys() })
	if joseKeysVal == nil {
		t.Fatal("generating test keys failed")
	}

	return joseKeysVal
}

func newJOSETestKeys() *joseTestKeys {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil
	}
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	secret := make([]byte, 64)
	if _, err := rand.Read(secret); err != nil {
		return nil
	}

	return &joseTestKeys{rsa: rk, p256: p256, p384: p384, p521: p521, ed: ed, secret: secret}
}

// publicKeys returns one verification Key per test key, without kid.
func (tk *joseTestKeys) publicKeys(t testing.TB) []*Key {
	t.Helper()
	keys := []*Key{
		pubKey(t, &tk.rsa.PublicKey),
		pubKey(t, &tk.p256.PublicKey),
		pubKey(t, &tk.p384.PublicKey),
		pubKey(t, &tk.p521.PublicKey),
		pubKey(t, tk.ed.Public()),
		NewSecretKey(tk.secret),
	}

	return keys
}

func pubKey(t testing.TB, pub interface{}) *Key {
	t.Helper()
	k, err := keyFromPublic(pub)
	if err != nil {
		t.Fatalf("building key: %v", err)
	}

	return k
}

// joseSign signs input under alg with the matching test key.
func joseSign(t testing.TB, tk *joseTestKeys, alg string, input []byte) []byte {
	t.Helper()
	a, ok := lookupAlgorithm(alg)
	if !ok {
		t.Fatalf("unknown alg %s", alg)
	}

	var sig []byte
	var err error
	switch a.family {
	case familyHMAC:
		sig = joseHMAC(a.hash, tk.secret, input)
	case familyPKCS1:
		sig, err = rsa.SignPKCS1v15(rand.Reader, tk.rsa, a.hash, digest(a.hash, input))
	case familyPSS:
		opts := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}
		sig, err = rsa.SignPSS(rand.Reader, tk.rsa, a.hash, digest(a.hash, input), opts)
	case familyECDSA:
		sig = joseSignECDSA(t, tk.ecKey(a.curve), a.hash, input)
	case familyEd25519:
		sig = ed25519.Sign(tk.ed, input)
	}
	if err != nil {
		t.Fatalf("signing %s: %v", alg, err)
	}

	return sig
}

func (tk *joseTestKeys) ecKey(curve string) *ecdsa.PrivateKey {
	switch curve {
	case "P-384":
		return tk.p384
	case "P-521":
		return tk.p521
	}

	return tk.p256
}

func joseHMAC(h crypto.Hash, secret, input []byte) []byte {
	switch h {
	case crypto.SHA384:
		return hmacSum(secret, input, 384)
	case crypto.SHA512:
		return hmacSum(secret, input, 512)
	}

	return hmacSum(secret, input, 256)
}

// hmacSum computes HMAC-SHA-2 independently of verifyHMAC's hash choice.
func hmacSum(secret, input []byte, bits int) []byte {
	m := hmac.New(sha256.New, secret)
	switch bits {
	case 384:
		m = hmac.New(sha512.New384, secret)
	case 512:
		m = hmac.New(sha512.New, secret)
	}
	m.Write(input)

	return m.Sum(nil)
}

// joseSignECDSA returns a raw R||S signature of fixed length (RFC 7518 §3.4).
func joseSignECDSA(t testing.TB, priv *ecdsa.PrivateKey, h crypto.Hash, input []byte) []byte {
	t.Helper()
	r, s, err := ecdsa.Sign(rand.Reader, priv, digest(h, input))
	if err != nil {
		t.Fatalf("ecdsa: %v", err)
	}
	size := (priv.Curve.Params().BitSize + 7) / 8
	sig := make([]byte, 2*size)
	r.FillBytes(sig[:size])
	s.FillBytes(sig[size:])

	return sig
}

// joseToken builds a compact JWS: header gets alg unless it has one.
func joseToken(t testing.TB, alg string, header map[string]interface{}, payload string) string {
	t.Helper()
	h := map[string]interface{}{}
	for k, v := range header {
		h[k] = v
	}
	if _, ok := h["alg"]; !ok {
		h["alg"] = alg
	}
	hj, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	input := b64(hj) + "." + b64([]byte(payload))
	sig := joseSign(t, joseKeys(t), alg, []byte(input))

	return input + "." + b64(sig)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

var allAlgorithms = []string{
	"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
	"ES256", "ES384", "ES512", "EdDSA",
}

const testClaims = `{"iss":"https://issuer.example","sub":"alice"}`

func TestVerifyEveryAlgorithm(t *testing.T) {
	tk := joseKeys(t)
	ks := NewKeySet(tk.publicKeys(t), nil)
	for _, alg := range allAlgorithms {
		jws, err := ParseJWS(joseToken(t, alg, nil, testClaims), 0)
		if err != nil {
			t.Fatalf("%s: ParseJWS: %v", alg, err)
		}
		if err := ks.VerifySignature(context.Background(), jws, allAlgorithms); err != nil {
			t.Errorf("%s: VerifySignature = %v, want nil", alg, err)
		}
		// Tampered payload: same header and signature, other claims.
		jws.SigningInput = []byte(strings.Replace(string(jws.SigningInput), ".", ".e", 1))
		err = ks.VerifySignature(context.Background(), jws, allAlgorithms)
		if !errors.Is(err, ErrSignatureInvalid) {
			t.Errorf("%s tampered: err = %v, want ErrSignatureInvalid", alg, err)
		}
	}
}

func TestVerifyWithKey(t *testing.T) {
	tk := joseKeys(t)
	input := []byte("header.payload")
	rsaKey := pubKey(t, &tk.rsa.PublicKey)
	p256 := pubKey(t, &tk.p256.PublicKey)
	p384 := pubKey(t, &tk.p384.PublicKey)
	edKey := pubKey(t, tk.ed.Public())
	boundRS256 := pubKey(t, &tk.rsa.PublicKey)
	boundRS256.Alg = "RS256"
	derSig, err := ecdsa.SignASN1(rand.Reader, tk.p256, digest(crypto.SHA256, input))
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		alg  string
		key  *Key
		sig  []byte
		want error
	}{
		{name: "RS256 valid", alg: "RS256", key: rsaKey, sig: joseSign(t, tk, "RS256", input)},
		{name: "ES256 valid", alg: "ES256", key: p256, sig: joseSign(t, tk, "ES256", input)},
		{name: "bound key, its alg", alg: "RS256", key: boundRS256,
			sig: joseSign(t, tk, "RS256", input)},
		{name: "bound key, other alg", alg: "RS384", key: boundRS256,
			sig: joseSign(t, tk, "RS384", input), want: ErrAlgorithmNotAllowed},
		{name: "HS256 with RSA key", alg: "HS256", key: rsaKey,
			sig: joseSign(t, tk, "HS256", input), want: ErrAlgorithmNotAllowed},
		{name: "RS256 with EC key", alg: "RS256", key: p256,
			sig: joseSign(t, tk, "RS256", input), want: ErrAlgorithmNotAllowed},
		{name: "ES256 with P-384 key", alg: "ES256", key: p384,
			sig: joseSign(t, tk, "ES256", input), want: ErrAlgorithmNotAllowed},
		{name: "ES384 with P-256 key", alg: "ES384", key: p256,
			sig: joseSign(t, tk, "ES384", input), want: ErrAlgorithmNotAllowed},
		{name: "EdDSA with RSA key", alg: "EdDSA", key: rsaKey,
			sig: joseSign(t, tk, "EdDSA", input), want: ErrAlgorithmNotAllowed},
		{name: "HS512 with 32-byte secret", alg: "HS512", key: NewSecretKey(tk.secret[:32]),
			sig: joseSign(t, tk, "HS512", input), want: ErrAlgorithmNotAllowed},
		{name: "HS256 with other secret", alg: "HS256", key: NewSecretKey(make([]byte, 32)),
			sig: joseSign(t, tk, "HS256", input), want: ErrSignatureInvalid},
		{name: "PS256 signature as RS256", alg: "RS256", key: rsaKey,
			sig: joseSign(t, tk, "PS256", input), want: ErrSignatureInvalid},
		{name: "ES256 DER signature", alg: "ES256", key: p256, sig: derSig,
			want: ErrSignatureInvalid},
		{name: "ES256 truncated", alg: "ES256", key: p256,
			sig: joseSign(t, tk, "ES256", input)[:63], want: ErrSignatureInvalid},
		{name: "EdDSA wrong key", alg: "EdDSA", key: pubKey(t, ed25519.PublicKey(make([]byte, 32))),
			sig: joseSign(t, tk, "EdDSA", input), want: ErrSignatureInvalid},
		{name: "EdDSA valid", alg: "EdDSA", key: edKey, sig: joseSign(t, tk, "EdDSA", input)},
	}
	for _, tt := range tests {
		err := verifyWithKey(algorithms[tt.alg], tt.key, input, tt.sig)
		if (tt.want == nil && err != nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
}

// TestKeyConfusion signs an HS256 token with the RSA public key's PEM bytes as
// the HMAC secret, the classic attack on verifiers that let the token pick how
// a key is used (RFC 8725 §2.1).
func TestKeyConfusion(t *testing.T) {
	tk := joseKeys(t)
	der, err := x509.MarshalPKIXPublicKey(&tk.rsa.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	keys, err := ParseKeys(string(pemBytes))
	if err != nil {
		t.Fatal(err)
	}
	input := b64([]byte(`{"alg":"HS256"}`)) + "." + b64([]byte(testClaims))
	token := input + "." + b64(hmacSum(pemBytes, []byte(input), 256))
	jws, err := ParseJWS(token, 0)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		keys []*Key
		want error
	}{
		{name: "only the RSA key", keys: keys, want: ErrAlgorithmNotAllowed},
		{name: "RSA key and another secret", keys: append([]*Key{NewSecretKey(tk.secret)}, keys...),
			want: ErrSignatureInvalid},
	}
	for _, tt := range tests {
		err := NewKeySet(tt.keys, nil).VerifySignature(context.Background(), jws,
			[]string{"RS256", "HS256"})
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
}

// rfcVector is one published example of stepup/testdata/jose_rfc_vectors.json.
type rfcVector struct {
	Name   string                 `json:"name"`
	Alg    string                 `json:"alg"`
	Secret string                 `json:"secret"`
	JWK    map[string]interface{} `json:"jwk"`
	Token  string                 `json:"token"`
}

// TestRFCVectors verifies the examples of RFC 7515 Appendix A.1 to A.4 and
// RFC 8037 §A.4 with their published keys. Their exp (1300819380) is long
// past: only signatures are checked here.
func TestRFCVectors(t *testing.T) {
	data, err := os.ReadFile("testdata/jose_rfc_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vectors []rfcVector
	if err := json.Unmarshal(data, &vectors); err != nil {
		t.Fatal(err)
	}
	if len(vectors) != 5 {
		t.Fatalf("%d vectors, want 5", len(vectors))
	}

	for _, v := range vectors {
		key := vectorKey(t, v)
		jws, err := ParseJWS(v.Token, 0)
		if err != nil {
			t.Errorf("%s: ParseJWS: %v", v.Name, err)
			continue
		}
		ks := NewKeySet([]*Key{key}, nil)
		if err := ks.VerifySignature(context.Background(), jws, []string{v.Alg}); err != nil {
			t.Errorf("%s: VerifySignature = %v", v.Name, err)
		}
		jws.Signature[0] ^= 1
		err = ks.VerifySignature(context.Background(), jws, []string{v.Alg})
		if !errors.Is(err, ErrSignatureInvalid) {
			t.Errorf("%s: flipped bit: err = %v, want ErrSignatureInvalid", v.Name, err)
		}
	}
}

func vectorKey(t *testing.T, v rfcVector) *Key {
	t.Helper()
	if v.Secret != "" {
		secret, err := base64.RawURLEncoding.DecodeString(v.Secret)
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		return NewSecretKey(secret)
	}
	raw, err := json.Marshal(v.JWK)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := ParseKeys(string(raw))
	if err != nil {
		t.Fatalf("%s: ParseKeys: %v", v.Name, err)
	}

	return keys[0]
}

func benchmarkVerify(b *testing.B, alg string) {
	tk := joseKeys(b)
	ks := NewKeySet(tk.publicKeys(b), nil)
	jws, err := ParseJWS(joseToken(b, alg, nil, testClaims), 0)
	if err != nil {
		b.Fatal(err)
	}
	allowed := []string{alg}
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := ks.VerifySignature(ctx, jws, allowed); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyRS256(b *testing.B) { benchmarkVerify(b, "RS256") }
func BenchmarkVerifyES256(b *testing.B) { benchmarkVerify(b, "ES256") }
func BenchmarkVerifyEdDSA(b *testing.B) { benchmarkVerify(b, "EdDSA") }
func BenchmarkVerifyHS256(b *testing.B) { benchmarkVerify(b, "HS256") }
