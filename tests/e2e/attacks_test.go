package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// Regression tests for the adversarial review, through a real Traefik: each
// request once reached the backend on a path under /admin, or with a
// client-made identity header, without the assurance /admin requires.

func TestPathReadingsCannotEscapeARule(t *testing.T) {
	low := token(t, nil, lowClaims())
	tests := []struct {
		name  string
		path  string
		token string
	}{
		{name: "tomcat params out of admin", path: "/admin/..;/public/x"},
		{name: "two params segments", path: "/admin/panel/..;/..;/public"},
		{name: "backslashes", path: `/admin/x\..\..\public`},
		{name: "params into the default rule", path: "/admin/settings/..;/..;/home", token: low},
		{name: "encoded semicolon", path: "/admin/..%3B/public"},
		{name: "encoded slashes", path: "/admin/x/..%2F..%2Fpublic"},
		{name: "encoded backslashes", path: "/admin/x%5C..%5C..%5Cpublic"},
		{name: "upper case", path: "/ADMIN/users", token: low},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := send(t, request{path: tt.path, token: tt.token})
			if res.echo != nil {
				t.Fatalf("%s reached the backend as %q with status %d", tt.path, res.echo.Path, res.status)
			}
			if res.status != http.StatusBadRequest && res.status != http.StatusUnauthorized {
				t.Errorf("status %d, want 400 or 401", res.status)
			}
		})
	}
}

func TestUnderscoreIdentityHeadersNeverReachTheBackend(t *testing.T) {
	low := token(t, nil, lowClaims())
	spoofed := map[string]string{"X_Stepup_Subject": "mallory", "X_Stepup_ACR": loa2, "X-Stepup_AMR": "hwk"}
	for _, r := range []request{
		{path: "/public/x", header: spoofed},
		{path: "/home", token: low, header: spoofed},
	} {
		res := send(t, r)
		if res.echo == nil {
			t.Fatalf("%s: status %d, want the backend", r.path, res.status)
		}
		for k := range res.echo.Header {
			if strings.Contains(k, "_") && strings.Contains(strings.ToLower(k), "stepup") {
				t.Errorf("%s: %s reached the backend", r.path, k)
			}
		}
	}
}

func TestMethodOverrideCannotEscapeTheDeleteRule(t *testing.T) {
	low := token(t, nil, lowClaims())
	res := send(t, request{
		method: "POST", path: "/api/accounts/42", token: low,
		header: map[string]string{"X-HTTP-Method-Override": "DELETE"},
	})
	if res.echo != nil || res.status != http.StatusUnauthorized {
		t.Errorf("POST with X-HTTP-Method-Override: DELETE and a level-1 token: status %d, backend reached %v",
			res.status, res.echo != nil)
	}
}
