package harness

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestFloorPluginChecks holds the floor plugin (the lower bound make bench
// -floor measures) to a real check: were it to pass bad tokens or keep
// spoofed headers, its figures would be a bound of nothing.
func TestFloorPluginChecks(t *testing.T) {
	rk, ek := testKeys(t)
	good := signer{alg: "RS256", key: rk}
	// The backend also reports the "_" spelling, which it would merge.
	h := floorHandler(t, http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		if v := req.Header["X_stepup_subject"]; v != nil {
			rw.Header()["Seen-X_stepup_subject"] = v
		}
		backend.ServeHTTP(rw, req)
	}))
	now := time.Now().Unix()

	tampered := good.mint(t, claims(nil))
	tampered = tampered[:len(tampered)-4] + "AAAA"
	cases := []struct {
		name  string
		token string
		path  string
		want  int
	}{
		{"valid", good.mint(t, claims(nil)), "/orders", 200},
		{"higher acr", good.mint(t, claims(map[string]any{"acr": acrMFA})), "/orders", 200},
		{"no token", "", "/orders", 401},
		{"tampered signature", tampered, "/orders", 401},
		{"other key", signer{alg: "ES256", key: ek}.mint(t, claims(nil)), "/orders", 401},
		{"expired", good.mint(t, claims(map[string]any{"exp": now - 120})), "/orders", 401},
		{"not yet valid", good.mint(t, claims(map[string]any{"nbf": now + 120})), "/orders", 401},
		{"other issuer", good.mint(t, claims(map[string]any{"iss": "https://other.test"})), "/orders", 401},
		{"other audience", good.mint(t, claims(map[string]any{"aud": "billing"})), "/orders", 401},
		{"audience array", good.mint(t, claims(map[string]any{"aud": []string{"x", "orders-api"}})), "/orders", 200},
		{"acr too low", good.mint(t, claims(map[string]any{"acr": "urn:other"})), "/orders", 401},
		{"path with two readings", good.mint(t, claims(nil)), "/a/../orders", 401},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "http://orders.test"+c.path, nil)
			req.Header.Set("X-Stepup-Subject", "spoofed")
			req.Header["X_stepup_subject"] = []string{"spoofed"}
			if c.token != "" {
				req.Header.Set("Authorization", "Bearer "+c.token)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != c.want {
				t.Fatalf("status %d, want %d", rec.Code, c.want)
			}
			if c.want == 200 {
				if got := rec.Header().Get("Seen-X-Stepup-Subject"); got != "alice" {
					t.Fatalf("backend saw X-Stepup-Subject %q, want alice", got)
				}
				if got := rec.Header()["Seen-X_stepup_subject"]; got != nil {
					t.Fatalf("backend saw X_stepup_subject %q", got)
				}
			}
		})
	}
}
