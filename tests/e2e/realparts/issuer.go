package realparts

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Issuer is a fake token issuer on 127.0.0.1: it serves an OpenID discovery
// document at /.well-known/openid-configuration and its published keys at
// /jwks, and mints tokens whose iss is its URL. The published key set can be
// swapped at any time to stage rotations, and the JWKS endpoint can be made
// to fail to stage outages.
type Issuer struct {
	// URL is the issuer identifier and the server's base URL.
	URL string

	srv *httptest.Server

	mu         sync.Mutex
	published  []*SigningKey
	jwksStatus int
	fetches    int
}

// NewIssuer starts an issuer publishing keys.
func NewIssuer(keys ...*SigningKey) *Issuer {
	iss := &Issuer{}
	iss.Publish(keys...)

	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", iss.serveDiscovery)
	mux.HandleFunc("/jwks", iss.serveJWKS)
	iss.srv = httptest.NewServer(mux)
	iss.URL = iss.srv.URL

	return iss
}

// NewIssuerT starts an issuer closed at the test's cleanup.
func NewIssuerT(t TB, keys ...*SigningKey) *Issuer {
	t.Helper()
	iss := NewIssuer(keys...)
	t.Cleanup(iss.Close)

	return iss
}

// Close stops the server.
func (iss *Issuer) Close() {
	iss.srv.CloseClientConnections()
	iss.srv.Close()
}

// JWKSURL is the URL of the key set.
func (iss *Issuer) JWKSURL() string { return iss.URL + "/jwks" }

// Publish replaces the published key set.
func (iss *Issuer) Publish(keys ...*SigningKey) {
	iss.mu.Lock()
	defer iss.mu.Unlock()

	iss.published = append([]*SigningKey(nil), keys...)
}

// FailJWKS makes the JWKS endpoint answer status (0 restores it).
func (iss *Issuer) FailJWKS(status int) {
	iss.mu.Lock()
	defer iss.mu.Unlock()

	iss.jwksStatus = status
}

// JWKSFetches counts the requests the JWKS endpoint has received.
func (iss *Issuer) JWKSFetches() int {
	iss.mu.Lock()
	defer iss.mu.Unlock()

	return iss.fetches
}

// serveDiscovery answers the OpenID Provider metadata (OIDC Discovery §3).
func (iss *Issuer) serveDiscovery(w http.ResponseWriter, _ *http.Request) {
	doc := map[string]any{
		"issuer":                                iss.URL,
		"jwks_uri":                              iss.JWKSURL(),
		"authorization_endpoint":                iss.URL + "/authorize",
		"token_endpoint":                        iss.URL + "/token",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256", "ES256"},
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(doc)
}

// serveJWKS answers the published public keys (RFC 7517 §5).
func (iss *Issuer) serveJWKS(w http.ResponseWriter, _ *http.Request) {
	iss.mu.Lock()
	iss.fetches++
	status := iss.jwksStatus
	set := jose.JSONWebKeySet{}
	for _, k := range iss.published {
		set.Keys = append(set.Keys, k.PublicJWK())
	}
	iss.mu.Unlock()

	if status != 0 {
		http.Error(w, "staged outage", status)
		return
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	_ = json.NewEncoder(w).Encode(set)
}

// Claims returns a claim set with the issuer's defaults (iss, sub "alice",
// iat and auth_time now, exp in five minutes, a random jti so every token
// is new to any cache) overridden by overrides; a nil value removes the claim.
func (iss *Issuer) Claims(overrides map[string]any) map[string]any {
	now := time.Now().Unix()
	claims := map[string]any{
		"iss":       iss.URL,
		"sub":       "alice",
		"iat":       now,
		"auth_time": now,
		"exp":       now + 300,
		"jti":       randomID(),
	}
	for name, value := range overrides {
		if value == nil {
			delete(claims, name)
			continue
		}
		claims[name] = value
	}

	return claims
}

// Token mints a token signed with k from Claims(overrides).
func (iss *Issuer) Token(k *SigningKey, overrides map[string]any) (string, error) {
	return k.Sign(iss.Claims(overrides), nil)
}

// randomID returns 16 random bytes in hex.
func randomID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("reading random bytes: %v", err))
	}

	return hex.EncodeToString(b)
}
