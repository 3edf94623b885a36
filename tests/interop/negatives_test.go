package interop

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"github.com/stepup-auth/traefikstepup/stepup"
)

// wantErr fails unless err wraps want (or is nil when want is nil).
func wantErr(t *testing.T, err, want error) {
	t.Helper()

	switch {
	case want == nil && err != nil:
		t.Errorf("Verify: %v, want success", err)
	case want != nil && !errors.Is(err, want):
		t.Errorf("Verify error = %v, want %q", err, want)
	}
}

// tamper re-encodes the payload of a compact JWS after edit, keeping the
// original signature.
func tamper(t *testing.T, token string, edit func(map[string]any)) string {
	t.Helper()

	parts := strings.Split(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	edit(c)
	raw, err = json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	parts[1] = base64.RawURLEncoding.EncodeToString(raw)

	return strings.Join(parts, ".")
}

// derES256 signs the claims with ES256 but encodes the signature as ASN.1
// DER, the form crypto/ecdsa produces and RFC 7518 §3.4 forbids.
func derES256(t *testing.T, key *ecdsa.PrivateKey) string {
	t.Helper()

	input, err := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims(baseClaims(nil))).SigningString()
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte(input))
	sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
	if err != nil {
		t.Fatal(err)
	}

	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// jwksWith marshals one public key with go-jose under kid and alg.
func jwksWith(t *testing.T, pub any, kid, alg string) string {
	t.Helper()

	raw, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: pub, KeyID: kid, Algorithm: alg, Use: "sig"},
	}})
	if err != nil {
		t.Fatal(err)
	}

	return string(raw)
}

func TestRefusedTokens(t *testing.T) {
	k := keys(t)
	ctx := context.Background()
	rsaPEM := publicPEM(t, &k.rsa.PublicKey)
	rsaKeys := parseKeys(t, rsaPEM)
	allKeys := append(parseKeys(t, k.allPublicPEM(t)), stepup.NewSecretKey(k.hmac))
	jwtMint := func(alg string, key any, extra map[string]any) string {
		return mintJWT(t, alg, key, baseClaims(extra), nil)
	}

	tests := []struct {
		name  string
		token string
		v     *stepup.Verifier
		want  error
	}{
		{
			name:  "alg none from golang-jwt",
			token: jwtMint("none", jwt.UnsafeAllowNoneSignatureType, nil),
			v:     newVerifier(t, allKeys, allAlgorithms...),
			want:  stepup.ErrAlgorithmNotAllowed,
		},
		{
			name:  "HS256 keyed with the RSA PEM, RS256 allowed only",
			token: jwtMint("HS256", []byte(rsaPEM), nil),
			v:     newVerifier(t, rsaKeys, "RS256"),
			want:  stepup.ErrAlgorithmNotAllowed,
		},
		{
			name:  "HS256 keyed with the RSA PEM, HS256 allowed, RSA key only",
			token: jwtMint("HS256", []byte(rsaPEM), nil),
			v:     newVerifier(t, rsaKeys, "RS256", "HS256"),
			want:  stepup.ErrAlgorithmNotAllowed, // no kid: every key is of another type
		},
		{
			name: "HS256 keyed with the RSA PEM, kid of the RSA key",
			token: mintJWT(t, "HS256", []byte(rsaPEM), baseClaims(nil),
				map[string]any{"kid": "rsa"}),
			v: newVerifier(t, parseKeys(t, jwksWith(t, publicOf(k.rsa), "rsa", "")),
				"RS256", "HS256"),
			want: stepup.ErrAlgorithmNotAllowed,
		},
		{
			name:  "HS256 keyed with the RSA PEM, issuer also has a secret",
			token: jwtMint("HS256", []byte(rsaPEM), nil),
			v:     newVerifier(t, append(rsaKeys, stepup.NewSecretKey(k.hmac)), "RS256", "HS256"),
			want:  stepup.ErrSignatureInvalid,
		},
		{
			name: "tampered payload, RS256 from golang-jwt",
			token: tamper(t, jwtMint("RS256", k.rsa, nil),
				func(c map[string]any) { c["acr"] = "urn:stepup:acr:phr" }),
			v:    newVerifier(t, allKeys, allAlgorithms...),
			want: stepup.ErrSignatureInvalid,
		},
		{
			name: "tampered payload, ES256 from go-jose",
			token: tamper(t, mintJOSE(t, "ES256", k.p256, baseClaims(nil), nil),
				func(c map[string]any) { c["sub"] = "mallory" }),
			v:    newVerifier(t, allKeys, allAlgorithms...),
			want: stepup.ErrSignatureInvalid,
		},
		{
			name:  "ES256 token, only a P-384 key",
			token: mintJOSE(t, "ES256", k.p256, baseClaims(nil), nil),
			v:     newVerifier(t, parseKeys(t, publicPEM(t, &k.p384.PublicKey)), "ES256", "ES384"),
			want:  stepup.ErrAlgorithmNotAllowed, // no kid: every key is of another curve
		},
		{
			name:  "ES256 token, its kid names a P-384 key",
			token: mintJOSE(t, "ES256", k.p256, baseClaims(nil), map[string]any{"kid": "ec"}),
			v: newVerifier(t, parseKeys(t, jwksWith(t, publicOf(k.p384), "ec", "ES384")),
				"ES256", "ES384"),
			want: stepup.ErrAlgorithmNotAllowed,
		},
		{
			name:  "ES256 token, another P-256 key",
			token: mintJOSE(t, "ES256", k.other, baseClaims(nil), nil),
			v:     newVerifier(t, parseKeys(t, publicPEM(t, &k.p256.PublicKey)), "ES256"),
			want:  stepup.ErrSignatureInvalid,
		},
		{
			name:  "ES256 signature DER-encoded",
			token: derES256(t, k.p256),
			v:     newVerifier(t, allKeys, allAlgorithms...),
			want:  stepup.ErrSignatureInvalid,
		},
		{
			name:  "expired beyond the leeway",
			token: jwtMint("RS256", k.rsa, map[string]any{"exp": now.Unix() - 31}),
			v:     newVerifier(t, allKeys, allAlgorithms...),
			want:  stepup.ErrExpired,
		},
		{
			name:  "expired within the leeway",
			token: jwtMint("RS256", k.rsa, map[string]any{"exp": now.Unix() - 29}),
			v:     newVerifier(t, allKeys, allAlgorithms...),
		},
		{
			name:  "exp missing",
			token: jwtMint("RS256", k.rsa, map[string]any{"exp": nil}),
			v:     newVerifier(t, allKeys, allAlgorithms...),
			want:  stepup.ErrExpired,
		},
		{
			name:  "exp as a string",
			token: jwtMint("RS256", k.rsa, map[string]any{"exp": "1767225900"}),
			v:     newVerifier(t, allKeys, allAlgorithms...),
			want:  stepup.ErrTokenMalformed,
		},
		{
			name:  "nbf in the future beyond the leeway",
			token: jwtMint("ES384", k.p384, map[string]any{"nbf": now.Unix() + 31}),
			v:     newVerifier(t, allKeys, allAlgorithms...),
			want:  stepup.ErrNotYetValid,
		},
		{
			name:  "nbf in the future within the leeway",
			token: jwtMint("ES384", k.p384, map[string]any{"nbf": now.Unix() + 29}),
			v:     newVerifier(t, allKeys, allAlgorithms...),
		},
		{
			name:  "iat in the future",
			token: jwtMint("EdDSA", k.ed, map[string]any{"iat": now.Unix() + 120}),
			v:     newVerifier(t, allKeys, allAlgorithms...),
			want:  stepup.ErrIssuedInFuture,
		},
		{
			name:  "wrong iss",
			token: jwtMint("PS256", k.rsa, map[string]any{"iss": "https://evil.test"}),
			v:     newVerifier(t, allKeys, allAlgorithms...),
			want:  stepup.ErrIssuerInvalid,
		},
		{
			name:  "iss with a trailing slash",
			token: jwtMint("PS256", k.rsa, map[string]any{"iss": issuer + "/"}),
			v:     newVerifier(t, allKeys, allAlgorithms...),
			want:  stepup.ErrIssuerInvalid,
		},
		{
			name:  "wrong aud",
			token: jwtMint("HS512", k.hmac, map[string]any{"aud": "other-api"}),
			v:     newVerifier(t, allKeys, allAlgorithms...),
			want:  stepup.ErrAudienceInvalid,
		},
		{
			name:  "aud as a single matching string",
			token: jwtMint("HS512", k.hmac, map[string]any{"aud": audience}),
			v:     newVerifier(t, allKeys, allAlgorithms...),
		},
		{
			name: "unknown kid",
			token: mintJOSE(t, "RS256", k.rsa, baseClaims(nil),
				map[string]any{"kid": "rotated-away"}),
			v:    newVerifier(t, parseKeys(t, joseKeySet(t, k)), allAlgorithms...),
			want: stepup.ErrKeyNotFound,
		},
		{
			name: "crit extension from go-jose",
			token: mintJOSE(t, "ES256", k.p256, baseClaims(nil), map[string]any{
				"urn:interop:ext": "v", "crit": []string{"urn:interop:ext"},
			}),
			v:    newVerifier(t, allKeys, allAlgorithms...),
			want: stepup.ErrCriticalHeader,
		},
		{
			name: "unencoded payload (b64 false, crit) from go-jose",
			token: func() string {
				s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k.p256},
					(&jose.SignerOptions{}).WithBase64(false))
				if err != nil {
					t.Fatal(err)
				}
				obj, err := s.Sign([]byte("{}"))
				if err != nil {
					t.Fatal(err)
				}
				out, err := obj.CompactSerialize()
				if err != nil {
					t.Fatal(err)
				}
				return out
			}(),
			v:    newVerifier(t, allKeys, allAlgorithms...),
			want: stepup.ErrCriticalHeader,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.v.Verify(ctx, tt.token)
			wantErr(t, err, tt.want)
		})
	}
}
