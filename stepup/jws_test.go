package stepup

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// rawToken joins a raw header JSON, a payload and a signature segment
// without signing, for malformed-input cases.
func rawToken(header, payload, sig string) string {
	return b64([]byte(header)) + "." + b64([]byte(payload)) + "." + sig
}

// setPadBit sets the lowest unused bit of the last character of an unpadded
// base64url string of 16 bytes (22 characters, 4 unused bits): a decoder
// that is not strict accepts it as a second spelling of the same bytes.
func setPadBit(s string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, s[len(s)-1])

	return s[:len(s)-1] + string(alphabet[i+1])
}

// rfcRSAKey returns a fresh Key for the 2048-bit public key of RFC 7515 A.2,
// an RSA key other than the test key that costs no generation.
func rfcRSAKey(t *testing.T) *Key {
	t.Helper()
	keys, err := ParseKeys(rfcA2JWK)
	if err != nil {
		t.Fatal(err)
	}

	return keys[0]
}

const rfcA2JWK = `{"kty":"RSA","e":"AQAB","n":"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddx` +
	`HmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wG` +
	`zjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3` +
	`qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ"}`

func TestParseJWS(t *testing.T) {
	valid := joseToken(t, "ES256", map[string]interface{}{"kid": "k1", "typ": "at+jwt"}, testClaims)
	parts := strings.Split(valid, ".")
	sig := parts[2]

	tests := []struct {
		name    string
		token   string
		maxSize int
		want    error
	}{
		{name: "valid", token: valid},
		{name: "at the size bound", token: valid, maxSize: len(valid)},
		{name: "over the size bound", token: valid, maxSize: len(valid) - 1, want: ErrTokenTooLarge},
		{name: "over the default bound", token: strings.Repeat("a", defaultJWSSize+1),
			want: ErrTokenTooLarge},
		{name: "empty", token: "", want: ErrTokenMalformed},
		{name: "two segments", token: parts[0] + "." + parts[1], want: ErrTokenMalformed},
		{name: "four segments", token: valid + ".x", want: ErrTokenMalformed},
		{name: "JWE five segments", token: "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d", want: ErrTokenMalformed},
		{name: "padded header", token: parts[0] + "=." + parts[1] + "." + sig, want: ErrTokenMalformed},
		{name: "padded signature", token: valid + "==", want: ErrTokenMalformed},
		{name: "newline in payload", token: parts[0] + "." + parts[1][:4] + "\n" + parts[1][4:] + "." + sig,
			want: ErrTokenMalformed},
		{name: "standard base64 alphabet", token: parts[0] + "." + parts[1] + "." + sig[:10] + "+" + sig[11:],
			want: ErrTokenMalformed},
		{name: "non-canonical trailing bits", token: setPadBit(b64([]byte(`{"alg":"ES256"} `))) + "." +
			parts[1] + "." + sig, want: ErrTokenMalformed},
		{name: "empty signature", token: parts[0] + "." + parts[1] + ".", want: ErrTokenMalformed},
		{name: "header not JSON", token: rawToken(`{"alg":`, testClaims, sig), want: ErrTokenMalformed},
		{name: "header an array", token: rawToken(`["ES256"]`, testClaims, sig), want: ErrTokenMalformed},
		{name: "header null", token: rawToken(`null`, testClaims, sig), want: ErrTokenMalformed},
		{name: "alg missing", token: rawToken(`{"typ":"JWT"}`, testClaims, sig), want: ErrAlgorithmNotAllowed},
		{name: "alg empty", token: rawToken(`{"alg":""}`, testClaims, sig), want: ErrAlgorithmNotAllowed},
		{name: "alg none", token: rawToken(`{"alg":"none"}`, testClaims, sig), want: ErrAlgorithmNotAllowed},
		{name: "alg None", token: rawToken(`{"alg":"None"}`, testClaims, sig), want: ErrAlgorithmNotAllowed},
		{name: "alg not a string", token: rawToken(`{"alg":256}`, testClaims, sig), want: ErrTokenMalformed},
		{name: "kid not a string", token: rawToken(`{"alg":"ES256","kid":1}`, testClaims, sig),
			want: ErrTokenMalformed},
		{name: "typ not a string", token: rawToken(`{"alg":"ES256","typ":{}}`, testClaims, sig),
			want: ErrTokenMalformed},
		{name: "crit extension", token: rawToken(`{"alg":"ES256","crit":["exp"],"exp":1}`, testClaims, sig),
			want: ErrCriticalHeader},
		{name: "crit b64", token: rawToken(`{"alg":"ES256","crit":["b64"],"b64":false}`, testClaims, sig),
			want: ErrCriticalHeader},
		{name: "crit empty", token: rawToken(`{"alg":"ES256","crit":[]}`, testClaims, sig),
			want: ErrCriticalHeader},
		{name: "crit names alg", token: rawToken(`{"alg":"ES256","crit":["alg"]}`, testClaims, sig),
			want: ErrCriticalHeader},
		{name: "crit names absent header", token: rawToken(`{"alg":"ES256","crit":["x"]}`, testClaims, sig),
			want: ErrCriticalHeader},
		{name: "crit not an array", token: rawToken(`{"alg":"ES256","crit":"exp","exp":1}`, testClaims, sig),
			want: ErrCriticalHeader},
		{name: "crit entry not a string", token: rawToken(`{"alg":"ES256","crit":[1]}`, testClaims, sig),
			want: ErrCriticalHeader},
		{name: "payload not JSON is left to claims", token: rawToken(`{"alg":"ES256"}`, "hello", sig)},
	}
	for _, tt := range tests {
		_, err := ParseJWS(tt.token, tt.maxSize)
		if (tt.want == nil && err != nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestParseJWSFields(t *testing.T) {
	token := joseToken(t, "ES256", map[string]interface{}{"kid": "k1", "typ": "at+jwt"}, testClaims)
	jws, err := ParseJWS(token, 0)
	if err != nil {
		t.Fatal(err)
	}

	want := Header{Alg: "ES256", Kid: "k1", Typ: "at+jwt"}
	if jws.Header.Alg != want.Alg || jws.Header.Kid != want.Kid || jws.Header.Typ != want.Typ ||
		len(jws.Header.Crit) != 0 {
		t.Errorf("Header = %+v, want %+v", jws.Header, want)
	}
	if string(jws.Payload) != testClaims {
		t.Errorf("Payload = %q, want %q", jws.Payload, testClaims)
	}
	if want := token[:strings.LastIndex(token, ".")]; string(jws.SigningInput) != want {
		t.Errorf("SigningInput = %q, want %q", jws.SigningInput, want)
	}
	if len(jws.Signature) != 64 {
		t.Errorf("len(Signature) = %d, want 64", len(jws.Signature))
	}
}

// TestHeaderKeysIgnored puts jku, x5u and an embedded jwk in the header: they
// must neither be fetched nor used (RFC 8725 §3.10).
func TestHeaderKeysIgnored(t *testing.T) {
	var hits int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		atomic.AddInt64(&hits, 1)
		http.Error(w, "no", http.StatusNotFound)
	}))
	defer srv.Close()

	tk := joseKeys(t)
	attacker := NewSecretKey(make([]byte, 64))
	header := map[string]interface{}{
		"jku": srv.URL + "/jwks",
		"x5u": srv.URL + "/cert",
		"jwk": map[string]interface{}{"kty": "oct", "k": b64(attacker.secret)},
	}
	token := joseToken(t, "RS256", header, testClaims)
	jws, err := ParseJWS(token, 0)
	if err != nil {
		t.Fatal(err)
	}
	ks := NewKeySet([]*Key{pubKey(t, &tk.rsa.PublicKey)}, nil)
	if err := ks.VerifySignature(context.Background(), jws, []string{"RS256"}); err != nil {
		t.Errorf("configured key: err = %v, want nil", err)
	}
	other := NewKeySet([]*Key{pubKey(t, &tk.p256.PublicKey)}, nil)
	if err := other.VerifySignature(context.Background(), jws, []string{"RS256"}); err == nil {
		t.Error("verified without a configured RSA key")
	}
	if n := atomic.LoadInt64(&hits); n != 0 {
		t.Errorf("header URLs fetched %d times, want 0", n)
	}
}

func TestVerifySignatureSelection(t *testing.T) {
	tk := joseKeys(t)
	rsaA := pubKey(t, &tk.rsa.PublicKey)
	rsaA.ID = "a"
	p256B := pubKey(t, &tk.p256.PublicKey)
	p256B.ID = "b"
	wrongRSA := rfcRSAKey(t)
	wrongRSA.ID = "a"
	bound := pubKey(t, &tk.rsa.PublicKey)
	bound.ID = "a"
	bound.Alg = "PS256"
	noKid := pubKey(t, &tk.rsa.PublicKey)

	tests := []struct {
		name    string
		keys    []*Key
		alg     string
		kid     string
		allowed []string
		want    error
	}{
		{name: "kid match", keys: []*Key{p256B, rsaA}, alg: "RS256", kid: "a"},
		{name: "no kid tries all", keys: []*Key{p256B, wrongRSA, rsaA}, alg: "RS256"},
		{name: "kid-less key matches any kid", keys: []*Key{noKid}, alg: "RS256", kid: "zzz"},
		{name: "unknown kid", keys: []*Key{rsaA, p256B}, alg: "RS256", kid: "c", want: ErrKeyNotFound},
		{name: "kid of another type", keys: []*Key{rsaA, p256B}, alg: "ES256", kid: "a",
			want: ErrAlgorithmNotAllowed},
		{name: "wrong key for kid", keys: []*Key{wrongRSA}, alg: "RS256", kid: "a",
			want: ErrSignatureInvalid},
		{name: "key bound to other alg", keys: []*Key{bound}, alg: "RS256", kid: "a",
			want: ErrAlgorithmNotAllowed},
		{name: "key bound to its alg", keys: []*Key{bound}, alg: "PS256", kid: "a"},
		{name: "alg not in allowlist", keys: []*Key{rsaA}, alg: "RS256", kid: "a",
			allowed: []string{"ES256"}, want: ErrAlgorithmNotAllowed},
		{name: "empty allowlist", keys: []*Key{rsaA}, alg: "RS256", kid: "a",
			allowed: []string{}, want: ErrAlgorithmNotAllowed},
		{name: "no keys", alg: "RS256", want: ErrKeyNotFound},
	}
	for _, tt := range tests {
		header := map[string]interface{}{}
		if tt.kid != "" {
			header["kid"] = tt.kid
		}
		jws, err := ParseJWS(joseToken(t, tt.alg, header, testClaims), 0)
		if err != nil {
			t.Fatal(err)
		}
		allowed := tt.allowed
		if allowed == nil {
			allowed = allAlgorithms
		}
		err = NewKeySet(tt.keys, nil).VerifySignature(context.Background(), jws, allowed)
		if (tt.want == nil && err != nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestVerifySignatureUnsupportedAllowed(t *testing.T) {
	jws := &JWS{Header: Header{Alg: "RS1"}, SigningInput: []byte("a.b"), Signature: []byte{1}}
	err := NewKeySet(nil, nil).VerifySignature(context.Background(), jws, []string{"RS1"})
	if !errors.Is(err, ErrAlgorithmNotAllowed) {
		t.Errorf("err = %v, want ErrAlgorithmNotAllowed", err)
	}
}
