package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stepup-auth/traefikstepup/tests/e2e/realparts"
)

// want is what a case expects; zero fields are not checked, except backend
// which is always compared.
type want struct {
	status int
	// backend: the response came from the backend (else from Traefik or the plugin).
	backend bool
	// challenge is the whole WWW-Authenticate value.
	challenge string
	// signIn lists the sign-in query besides rd, which must return to returnTo.
	signIn   map[string]string
	returnTo string
	// upstream lists headers the backend must have seen ("" = absent).
	upstream map[string]string
}

// httpCase is one request through Traefik and what it must produce.
type httpCase struct {
	name string
	req  request
	want want
}

// lowLevel, tooOld and weakMethods are the step-up challenges of the /admin
// rule (RFC 9470 §3), by what falls short.
var (
	lowLevel    = stepUp(realm, "authentication level is too low", loa2, 600)
	tooOld      = stepUp(realm, "authentication is too old", loa2, 600)
	weakMethods = stepUp(realm, "authentication methods are insufficient", loa2, 600)
)

// noToken is the challenge for a request without a token (RFC 6750 §3).
func noToken(realm string) string { return `Bearer realm="` + realm + `"` }

// invalid is the challenge for a token that fails verification (RFC 6750 §3.1).
func invalid(realm, description string) string {
	return fmt.Sprintf(`Bearer realm=%q, error="invalid_token", error_description=%q`,
		realm, description)
}

// stepUp is the RFC 9470 challenge; maxAge < 0 leaves max_age out.
func stepUp(realm, description, acrValues string, maxAge int) string {
	s := fmt.Sprintf(`Bearer realm=%q, error="insufficient_user_authentication", `+
		`error_description=%q, acr_values=%q`, realm, description, acrValues)
	if maxAge >= 0 {
		s += fmt.Sprintf(", max_age=%d", maxAge)
	}

	return s
}

// checkWant asserts every field w sets.
func checkWant(t *testing.T, res result, w want) {
	t.Helper()

	if res.status != w.status {
		t.Errorf("status %d, want %d (WWW-Authenticate %q, Location %q, body %.200q)",
			res.status, w.status, res.header.Get("WWW-Authenticate"),
			res.header.Get("Location"), res.body)
	}
	if got := res.echo != nil; got != w.backend {
		t.Errorf("answered by the backend: %v, want %v", got, w.backend)
	}
	if got := res.header.Values("WWW-Authenticate"); w.challenge != "" || len(got) > 0 {
		checkChallenge(t, got, w.challenge)
	}
	if w.signIn != nil {
		checkSignIn(t, res, w.returnTo, w.signIn)
	}
	if w.upstream != nil {
		checkUpstream(t, res, w.upstream)
	}
}

// runCases sends each case as a named subtest.
func runCases(t *testing.T, cases []httpCase) {
	t.Helper()

	for _, tc := range cases {
		tc := tc
		t.Run(tc.name, func(t *testing.T) {
			res := send(t, tc.req)
			t.Logf("%d WWW-Authenticate=%q Location=%q", res.status,
				res.header.Get("WWW-Authenticate"), res.header.Get("Location"))
			checkWant(t, res, tc.want)
		})
	}
}

func TestStepUpThroughTraefik(t *testing.T) {
	t.Parallel()

	good := token(t, nil, goodClaims())
	low := token(t, nil, lowClaims())
	navigate := map[string]string{"Sec-Fetch-Mode": "navigate", "Accept": "text/html"}
	upstreamGood := map[string]string{
		"X-Stepup-Subject": "alice",
		"X-Stepup-ACR":     loa2,
		"X-Stepup-AMR":     "pwd,otp",
		"X-Stepup-Email":   "alice@example.com",
	}

	cases := []httpCase{
		{
			name: "public route without token, spoofed claim headers stripped",
			req:  request{path: "/public/info", header: withSpoofed(nil)},
			want: want{status: 200, backend: true, upstream: stripped},
		},
		{
			name: "admin without token from an API client",
			req:  request{path: "/admin/panel", header: map[string]string{"Accept": "application/json"}},
			want: want{status: 401, challenge: noToken(realm)},
		},
		{
			name: "admin without token from fetch with text/html accepted",
			req: request{path: "/admin/panel", header: map[string]string{
				"Sec-Fetch-Mode": "cors", "Accept": "text/html"}},
			want: want{status: 401, challenge: noToken(realm)},
		},
		{
			name: "admin without token, browser navigation",
			req:  request{path: "/admin/panel?x=1", header: navigate},
			want: want{status: 302, returnTo: "/admin/panel?x=1",
				signIn: map[string]string{"acr_values": loa2, "max_age": "600"}},
		},
		{
			name: "admin without token, old browser accepting text/html",
			req: request{path: "/admin/panel", header: map[string]string{
				"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}},
			want: want{status: 302, returnTo: "/admin/panel",
				signIn: map[string]string{"acr_values": loa2, "max_age": "600"}},
		},
		{
			name: "admin without token, HEAD navigation",
			req:  request{method: http.MethodHead, path: "/admin/panel", header: navigate},
			want: want{status: 302, returnTo: "/admin/panel",
				signIn: map[string]string{"acr_values": loa2, "max_age": "600"}},
		},
		{
			name: "POST to admin looking like a navigation gets 401 not 302",
			req:  request{method: http.MethodPost, path: "/admin/panel", header: navigate},
			want: want{status: 401, challenge: noToken(realm)},
		},
		{
			name: "admin with a loa:1 token",
			req:  request{path: "/admin/panel", token: low},
			want: want{status: 401, challenge: lowLevel},
		},
		{
			name: "admin with loa:2 authenticated 20 minutes ago",
			req: request{path: "/admin/panel", token: token(t, nil, merge(goodClaims(),
				map[string]any{"auth_time": time.Now().Add(-20 * time.Minute).Unix()}))},
			want: want{status: 401, challenge: tooOld},
		},
		{
			name: "admin with loa:2 but no otp in amr",
			req: request{path: "/admin/panel", token: token(t, nil, merge(goodClaims(),
				map[string]any{"amr": []string{"pwd"}}))},
			want: want{status: 401, challenge: weakMethods},
		},
		{
			name: "admin with loa:2 but no auth_time",
			req: request{path: "/admin/panel", token: token(t, nil, merge(goodClaims(),
				map[string]any{"auth_time": nil}))},
			want: want{status: 401, challenge: tooOld},
		},
		{
			// Under Yaegi a failed comma-ok assertion in a loop keeps the
			// previous iteration's value: the claims decoder once read such
			// an auth_time as the fresh iat before it, and admitted.
			name: "admin with loa:2, a fresh iat and an auth_time that is not a number",
			req: request{path: "/admin/panel", token: token(t, nil, merge(goodClaims(),
				map[string]any{"auth_time": "1700000000"}))},
			want: want{status: 401, challenge: invalid(realm, "token is malformed")},
		},
		{
			name: "admin with a good RS256 token, spoofed headers replaced",
			req:  request{path: "/admin/panel", token: good, header: withSpoofed(nil)},
			want: want{status: 200, backend: true, upstream: upstreamGood},
		},
		{
			name: "admin with a good ES256 token",
			req:  request{path: "/admin/panel", token: token(t, env.ecKey, goodClaims())},
			want: want{status: 200, backend: true, upstream: upstreamGood},
		},
		{
			name: "admin with a good token, navigation too",
			req:  request{path: "/admin/panel", token: good, header: navigate},
			want: want{status: 200, backend: true},
		},
		{
			name: "bad signature",
			req:  request{path: "/admin/panel", token: realparts.TamperSignature(token(t, nil, goodClaims()))},
			want: want{status: 401, challenge: invalid(realm, "token signature is invalid")},
		},
		{
			name: "expired",
			req: request{path: "/admin/panel", token: token(t, nil, merge(goodClaims(),
				map[string]any{"exp": time.Now().Add(-10 * time.Minute).Unix()}))},
			want: want{status: 401, challenge: invalid(realm, "token is expired")},
		},
		{
			name: "wrong audience",
			req: request{path: "/admin/panel", token: token(t, nil, merge(goodClaims(),
				map[string]any{"aud": "other-api"}))},
			want: want{status: 401, challenge: invalid(realm, "token audience is not accepted")},
		},
		{
			name: "wrong issuer",
			req: request{path: "/admin/panel", token: token(t, nil, merge(goodClaims(),
				map[string]any{"iss": "https://idp.example.net"}))},
			want: want{status: 401, challenge: invalid(realm, "token issuer is not accepted")},
		},
		{
			name: "alg none",
			req: request{path: "/admin/panel", token: realparts.RawToken(
				map[string]any{"alg": "none", "typ": "JWT"},
				env.issuer.Claims(merge(goodClaims(), map[string]any{"aud": "api"})), nil)},
			want: want{status: 401, challenge: invalid(realm, "token algorithm is not allowed")},
		},
		{
			name: "DELETE account with loa:1 needs step-up",
			req:  request{method: http.MethodDelete, path: "/api/accounts/1", token: low},
			want: want{status: 401,
				challenge: stepUp(realm, "authentication level is too low", loa2, -1)},
		},
		{
			name: "GET account with loa:1",
			req:  request{path: "/api/accounts/1", token: low},
			want: want{status: 200, backend: true},
		},
		{
			name: "DELETE account with loa:2",
			req:  request{method: http.MethodDelete, path: "/api/accounts/1", token: good},
			want: want{status: 200, backend: true},
		},
		{
			name: "reports without the finance group",
			req: request{path: "/reports/q1", token: token(t, nil, merge(lowClaims(),
				map[string]any{"groups": []string{"staff"}}))},
			want: want{status: 403, challenge: `Bearer realm="` + realm +
				`", error="insufficient_scope", error_description="required claim is missing"`},
		},
		{
			name: "reports with the finance group",
			req: request{path: "/reports/q1", token: token(t, nil, merge(lowClaims(),
				map[string]any{"groups": []string{"staff", "finance"}}))},
			want: want{status: 200, backend: true},
		},
		{
			name: "unruled path without token",
			req:  request{path: "/home"},
			want: want{status: 401, challenge: noToken(realm)},
		},
		{
			name: "unruled path with a loa:1 token",
			req:  request{path: "/home", token: low},
			want: want{status: 200, backend: true},
		},
	}

	runCases(t, cases)
}

// TestPathTricks checks that no spelling of /admin reaches the backend
// under the public rule or the default rule.
func TestPathTricks(t *testing.T) {
	t.Parallel()

	low := token(t, nil, lowClaims())
	tricks := []struct {
		name  string
		path  string
		token string
	}{
		{name: "dot-dot out of public", path: "/public/../admin"},
		{name: "encoded dot-dot out of public", path: "/public/%2e%2e/admin"},
		{name: "encoded slash dot-dot out of public", path: "/public/..%2fadmin"},
		{name: "dot segment", path: "/./admin", token: low},
		{name: "percent-encoded letter", path: "/%61dmin", token: low},
		{name: "double slash", path: "//admin", token: low},
		{name: "double slash inside", path: "/admin//panel", token: low},
		{name: "encoded slash", path: "/admin%2fpanel", token: low},
	}

	for _, tc := range tricks {
		tc := tc
		t.Run(tc.name, func(t *testing.T) {
			res := send(t, request{path: tc.path, token: tc.token})
			t.Logf("%s: %d", tc.path, res.status)
			if res.echo != nil && res.status == http.StatusOK {
				t.Errorf("%s reached the backend with 200 (backend saw path %q)", tc.path, res.echo.Path)
			}
		})
	}
}

func TestAuditMode(t *testing.T) {
	t.Parallel()

	low := token(t, nil, lowClaims())
	cases := []httpCase{
		{
			name: "admin without token passes",
			req:  request{host: hostAudit, path: "/admin/panel", header: withSpoofed(nil)},
			want: want{status: 200, backend: true, upstream: stripped},
		},
		{
			name: "admin navigation without token passes, no redirect",
			req: request{host: hostAudit, path: "/admin/panel", header: map[string]string{
				"Sec-Fetch-Mode": "navigate", "Accept": "text/html"}},
			want: want{status: 200, backend: true},
		},
		{
			name: "admin with a loa:1 token passes",
			req:  request{host: hostAudit, path: "/admin/panel", token: low},
			want: want{status: 200, backend: true},
		},
		{
			name: "bad signature passes",
			req:  request{host: hostAudit, path: "/admin/panel", token: realparts.TamperSignature(low)},
			want: want{status: 200, backend: true},
		},
		{
			name: "reports without the group passes",
			req:  request{host: hostAudit, path: "/reports/q1", token: low},
			want: want{status: 200, backend: true},
		},
	}

	runCases(t, cases)

	t.Run("decision logged without the token", func(t *testing.T) {
		tok := realparts.TamperSignature(token(t, nil, lowClaims()))
		probe := "/admin/audit-probe-" + fmt.Sprint(time.Now().UnixNano())
		res := send(t, request{host: hostAudit, path: probe, token: tok})
		checkWant(t, res, want{status: 200, backend: true})

		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		line, err := env.traefik.WaitForLog(ctx, "stepup-audit@file", probe)
		if err != nil {
			t.Fatalf("audit decision for %s not in Traefik's log: %v", probe, err)
		}
		t.Logf("traefik: %s", line)
		if !strings.Contains(line, "audit") {
			t.Errorf("decision line does not say audit: %s", line)
		}
		sig := tok[strings.LastIndexByte(tok, '.')+1:]
		if lines := env.traefik.LogLines(sig); len(lines) > 0 {
			t.Errorf("the token appears in Traefik's log: %s", lines[0])
		}
	})
}

// TestBrokenConfig checks that a middleware whose New fails disables only
// its own router, and that Traefik says why.
func TestBrokenConfig(t *testing.T) {
	t.Parallel()

	t.Run("router not built answers 404", func(t *testing.T) {
		res := send(t, request{host: hostBroken, path: "/admin"})
		if res.status != http.StatusNotFound || res.echo != nil {
			t.Errorf("status %d (backend answered: %v), want Traefik's 404", res.status, res.echo != nil)
		}
	})

	t.Run("other routers still work", func(t *testing.T) {
		res := send(t, request{host: hostPlain, path: "/x"})
		if res.status != http.StatusOK || res.echo == nil {
			t.Errorf("plain router: status %d, want 200 from the backend", res.status)
		}
	})

	t.Run("traefik log names the router and the field", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		line, err := env.traefik.WaitForLog(ctx, "broken@file", "minACR")
		if err != nil {
			t.Errorf("no Traefik log line names broken@file with the minACR problem; "+
				"what it logged for the router: %q", env.traefik.LogLines("routerName=broken@file", " ERR "))
			return
		}
		t.Logf("traefik: %s", line)
		if !strings.Contains(line, "rules[0]") {
			t.Errorf("log line does not locate the field as rules[0]: %s", line)
		}
	})

	t.Run("api reports the router's error", func(t *testing.T) {
		resp, err := client.Get(env.traefik.APIURL + "/api/http/routers/broken@file")
		if err != nil {
			t.Fatalf("API: %v", err)
		}
		defer resp.Body.Close()
		var router struct {
			Status string   `json:"status"`
			Err    []string `json:"error"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&router); err != nil {
			t.Fatalf("decoding router: %v", err)
		}
		if router.Status == "enabled" || !strings.Contains(fmt.Sprint(router.Err), "minACR") {
			t.Errorf("router status %q, errors %q: want disabled with the minACR error",
				router.Status, router.Err)
		}
	})
}
