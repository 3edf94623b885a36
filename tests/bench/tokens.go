package main

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"runtime"
	"sync"
	"time"
)

// issuer and audience of the minted tokens, as the middleware is configured.
const (
	issuer   = "https://idp.bench.test"
	audience = "orders-api"
)

// minter signs RS256 tokens with one key.
type minter struct {
	key *rsa.PrivateKey
}

func newMinter() (*minter, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generating RSA key: %w", err)
	}

	return &minter{key: key}, nil
}

// publicPEM is the public key for the middleware's publicKeys option.
func (m *minter) publicPEM() (string, error) {
	der, err := x509.MarshalPKIXPublicKey(&m.key.PublicKey)
	if err != nil {
		return "", err
	}

	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), nil
}

// mint returns a compact RS256 JWS valid for an hour, made unique by jti.
// Its claims resemble a real access token (about 700 bytes in all).
func (m *minter) mint(jti int) (string, error) {
	now := time.Now().Unix()
	claims := map[string]any{
		"iss":       issuer,
		"aud":       []string{audience, "admin-api"},
		"sub":       "248289761001",
		"exp":       now + 3600,
		"iat":       now,
		"auth_time": now,
		"acr":       "urn:stepup:acr:mfa",
		"amr":       []string{"pwd", "otp"},
		"scope":     "openid profile orders:read orders:write",
		"client_id": "orders-frontend",
		"jti":       fmt.Sprintf("bench-%09d", jti),
	}
	header := map[string]any{"alg": "RS256", "typ": "JWT", "kid": "bench"}

	h, _ := json.Marshal(header)
	c, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	input := enc.EncodeToString(h) + "." + enc.EncodeToString(c)
	digest := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(nil, m.key, crypto.SHA256, digest[:])
	if err != nil {
		return "", err
	}

	return input + "." + enc.EncodeToString(sig), nil
}

// mintMany mints n distinct tokens on every core.
func (m *minter) mintMany(n, first int) ([]string, error) {
	out := make([]string, n)
	errs := make([]error, runtime.NumCPU())
	var wg sync.WaitGroup
	for w := 0; w < len(errs); w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += len(errs) {
				out[i], errs[w] = m.mint(first + i)
				if errs[w] != nil {
					return
				}
			}
		}(w)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}

	return out, nil
}
