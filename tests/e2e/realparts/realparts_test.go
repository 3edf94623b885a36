package realparts

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/gorilla/websocket"
)

// plainConfig routes Host host to the backend without any middleware.
func plainConfig(backend, host string) string {
	return fmt.Sprintf(`http:
  routers:
    plain:
      entryPoints: [web]
      rule: "Host(%s)"
      service: backend
  services:
    backend:
      loadBalancer:
        servers:
          - url: %q
`, "`"+host+"`", backend)
}

// get sends GET path with Host host to tr.
func get(t *testing.T, tr *Traefik, host, path string, header map[string]string) *http.Response {
	t.Helper()

	req, err := http.NewRequest(http.MethodGet, tr.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	t.Cleanup(func() { resp.Body.Close() })

	return resp
}

// TestParts starts every part and checks them through a plain Traefik
// router: echo, WebSocket, events, dynamic reload, issuer and keys.
func TestParts(t *testing.T) {
	backend := NewBackendT(t)
	tr := StartTraefikT(t, TraefikOptions{Dynamic: plainConfig(backend.URL, "one.localhost")})

	t.Run("echo through Traefik", func(t *testing.T) {
		resp := get(t, tr, "one.localhost", "/a/b?c=d", map[string]string{"X-Test": "1"})
		e, err := DecodeEcho(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Header.Get(BackendHeader) != "echo" || e.Path != "/a/b" ||
			e.RequestURI != "/a/b?c=d" || e.Header.Get("X-Test") != "1" {
			t.Errorf("echo %+v", e)
		}
	})

	t.Run("websocket through Traefik", func(t *testing.T) {
		h := http.Header{"Host": {"one.localhost"}}
		conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(tr.URL, "http")+"/ws", h)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer conn.Close()
		var e Echo
		if err := conn.ReadJSON(&e); err != nil || e.Path != "/ws" {
			t.Fatalf("handshake echo %+v, %v", e, err)
		}
		if err := conn.WriteMessage(websocket.TextMessage, []byte("hi")); err != nil {
			t.Fatal(err)
		}
		if _, msg, err := conn.ReadMessage(); err != nil || string(msg) != "hi" {
			t.Errorf("echo %q, %v", msg, err)
		}
	})

	t.Run("events are flushed", func(t *testing.T) {
		resp := get(t, tr, "one.localhost", "/x/events?n=1&hold=10s", nil)
		r := bufio.NewReader(resp.Body)
		var data []string
		deadline := time.AfterFunc(5*time.Second, func() { resp.Body.Close() })
		defer deadline.Stop()
		for len(data) < 2 {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("after %q: %v", data, err)
			}
			if d, ok := strings.CutPrefix(strings.TrimSpace(line), "data: "); ok {
				data = append(data, d)
			}
		}
		if data[1] != "1" {
			t.Errorf("events %q", data)
		}
	})

	t.Run("dynamic configuration is replaced", func(t *testing.T) {
		// Several swaps in a row: each must be fully applied when SetDynamic returns.
		old := "one.localhost"
		for i := 2; i <= 5; i++ {
			host := fmt.Sprintf("gen%d.localhost", i)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := tr.SetDynamic(ctx, plainConfig(backend.URL, host))
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			if got := get(t, tr, host, "/", nil).StatusCode; got != http.StatusOK {
				t.Errorf("generation %d: new router %d, want 200", i, got)
			}
			if got := get(t, tr, old, "/", nil).StatusCode; got != http.StatusNotFound {
				t.Errorf("generation %d: old router %d, want 404", i, got)
			}
			old = host
		}
	})

	t.Run("plugin loaded", func(t *testing.T) {
		if lines := tr.LogLines("Plugins loaded.", `"stepup"`); len(lines) == 0 {
			t.Errorf("no 'Plugins loaded' line naming stepup in Traefik's log")
		}
	})
}

// TestIssuer checks discovery, the JWKS and rotation on the fake issuer.
func TestIssuer(t *testing.T) {
	k1 := MustKey(NewRSAKey("k1"))
	k2 := MustKey(NewECKey("k2"))
	iss := NewIssuerT(t, k1)

	kids := func() string {
		resp, err := http.Get(iss.JWKSURL())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var set struct {
			Keys []struct {
				KID string `json:"kid"`
				Alg string `json:"alg"`
			} `json:"keys"`
		}
		if err := jsonDecode(resp, &set); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, k := range set.Keys {
			out = append(out, k.KID+"/"+k.Alg)
		}
		return strings.Join(out, ",")
	}

	if got := kids(); got != "k1/RS256" {
		t.Errorf("JWKS %q", got)
	}
	iss.Publish(k1, k2)
	if got := kids(); got != "k1/RS256,k2/ES256" {
		t.Errorf("JWKS after publish %q", got)
	}
	if got := iss.JWKSFetches(); got != 2 {
		t.Errorf("fetches %d", got)
	}

	resp, err := http.Get(iss.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc map[string]any
	if err := jsonDecode(resp, &doc); err != nil || doc["issuer"] != iss.URL || doc["jwks_uri"] != iss.JWKSURL() {
		t.Errorf("discovery %v, %v", doc, err)
	}

	tok, err := iss.Token(k2, map[string]any{"aud": "api", "sub": nil})
	if err != nil || strings.Count(tok, ".") != 2 {
		t.Fatalf("token %q, %v", tok, err)
	}
	jws, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatalf("parsing: %v", err)
	}
	payload, err := jws.Verify(k2.Private.Public())
	if err != nil {
		t.Fatalf("verifying: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil || claims["iss"] != iss.URL ||
		claims["aud"] != "api" || claims["sub"] != nil || jws.Signatures[0].Header.KeyID != "k2" {
		t.Errorf("claims %v (kid %q), %v", claims, jws.Signatures[0].Header.KeyID, err)
	}
	if _, err := jws.Verify(k1.Private.Public()); err == nil {
		t.Errorf("verified with the wrong key")
	}
	if TamperSignature(tok) == tok {
		t.Errorf("TamperSignature changed nothing")
	}
}

// jsonDecode decodes resp's body into v.
func jsonDecode(resp *http.Response, v any) error {
	return json.NewDecoder(resp.Body).Decode(v)
}
