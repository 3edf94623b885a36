package harness

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestManifestCheck(t *testing.T) {
	p := stepupPlugin(t)

	if err := p.Manifest.Check(moduleName); err != nil {
		t.Fatalf("manifest: %v", err)
	}

	if got, want := p.Manifest.PackageName(), "traefikstepup"; got != want {
		t.Errorf("package name = %q, want %q", got, want)
	}
}

// TestTestDataLoadsOffline instantiates the plugin with .traefik.yml's
// testData, as the plugin catalog does: New must succeed offline and fast.
func TestTestDataLoadsOffline(t *testing.T) {
	p := stepupPlugin(t)

	start := time.Now()
	h, err := p.New(context.Background(), backend, p.Manifest.TestData, middlewareName)
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("New(testData): %v", err)
	}

	// The catalog allows well under 10 s; inline keys need no fetch at all.
	if elapsed > 2*time.Second {
		t.Errorf("New(testData) took %v, want under 2s", elapsed)
	}

	s := testDataSigner(t)
	now := time.Now().Unix()
	mfa := s.mint(t, map[string]any{
		"iss": "https://idp.example.com/realms/demo", "aud": "orders-api", "sub": "bob",
		"iat": now, "exp": now + 300, "auth_time": now - 60,
		"acr": "urn:stepup:acr:mfa", "amr": []string{"pwd", "otp"},
	})

	tests := []struct {
		name   string
		method string
		path   string
		token  string
		want   int
	}{
		{name: "public health check", method: "GET", path: "/health", want: 200},
		{name: "no token", method: "GET", path: "/orders", want: 401},
		{name: "mfa token on admin", method: "GET", path: "/admin/users", token: mfa, want: 200},
		{name: "mfa token on payment", method: "POST", path: "/payments", token: mfa, want: 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, nil)
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Errorf("status = %d, want %d (%s)", rec.Code, tt.want, outcomeOf(rec.Code, rec.Header()))
			}
		})
	}
}

// TestNewFetchesNothing configures remote keys on a server that counts hits:
// New must not contact it (keys are fetched lazily, on the first token).
func TestNewFetchesNothing(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		http.Error(rw, "unavailable", http.StatusServiceUnavailable)
	}))
	defer srv.Close()

	cfg := map[string]any{
		"issuers": []any{
			map[string]any{
				"issuer": srv.URL, "audience": []any{"api"}, "algorithms": []any{"RS256"},
				"discovery": true,
			},
			map[string]any{
				"issuer": srv.URL + "/other", "audience": []any{"api"}, "algorithms": []any{"ES256"},
				"jwksURL": srv.URL + "/jwks",
			},
		},
	}

	if _, err := stepupPlugin(t).New(context.Background(), backend, cfg, middlewareName); err != nil {
		t.Fatalf("New: %v", err)
	}

	// Give a stray background fetch a moment to show up.
	time.Sleep(200 * time.Millisecond)
	if n := hits.Load(); n != 0 {
		t.Errorf("New made %d requests, want none", n)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{name: "no module", opts: Options{Dir: repoRoot}, want: "required"},
		{name: "wrong module name", opts: Options{ModuleName: "github.com/other/plugin", Dir: repoRoot},
			want: "not under module"},
		{name: "no manifest", opts: Options{ModuleName: moduleName, Dir: "testdata"}, want: "manifest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Load(tt.opts)
			if err == nil {
				p.Close()
				t.Fatal("Load succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}
