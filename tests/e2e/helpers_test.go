package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stepup-auth/traefikstepup/tests/e2e/realparts"
)

// spoofed are claim headers a client tries to smuggle to the backend.
var spoofed = map[string]string{
	"X-Stepup-Subject": "mallory",
	"X-Stepup-ACR":     loa2,
	"X-Stepup-AMR":     "otp",
	"X-Stepup-Email":   "mallory@example.net",
}

// stripped is what the backend must see of the spoofed headers when the
// plugin sets none of them (public routes, audit passes).
var stripped = map[string]string{
	"X-Stepup-Subject": "",
	"X-Stepup-ACR":     "",
	"X-Stepup-AMR":     "",
	"X-Stepup-Email":   "",
}

// client never follows redirects: the Location is what is asserted.
var client = &http.Client{
	Timeout: 10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

// result is a response read in full.
type result struct {
	status int
	header http.Header
	body   []byte
	// echo is the backend's view of the request; nil when the backend did
	// not answer.
	echo *realparts.Echo
}

// request describes one call through Traefik.
type request struct {
	method string // default GET
	host   string // default hostApp
	path   string // sent as is on the request line
	token  string // sent as Authorization: Bearer
	header map[string]string
}

// send performs r through Traefik's web entry point on a fresh connection,
// writing the request line by hand so that the path reaches Traefik
// exactly as written (no client-side cleaning or re-escaping).
func send(t *testing.T, r request) result {
	t.Helper()

	if r.method == "" {
		r.method = http.MethodGet
	}
	if r.host == "" {
		r.host = hostApp
	}

	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(env.traefik.URL, "http://"), 5*time.Second)
	if err != nil {
		t.Fatalf("dialing Traefik: %v", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))

	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", r.method, r.path, r.host)
	if r.token != "" {
		fmt.Fprintf(&b, "Authorization: Bearer %s\r\n", r.token)
	}
	for name, value := range r.header {
		fmt.Fprintf(&b, "%s: %s\r\n", name, value)
	}
	b.WriteString("\r\n")
	if _, err := conn.Write(b.Bytes()); err != nil {
		t.Fatalf("writing request: %v", err)
	}

	req := &http.Request{Method: r.method}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatalf("%s %s: reading response: %v", r.method, r.path, err)
	}
	defer resp.Body.Close()

	return readResult(t, resp)
}

// readResult reads resp and decodes the backend's echo when present.
func readResult(t *testing.T, resp *http.Response) result {
	t.Helper()

	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	res := result{status: resp.StatusCode, header: resp.Header, body: body}
	if resp.Header.Get(realparts.BackendHeader) != "" && len(body) > 0 {
		var e realparts.Echo
		if err := json.Unmarshal(body, &e); err == nil {
			res.echo = &e
		}
	}

	return res
}

// withSpoofed returns h plus the spoofed claim headers.
func withSpoofed(h map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range spoofed {
		out[k] = v
	}
	for k, v := range h {
		out[k] = v
	}

	return out
}

// checkUpstream asserts the headers the backend saw; "" means absent.
func checkUpstream(t *testing.T, res result, want map[string]string) {
	t.Helper()

	if res.echo == nil {
		t.Errorf("backend did not answer (status %d), cannot check its headers", res.status)
		return
	}
	for name, value := range want {
		got := strings.Join(res.echo.Header.Values(name), "|")
		if got != value {
			t.Errorf("backend saw %s = %q, want %q", name, got, value)
		}
	}
}

// parseChallenge splits a WWW-Authenticate value with one challenge into
// its scheme and auth-params (RFC 9110 §11.6.1). Quoted values are unquoted.
func parseChallenge(s string) (string, map[string]string, error) {
	scheme, rest, _ := strings.Cut(strings.TrimSpace(s), " ")
	params := map[string]string{}
	rest = strings.TrimSpace(rest)

	for rest != "" {
		name, after, ok := strings.Cut(rest, "=")
		if !ok {
			return "", nil, fmt.Errorf("auth-param without '=' in %q", s)
		}
		name = strings.TrimSpace(name)
		value, tail, err := challengeValue(after)
		if err != nil {
			return "", nil, fmt.Errorf("%s in %q", err, s)
		}
		if _, dup := params[name]; dup {
			return "", nil, fmt.Errorf("duplicate %s in %q", name, s)
		}
		params[name] = value
		rest = strings.TrimSpace(tail)
		if rest != "" {
			if rest[0] != ',' {
				return "", nil, fmt.Errorf("missing ',' in %q", s)
			}
			rest = strings.TrimSpace(rest[1:])
		}
	}

	return scheme, params, nil
}

// challengeValue reads a token or quoted-string and returns the rest.
func challengeValue(s string) (string, string, error) {
	if !strings.HasPrefix(s, `"`) {
		end := strings.IndexByte(s, ',')
		if end < 0 {
			return s, "", nil
		}
		return s[:end], s[end:], nil
	}

	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
			if i < len(s) {
				b.WriteByte(s[i])
			}
		case '"':
			return b.String(), s[i+1:], nil
		default:
			b.WriteByte(s[i])
		}
	}

	return "", "", fmt.Errorf("unterminated quoted-string")
}

// checkChallenge asserts that the response carries exactly the challenge
// want ("" = none), and that what it carries is one well-formed Bearer
// challenge whose error_description uses RFC 6750 §3's characters only.
func checkChallenge(t *testing.T, got []string, want string) {
	t.Helper()

	if len(got) > 1 {
		t.Errorf("WWW-Authenticate: %d values %q, want one challenge", len(got), got)
		return
	}
	value := ""
	if len(got) == 1 {
		value = got[0]
	}
	if value != want {
		t.Errorf("WWW-Authenticate:\n got %s\nwant %s", value, want)
	}
	if value == "" {
		return
	}

	scheme, params, err := parseChallenge(value)
	switch {
	case err != nil:
		t.Errorf("WWW-Authenticate: %v", err)
	case scheme != "Bearer":
		t.Errorf("WWW-Authenticate scheme %q, want Bearer", scheme)
	case !validDescription(params["error_description"]):
		t.Errorf("error_description %q has characters RFC 6750 §3 forbids", params["error_description"])
	}
}

// validDescription reports whether s uses only %x20-21 / %x23-5B / %x5D-7E.
func validDescription(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}

	return true
}

// checkSignIn asserts a redirect to the sign-in URL whose return URL is
// returnTo (relative, or absolute on the request's host) and whose other
// query parameters are exactly want.
func checkSignIn(t *testing.T, res result, returnTo string, want map[string]string) {
	t.Helper()

	loc, err := url.Parse(res.header.Get("Location"))
	if err != nil {
		t.Errorf("Location %q: %v", res.header.Get("Location"), err)
		return
	}
	base := *loc
	base.RawQuery = ""
	if base.String() != env.signInURL {
		t.Errorf("redirect to %s, want %s", base.String(), env.signInURL)
	}

	q := loc.Query()
	rd, err := url.Parse(q.Get("rd"))
	switch {
	case err != nil || q.Get("rd") == "":
		t.Errorf("rd = %q, want the return URL %s", q.Get("rd"), returnTo)
	case rd.IsAbs() && rd.Host != hostApp:
		t.Errorf("rd = %q: absolute on another host than %s", q.Get("rd"), hostApp)
	case rd.RequestURI() != returnTo:
		t.Errorf("rd = %q, want it to return to %s", q.Get("rd"), returnTo)
	}

	for name, value := range want {
		if got := q.Get(name); got != value {
			t.Errorf("sign-in %s = %q, want %q (Location %s)", name, got, value, loc)
		}
	}
	for name := range q {
		if _, ok := want[name]; !ok && name != "rd" {
			t.Errorf("sign-in URL has unexpected %s=%q", name, q.Get(name))
		}
	}
}

// token mints a token of the main issuer for audience api, signed with key
// (the RSA key when nil).
func token(t *testing.T, key *realparts.SigningKey, claims map[string]any) string {
	t.Helper()

	if key == nil {
		key = env.rsaKey
	}
	full := map[string]any{"aud": "api", "email": "alice@example.com"}
	for k, v := range claims {
		full[k] = v
	}
	tok, err := env.issuer.Token(key, full)
	if err != nil {
		t.Fatalf("minting token: %v", err)
	}

	return tok
}

// goodClaims meet the /admin rule: loa:2, otp, authenticated a minute ago.
func goodClaims() map[string]any {
	return map[string]any{
		"acr":       loa2,
		"amr":       []string{"pwd", "otp"},
		"auth_time": time.Now().Add(-time.Minute).Unix(),
	}
}

// lowClaims are a valid password-only session at loa:1.
func lowClaims() map[string]any {
	return map[string]any{"acr": loa1, "amr": []string{"pwd"}}
}

// merge returns a copy of base with extra applied over it.
func merge(base, extra map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range extra {
		out[k] = v
	}

	return out
}
