package stepup

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"
)

func pemBlock(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func spkiPEM(t *testing.T, pub interface{}) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}

	return pemBlock("PUBLIC KEY", der)
}

// selfSignedPEM returns a certificate for the P-256 test key.
func selfSignedPEM(t *testing.T, priv *ecdsa.PrivateKey) string {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "issuer.example"},
		NotBefore:    time.Unix(0, 0),
		NotAfter:     time.Unix(1, 0), // long expired: validity is not checked
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}

	return pemBlock("CERTIFICATE", der)
}

// jwkJSON marshals a JWK given as a map, for table cases.
func jwkJSON(t *testing.T, m map[string]interface{}) string {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}

	return string(b)
}

func ecJWK(pub *ecdsa.PublicKey) map[string]interface{} {
	size := (pub.Curve.Params().BitSize + 7) / 8
	return map[string]interface{}{
		"kty": "EC", "crv": pub.Curve.Params().Name,
		"x": b64(pub.X.FillBytes(make([]byte, size))),
		"y": b64(pub.Y.FillBytes(make([]byte, size))),
	}
}

func rsaJWK(pub *rsa.PublicKey) map[string]interface{} {
	return map[string]interface{}{
		"kty": "RSA", "n": b64(pub.N.Bytes()), "e": b64(big.NewInt(int64(pub.E)).Bytes()),
	}
}

// withMember returns a copy of m with name set to v (or removed when v is nil).
func withMember(m map[string]interface{}, name string, v interface{}) map[string]interface{} {
	c := map[string]interface{}{}
	for k, val := range m {
		c[k] = val
	}
	if v == nil {
		delete(c, name)
	} else {
		c[name] = v
	}

	return c
}

func TestParseKeys(t *testing.T) {
	tk := joseKeys(t)
	rsaPEM := spkiPEM(t, &tk.rsa.PublicKey)
	ecPEM := spkiPEM(t, &tk.p384.PublicKey)
	edPEM := spkiPEM(t, tk.ed.Public())
	pkcs1PEM := pemBlock("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&tk.rsa.PublicKey))
	certPEM := selfSignedPEM(t, tk.p256)
	// A 1024-bit modulus needs no real key: the size check comes first.
	weak := &rsa.PublicKey{N: new(big.Int).Add(new(big.Int).Lsh(big.NewInt(1), 1023), big.NewInt(1)), E: 65537}
	weakPEM := pemBlock("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(weak))
	privDER, err := x509.MarshalPKCS8PrivateKey(tk.p256)
	if err != nil {
		t.Fatal(err)
	}
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}

	rsaJ := rsaJWK(&tk.rsa.PublicKey)
	ecJ := ecJWK(&tk.p256.PublicKey)
	edJ := map[string]interface{}{"kty": "OKP", "crv": "Ed25519", "x": b64(tk.ed[32:])}
	offCurve := withMember(ecJ, "y", b64(make([]byte, 32)))
	shortX := withMember(ecJ, "x", b64(tk.p256.PublicKey.X.Bytes()[1:]))
	set := func(keys ...map[string]interface{}) string {
		list := make([]interface{}, 0, len(keys))
		for _, k := range keys {
			list = append(list, k)
		}
		return jwkJSON(t, map[string]interface{}{"keys": list})
	}

	tests := []struct {
		name     string
		material string
		want     []string // kty/crv/kid/alg of each key, "" on error
		wantErr  string   // substring of the error
	}{
		{name: "pem rsa spki", material: rsaPEM, want: []string{"RSA///"}},
		{name: "pem ec spki", material: ecPEM, want: []string{"EC/P-384//"}},
		{name: "pem ed25519 spki", material: edPEM, want: []string{"OKP/Ed25519//"}},
		{name: "pem pkcs1", material: pkcs1PEM, want: []string{"RSA///"}},
		{name: "pem expired certificate", material: certPEM, want: []string{"EC/P-256//"}},
		{name: "pem several blocks", material: "\n" + rsaPEM + certPEM + edPEM + "\n",
			want: []string{"RSA///", "EC/P-256//", "OKP/Ed25519//"}},
		{name: "pem private key", material: pemBlock("PRIVATE KEY", privDER), wantErr: "PRIVATE KEY refused"},
		{name: "pem rsa private key", material: rsaPEM + pemBlock("RSA PRIVATE KEY", []byte{1}),
			wantErr: "pem block 2: RSA PRIVATE KEY refused"},
		{name: "pem weak rsa", material: weakPEM, wantErr: "1024 bits refused"},
		{name: "pem p-224", material: spkiPEM(t, &p224.PublicKey), wantErr: `curve "P-224"`},
		{name: "pem unknown block", material: pemBlock("X509 CRL", []byte{1}), wantErr: "unsupported block"},
		{name: "pem garbage after", material: rsaPEM + "trailing", wantErr: "after block 1"},
		{name: "pem broken", material: "-----BEGIN PUBLIC KEY-----\nAAA\n", wantErr: "no readable block"},
		{name: "pem bad der", material: pemBlock("PUBLIC KEY", []byte{1, 2}), wantErr: "pem block 1"},
		{name: "empty", material: "  ", wantErr: "no key material"},
		{name: "neither", material: "ssh-rsa AAAA", wantErr: "neither PEM nor JSON"},
		{name: "jwk rsa", material: jwkJSON(t, withMember(rsaJ, "kid", "r1")), want: []string{"RSA//r1/"}},
		{name: "jwk ec with alg", material: jwkJSON(t, withMember(ecJ, "alg", "ES256")),
			want: []string{"EC/P-256//ES256"}},
		{name: "jwk okp", material: jwkJSON(t, edJ), want: []string{"OKP/Ed25519//"}},
		{name: "jwk padded base64", material: jwkJSON(t, withMember(edJ, "x", edJ["x"].(string)+"=")),
			want: []string{"OKP/Ed25519//"}},
		{name: "jwk with d", material: jwkJSON(t, withMember(ecJ, "d", "AAAA")), wantErr: "private key material"},
		{name: "jwk oct", material: `{"kty":"oct","k":"AAAA"}`, wantErr: `"oct" key refused`},
		{name: "jwk missing kty", material: `{"n":"AAAA"}`, wantErr: "kty is missing"},
		{name: "jwk unknown kty", material: `{"kty":"XYZ"}`, wantErr: `kty "XYZ" is not supported`},
		{name: "jwk use enc", material: jwkJSON(t, withMember(rsaJ, "use", "enc")), wantErr: "use"},
		{name: "jwk alg mismatch", material: jwkJSON(t, withMember(rsaJ, "alg", "ES256")),
			wantErr: `alg "ES256" does not fit`},
		{name: "jwk curve mismatch", material: jwkJSON(t, withMember(ecJ, "alg", "ES384")),
			wantErr: `alg "ES384" does not fit`},
		{name: "jwk off curve", material: jwkJSON(t, offCurve), wantErr: "not on the curve"},
		{name: "jwk short coordinate", material: jwkJSON(t, shortX), wantErr: "must be 32 bytes"},
		{name: "jwk okp short", material: jwkJSON(t, withMember(edJ, "x", "AAAA")), wantErr: "3 bytes"},
		{name: "jwk okp x25519", material: `{"kty":"OKP","crv":"X25519","x":"AAAA"}`, wantErr: "X25519"},
		{name: "jwk rsa missing e", material: jwkJSON(t, withMember(rsaJ, "e", nil)), wantErr: "e is missing"},
		{name: "jwk rsa even exponent", material: jwkJSON(t, withMember(rsaJ, "e", "Ag")),
			wantErr: "exponent 2 is invalid"},
		{name: "jwk rsa huge exponent", material: jwkJSON(t, withMember(rsaJ, "e", "AQAAAAE")),
			wantErr: "exponent is too large"},
		{name: "jwk rsa small", material: jwkJSON(t, rsaJWK(weak)), wantErr: "1024 bits refused"},
		{name: "jwk kid not string", material: jwkJSON(t, withMember(rsaJ, "kid", 7)), wantErr: "kid is not"},
		{name: "jwk bad base64", material: jwkJSON(t, withMember(rsaJ, "n", "!!")), wantErr: "n is not base64url"},
		{name: "json not object", material: `{"keys":`, wantErr: "json keys"},
		{name: "jwks", material: set(withMember(rsaJ, "kid", "r1"), withMember(ecJ, "kid", "e1")),
			want: []string{"RSA//r1/", "EC/P-256/e1/"}},
		{name: "jwks skips unusable keys", material: set(
			map[string]interface{}{"kty": "XYZ"},
			withMember(rsaJ, "use", "enc"),
			withMember(rsaJ, "alg", "RSA-OAEP"),
			withMember(rsaJ, "key_ops", []interface{}{"encrypt"}),
			map[string]interface{}{"kty": "OKP", "crv": "Ed448", "x": "AAAA"},
			map[string]interface{}{"kty": "EC", "crv": "secp256k1", "x": "AA", "y": "AA"},
			withMember(withMember(ecJ, "use", "sig"), "key_ops", []interface{}{"verify"})),
			want: []string{"EC/P-256//"}},
		{name: "jwks only unusable keys", material: set(withMember(rsaJ, "use", "enc")),
			wantErr: "no usable key"},
		{name: "jwks empty", material: `{"keys":[]}`, wantErr: "jwks: no keys"},
		{name: "jwks not array", material: `{"keys":{}}`, wantErr: "not an array"},
		{name: "jwks names the bad key", material: set(rsaJ, ecJ, withMember(ecJ, "d", "AAAA")),
			wantErr: "jwks key 2: private key material"},
		{name: "jwks entry not object", material: `{"keys":[1]}`, wantErr: "jwks key 0: not an object"},
	}
	for _, tt := range tests {
		keys, err := ParseKeys(tt.material)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: err = %v, want it to contain %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: err = %v", tt.name, err)
			continue
		}
		got := make([]string, 0, len(keys))
		for _, k := range keys {
			got = append(got, k.Type()+"/"+k.crv+"/"+k.ID+"/"+k.Alg)
		}
		if strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("%s: keys = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestNewSecretKeyCopies(t *testing.T) {
	secret := []byte(strings.Repeat("s", 32))
	k := NewSecretKey(secret)
	secret[0] = 'x'
	if k.secret[0] != 's' || k.Type() != "oct" {
		t.Errorf("secret key = %q/%s, want a private copy of type oct", k.secret, k.Type())
	}
}
