package stepup

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

var flowNow = time.Unix(1700000000, 0)

func TestNewLoginFlow(t *testing.T) {
	f, err := NewLoginFlow("//evil.example", []string{"gold"}, 90*time.Second+500*time.Millisecond,
		true, "rule-1", flowNow, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	g, err := NewLoginFlow("/a", nil, 0, false, "", flowNow, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		got  any
		want any
	}{
		{name: "state length", got: len(f.State), want: 43},
		{name: "nonce length", got: len(f.Nonce), want: 43},
		{name: "verifier length", got: len(f.CodeVerifier), want: 43},
		{name: "states differ", got: f.State == g.State, want: false},
		{name: "nonce differs from state", got: f.Nonce == f.State, want: false},
		{name: "unsafe return path", got: f.ReturnTo, want: "/"},
		{name: "safe return path", got: g.ReturnTo, want: "/a"},
		{name: "max age seconds", got: f.MaxAge, want: 90},
		{name: "has max age", got: f.HasMaxAge, want: true},
		{name: "no max age", got: g.HasMaxAge, want: false},
		{name: "acr", got: strings.Join(f.ACRValues, " "), want: "gold"},
		{name: "rule", got: f.RuleID, want: "rule-1"},
		{name: "expiry", got: f.ExpiresAt, want: flowNow.Unix() + 300},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	for i := 0; i < len(f.CodeVerifier); i++ {
		if !isBase64URLChar(f.CodeVerifier[i]) {
			t.Fatalf("verifier has %q outside RFC 7636 §4.1 unreserved characters", f.CodeVerifier[i])
		}
	}
}

func TestCodeChallenge(t *testing.T) {
	// RFC 7636 Appendix B.
	f := &LoginFlow{CodeVerifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"}
	if got, want := f.CodeChallenge(), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"; got != want {
		t.Errorf("CodeChallenge = %q, want %q", got, want)
	}
	sum := sha256.Sum256([]byte("x"))
	g := &LoginFlow{CodeVerifier: "x"}
	if g.CodeChallenge() != base64.RawURLEncoding.EncodeToString(sum[:]) {
		t.Error("challenge is not base64url(sha256(verifier))")
	}
}

func TestSafeReturnPath(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want string
	}{
		{name: "root", raw: "/", want: "/"},
		{name: "path and query", raw: "/admin/x?a=1&b=%2F#frag", want: "/admin/x?a=1&b=%2F#frag"},
		{name: "empty", raw: "", want: "/"},
		{name: "relative", raw: "admin", want: "/"},
		{name: "absolute URL", raw: "https://evil.example/", want: "/"},
		{name: "scheme relative", raw: "//evil.example", want: "/"},
		{name: "slash backslash", raw: "/\\evil.example", want: "/"},
		{name: "backslash later", raw: "/a\\b", want: "/"},
		{name: "javascript", raw: "javascript:alert(1)", want: "/"},
		{name: "tab trick", raw: "/\t/evil.example", want: "/"},
		{name: "newline", raw: "/a\nb", want: "/"},
		{name: "nul", raw: "/a\x00", want: "/"},
		{name: "del", raw: "/a\x7f", want: "/"},
		{name: "non ascii", raw: "/caf\xc3\xa9", want: "/"},
		{name: "encoded slashes kept", raw: "/%2F%2Fevil", want: "/%2F%2Fevil"},
		{name: "too long", raw: "/" + strings.Repeat("a", maxReturnPathSize), want: "/"},
		{name: "longest", raw: "/" + strings.Repeat("a", maxReturnPathSize-1), want: "/" + strings.Repeat("a", maxReturnPathSize-1)},
	}
	for _, tt := range tests {
		if got := SafeReturnPath(tt.raw); got != tt.want {
			t.Errorf("%s: SafeReturnPath(%q) = %q, want %q", tt.name, tt.raw, got, tt.want)
		}
	}
}

func newTestFlowCookies(t *testing.T, now *time.Time) *FlowCookies {
	t.Helper()
	return &FlowCookies{
		Sealer: mustSealer(t, sealerSecret(7), nil, "flow"),
		Secure: true,
		TTL:    5 * time.Minute,
		Now:    func() time.Time { return *now },
	}
}

func newTestFlow(t *testing.T, now time.Time) *LoginFlow {
	t.Helper()
	f, err := NewLoginFlow("/admin?x=1", []string{"urn:acr:mfa"}, 0, true, "r0", now, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// writeFlow runs Write on a request carrying cookies and returns the response cookies.
func writeFlow(t *testing.T, c *FlowCookies, f *LoginFlow, cookies []*http.Cookie) []*http.Cookie {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/admin", nil)
	for i := 0; i < len(cookies); i++ {
		r.AddCookie(cookies[i])
	}
	w := httptest.NewRecorder()
	if err := c.Write(w, r, f); err != nil {
		t.Fatal(err)
	}
	return w.Result().Cookies()
}

func TestFlowCookiesWrite(t *testing.T) {
	now := flowNow
	c := newTestFlowCookies(t, &now)
	f := newTestFlow(t, now)
	got := writeFlow(t, c, f, nil)
	if len(got) != 1 {
		t.Fatalf("got %d cookies, want 1", len(got))
	}
	ck := got[0]
	tests := []struct {
		name string
		got  any
		want any
	}{
		{name: "name", got: ck.Name, want: "stepup_flow_" + f.State[:12]},
		{name: "path", got: ck.Path, want: "/"},
		{name: "secure", got: ck.Secure, want: true},
		{name: "http only", got: ck.HttpOnly, want: true},
		{name: "same site", got: ck.SameSite, want: http.SameSiteLaxMode},
		{name: "max age", got: ck.MaxAge, want: 300},
		{name: "value hides the state", got: strings.Contains(ck.Value, f.State), want: false},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

func TestFlowCookiesWriteTooLarge(t *testing.T) {
	now := flowNow
	c := newTestFlowCookies(t, &now)
	f := newTestFlow(t, now)
	f.ACRValues = []string{strings.Repeat("a", 3000)}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	w := httptest.NewRecorder()
	if err := c.Write(w, r, f); err == nil {
		t.Error("Write accepted a cookie over 4096 bytes")
	}
	if len(w.Result().Cookies()) != 0 {
		t.Error("Write set a cookie despite failing")
	}
}

func TestFlowCookiesBound(t *testing.T) {
	now := flowNow
	c := newTestFlowCookies(t, &now)
	var carried []*http.Cookie
	for i := 0; i < 4; i++ {
		f := newTestFlow(t, now.Add(time.Duration(i)*time.Second))
		carried = append(carried, writeFlow(t, c, f, nil)[0])
	}
	junk := &http.Cookie{Name: "stepup_flow_junkjunkjunk", Value: "garbage"}
	other := &http.Cookie{Name: "unrelated", Value: "1"}

	tests := []struct {
		name    string
		carried []*http.Cookie
		deleted []string
	}{
		{name: "below the bound", carried: carried[:3], deleted: nil},
		{name: "at the bound the oldest goes", carried: carried, deleted: []string{carried[0].Name}},
		{name: "unreadable goes first", carried: []*http.Cookie{carried[1], junk, carried[0], carried[2], other},
			deleted: []string{junk.Name}},
		{name: "two over", carried: []*http.Cookie{carried[3], carried[2], junk, carried[1], carried[0]},
			deleted: []string{junk.Name, carried[0].Name}},
	}
	for _, tt := range tests {
		f := newTestFlow(t, now)
		got := writeFlow(t, c, f, tt.carried)
		var deleted []string
		for i := 0; i < len(got); i++ {
			if got[i].MaxAge < 0 {
				deleted = append(deleted, got[i].Name)
			} else if got[i].Name != "stepup_flow_"+f.State[:12] {
				t.Errorf("%s: unexpected cookie %s", tt.name, got[i].Name)
			}
		}
		if strings.Join(deleted, ",") != strings.Join(tt.deleted, ",") {
			t.Errorf("%s: deleted %v, want %v", tt.name, deleted, tt.deleted)
		}
	}
}

func TestFlowCookiesTake(t *testing.T) {
	now := flowNow
	c := newTestFlowCookies(t, &now)
	f := newTestFlow(t, now)
	ck := writeFlow(t, c, f, nil)[0]
	other := newTestFlow(t, now)
	otherCk := writeFlow(t, c, other, nil)[0]

	otherSealer := &FlowCookies{Sealer: mustSealer(t, sealerSecret(8), nil, "flow")}
	foreign := writeFlow(t, otherSealer, f, nil)[0]

	// Same name as f's cookie, but sealing a flow whose state differs after
	// the first 12 characters.
	twin := *f
	twin.State = f.State[:12] + strings.Repeat("A", len(f.State)-12)
	twinCk := writeFlow(t, c, &twin, nil)[0]

	tests := []struct {
		name    string
		cookies []*http.Cookie
		state   string
		after   time.Duration
		want    error
	}{
		{name: "valid", cookies: []*http.Cookie{otherCk, ck}, state: f.State, want: nil},
		{name: "no cookie", cookies: []*http.Cookie{otherCk}, state: f.State, want: ErrFlowInvalid},
		{name: "empty state", cookies: []*http.Cookie{ck}, state: "", want: ErrFlowInvalid},
		{name: "state with bad characters", cookies: []*http.Cookie{ck}, state: f.State[:12] + "; x=1", want: ErrFlowInvalid},
		{name: "state too long", cookies: []*http.Cookie{ck}, state: f.State + strings.Repeat("a", 100), want: ErrFlowInvalid},
		{name: "state suffix differs", cookies: []*http.Cookie{twinCk}, state: f.State, want: ErrFlowInvalid},
		{name: "sealed with another secret", cookies: []*http.Cookie{foreign}, state: f.State, want: ErrFlowInvalid},
		{name: "duplicate name, second matches", cookies: []*http.Cookie{twinCk, ck}, state: f.State, want: nil},
		{name: "expired", cookies: []*http.Cookie{ck}, state: f.State, after: 5*time.Minute + time.Second, want: ErrFlowExpired},
		{name: "at expiry", cookies: []*http.Cookie{ck}, state: f.State, after: 5 * time.Minute, want: nil},
	}
	for _, tt := range tests {
		now = flowNow.Add(tt.after)
		r := httptest.NewRequest(http.MethodGet, "/callback", nil)
		for i := 0; i < len(tt.cookies); i++ {
			r.AddCookie(tt.cookies[i])
		}
		w := httptest.NewRecorder()
		got, err := c.Take(w, r, tt.state)
		if tt.want != nil {
			if !errors.Is(err, tt.want) {
				t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: err = %v", tt.name, err)
			continue
		}
		if got.State != f.State || got.Nonce != f.Nonce || got.CodeVerifier != f.CodeVerifier ||
			got.ReturnTo != "/admin?x=1" || got.RuleID != "r0" || !got.HasMaxAge ||
			strings.Join(got.ACRValues, " ") != "urn:acr:mfa" {
			t.Errorf("%s: flow = %+v, want %+v", tt.name, got, f)
		}
		res := w.Result().Cookies()
		if len(res) != 1 || res[0].Name != ck.Name || res[0].MaxAge >= 0 {
			t.Errorf("%s: cookie not deleted: %v", tt.name, res)
		}
	}
}

func TestFlowCookiesTakeIgnoresOversized(t *testing.T) {
	now := flowNow
	c := newTestFlowCookies(t, &now)
	f := newTestFlow(t, now)
	r := httptest.NewRequest(http.MethodGet, "/callback", nil)
	r.AddCookie(&http.Cookie{Name: "stepup_flow_" + f.State[:12], Value: strings.Repeat("A", 5000)})
	if _, err := c.Take(httptest.NewRecorder(), r, f.State); !errors.Is(err, ErrFlowInvalid) {
		t.Errorf("err = %v, want ErrFlowInvalid", err)
	}
}
