package stepup

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var testLadder = []string{"loa1", "loa2", "loa3"}

func TestNewPolicyProblems(t *testing.T) {
	tests := []struct {
		name   string
		ladder []string
		rules  []RuleOptions
		want   []string // substrings of the error, in order
	}{
		{
			name:  "prefix without slash",
			rules: []RuleOptions{{PathPrefix: "admin"}},
			want:  []string{`rules[0].pathPrefix: "admin" must start with "/"`},
		},
		{
			name:  "prefix not canonical",
			rules: []RuleOptions{{PathPrefix: "/a/../admin"}, {PathPrefix: "/%61dmin"}},
			want:  []string{"rules[0].pathPrefix", "rules[1].pathPrefix"},
		},
		{
			name:  "bad method",
			rules: []RuleOptions{{PathPrefix: "/a", Methods: []string{"GET", "BAD METHOD", ""}}},
			want:  []string{`rules[0].methods[1]: "BAD METHOD"`, `rules[0].methods[2]`},
		},
		{
			name:  "minACR off the ladder",
			rules: []RuleOptions{{PathPrefix: "/a"}, {PathPrefix: "/b"}, {PathPrefix: "/c", MinACR: "loa9"}},
			want:  []string{`rules[2].minACR: "loa9" is not on acrLevels`},
		},
		{
			name:   "ladder repeats and blanks",
			ladder: []string{"a", "b", "a", ""},
			want:   []string{`acrLevels[3]: must not be empty`, `acrLevels[2]: "a" repeats acrLevels[0]`},
		},
		{
			name: "duplicate prefix and method",
			rules: []RuleOptions{
				{PathPrefix: "/a", Methods: []string{"GET", "POST"}},
				{PathPrefix: "/a", Methods: []string{"post"}},
				{PathPrefix: "/b"},
				{PathPrefix: "/b"},
			},
			want: []string{"rules[1]: same pathPrefix and method as rules[0]", "rules[3]: same pathPrefix and method as rules[2]"},
		},
		{
			name:  "public with requirements",
			rules: []RuleOptions{{PathPrefix: "/p", Public: true, AMR: []string{"mfa"}}},
			want:  []string{"rules[0].public: a public rule cannot have requirements"},
		},
		{
			name: "empty values",
			rules: []RuleOptions{{
				PathPrefix: "/a", ACRValues: []string{""}, AMR: []string{" "}, AMRAny: []string{""},
				MaxAge: -time.Second, HasMaxAge: true,
				Claims: []ClaimRequirement{{Name: "", Values: nil}},
			}},
			want: []string{
				"rules[0].acrValues[0]", "rules[0].amr[0]", "rules[0].amrAny[0]", "rules[0].maxAge",
				"rules[0].claims[0].name: required", "rules[0].claims[0].values: required",
			},
		},
	}
	for _, tt := range tests {
		ladder := tt.ladder
		if ladder == nil {
			ladder = testLadder
		}
		_, err := NewPolicy(ladder, tt.rules)
		if err == nil {
			t.Errorf("%s: no error", tt.name)
			continue
		}
		msg := err.Error()
		for _, w := range tt.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: error %q lacks %q", tt.name, msg, w)
			}
		}
	}
}

func TestNewPolicyAcceptsValid(t *testing.T) {
	_, err := NewPolicy(testLadder, []RuleOptions{
		{PathPrefix: "/", Public: true, Methods: []string{"options"}},
		{PathPrefix: "/a", Methods: []string{"GET"}},
		{PathPrefix: "/a", Methods: []string{"HEAD", "PROPFIND"}},
		{PathPrefix: "/a"},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// newTestPolicy builds the policy the Match and Check tests share.
func newTestPolicy(t testing.TB) *Policy {
	t.Helper()
	p, err := NewPolicy(testLadder, []RuleOptions{
		{PathPrefix: "/public", Public: true},                                        // rules[0]
		{PathPrefix: "/admin", MinACR: "loa2"},                                       // rules[1]
		{PathPrefix: "/admin/", Methods: []string{"DELETE"}, MinACR: "loa3"},         // rules[2]
		{PathPrefix: "/admin/", AMR: []string{"mfa"}},                                // rules[3]
		{PathPrefix: "/reports", Methods: []string{"GET"}, ACRValues: []string{"x"}}, // rules[4]
		{PathPrefix: "/reports", HasMaxAge: true, MaxAge: time.Minute},               // rules[5]
		{PathPrefix: "/files", Methods: []string{"GET"}},                             // rules[6]
		{PathPrefix: "/files", Methods: []string{"HEAD"}, Public: true},              // rules[7]
	})
	if err != nil {
		t.Fatal(err)
	}

	return p
}

func TestPolicyMatch(t *testing.T) {
	p := newTestPolicy(t)
	tests := []struct {
		name   string
		method string
		path   string
		want   string
	}{
		{name: "no rule", method: "GET", path: "/other", want: "default"},
		{name: "root", method: "GET", path: "/", want: "default"},
		{name: "public", method: "GET", path: "/public/x", want: "rules[0]"},
		{name: "plain string prefix", method: "GET", path: "/administrator", want: "rules[1]"},
		{name: "exact prefix", method: "GET", path: "/admin", want: "rules[1]"},
		{name: "longer prefix wins", method: "GET", path: "/admin/users", want: "rules[3]"},
		{name: "method rule beats method-less", method: "DELETE", path: "/admin/users", want: "rules[2]"},
		{name: "method folded", method: "delete", path: "/admin/users", want: "rules[2]"},
		{name: "longer prefix beats method", method: "DELETE", path: "/admin", want: "rules[1]"},
		{name: "GET rule", method: "GET", path: "/reports/q1", want: "rules[4]"},
		{name: "GET covers HEAD", method: "HEAD", path: "/reports/q1", want: "rules[4]"},
		{name: "other method falls back", method: "POST", path: "/reports/q1", want: "rules[5]"},
		{name: "explicit HEAD rule beats GET", method: "HEAD", path: "/files/a", want: "rules[7]"},
		{name: "GET next to HEAD rule", method: "GET", path: "/files/a", want: "rules[6]"},
		{name: "no method rule and no fallback", method: "POST", path: "/files/a", want: "default"},
		{name: "case-sensitive", method: "GET", path: "/ADMIN", want: "default"},
	}
	for _, tt := range tests {
		if got := p.Match(tt.method, tt.path).ID(); got != tt.want {
			t.Errorf("%s: Match(%s %s) = %s, want %s", tt.name, tt.method, tt.path, got, tt.want)
		}
	}
}

func TestRuleAccessors(t *testing.T) {
	p, err := NewPolicy(testLadder, []RuleOptions{
		{PathPrefix: "/a", MinACR: "loa2", ACRValues: []string{"loa3", "urn:x"}, HasMaxAge: true, MaxAge: 0},
		{PathPrefix: "/p", Public: true},
	})
	if err != nil {
		t.Fatal(err)
	}

	r := p.Match("GET", "/a")
	if got := strings.Join(r.ACRValues(), " "); got != "loa2 loa3 urn:x" {
		t.Errorf("ACRValues = %q", got)
	}
	if age, ok := r.MaxAge(); age != 0 || !ok || !r.RequiresFreshLogin() {
		t.Errorf("MaxAge = %v, %v; RequiresFreshLogin = %v", age, ok, r.RequiresFreshLogin())
	}
	if r.Prefix() != "/a" || r.Public() {
		t.Errorf("Prefix = %q, Public = %v", r.Prefix(), r.Public())
	}
	if !p.Match("GET", "/p").Public() {
		t.Error("public rule not public")
	}

	d := p.Match("GET", "/z")
	if _, ok := d.MaxAge(); ok || d.Public() || d.ID() != "default" || d.ACRValues() != nil {
		t.Error("default rule has requirements")
	}
}

func TestRuleCheck(t *testing.T) {
	now := time.Unix(1700000000, 0)
	leeway := 30 * time.Second
	rule := func(o RuleOptions) *Rule {
		o.PathPrefix = "/x"
		p, err := NewPolicy(testLadder, []RuleOptions{o})
		if err != nil {
			t.Fatal(err)
		}
		return p.Match("GET", "/x")
	}
	minLoa2 := rule(RuleOptions{MinACR: "loa2"})
	either := rule(RuleOptions{MinACR: "loa3", ACRValues: []string{"urn:mfa"}})
	amr := rule(RuleOptions{AMR: []string{"pwd", "otp"}, AMRAny: []string{"hwk", "swk"}})
	fresh := rule(RuleOptions{HasMaxAge: true, MaxAge: 5 * time.Minute})
	justNow := rule(RuleOptions{HasMaxAge: true})
	groups := rule(RuleOptions{MinACR: "loa2", Claims: []ClaimRequirement{{Name: "groups", Values: []string{"ops", "admins"}}}})
	twoClaims := rule(RuleOptions{Claims: []ClaimRequirement{{Name: "role", Values: []string{"a"}}, {Name: "tier", Values: []string{"1"}}}})

	tests := []struct {
		name   string
		rule   *Rule
		claims string
		want   error
	}{
		{name: "no requirements", rule: rule(RuleOptions{}), claims: `{}`},
		{name: "acr at min", rule: minLoa2, claims: `{"acr":"loa2"}`},
		{name: "acr above min", rule: minLoa2, claims: `{"acr":"loa3"}`},
		{name: "acr below min", rule: minLoa2, claims: `{"acr":"loa1"}`, want: ErrACRInsufficient},
		{name: "acr off ladder", rule: minLoa2, claims: `{"acr":"gold"}`, want: ErrACRInsufficient},
		{name: "acr missing", rule: minLoa2, claims: `{}`, want: ErrACRInsufficient},
		{name: "ladder satisfies either", rule: either, claims: `{"acr":"loa3"}`},
		{name: "value satisfies either", rule: either, claims: `{"acr":"urn:mfa"}`},
		{name: "neither", rule: either, claims: `{"acr":"loa2"}`, want: ErrACRInsufficient},
		{name: "all amr and one of any", rule: amr, claims: `{"amr":["pwd","otp","swk"]}`},
		{name: "amr lacks one of all", rule: amr, claims: `{"amr":["pwd","hwk"]}`, want: ErrAMRInsufficient},
		{name: "amr lacks any", rule: amr, claims: `{"amr":["pwd","otp"]}`, want: ErrAMRInsufficient},
		{name: "amr missing", rule: amr, claims: `{}`, want: ErrAMRInsufficient},
		{name: "auth_time recent", rule: fresh, claims: `{"auth_time":1699999800}`},
		{name: "auth_time at max age plus leeway", rule: fresh, claims: `{"auth_time":1699999670}`},
		{name: "auth_time one second too old", rule: fresh, claims: `{"auth_time":1699999669}`, want: ErrAuthTooOld},
		{name: "auth_time missing", rule: fresh, claims: `{}`, want: ErrAuthTooOld},
		{name: "max age zero within leeway", rule: justNow, claims: `{"auth_time":1699999970}`},
		{name: "max age zero beyond leeway", rule: justNow, claims: `{"auth_time":1699999969}`, want: ErrAuthTooOld},
		{name: "claim in array", rule: groups, claims: `{"acr":"loa2","groups":["dev","ops"]}`},
		{name: "claim missing", rule: groups, claims: `{"acr":"loa2","groups":["dev"]}`, want: ErrClaimMismatch},
		{name: "assurance before claims", rule: groups, claims: `{"acr":"loa1"}`, want: ErrACRInsufficient},
		{name: "every claim required", rule: twoClaims, claims: `{"role":"a","tier":2}`, want: ErrClaimMismatch},
		{name: "number claim", rule: twoClaims, claims: `{"role":"a","tier":1}`},
	}
	for _, tt := range tests {
		c, err := ParseClaims([]byte(tt.claims), "")
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		err = tt.rule.Check(c, now, leeway)
		if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("%s: Check = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestRuleCheckArrayACRClaim(t *testing.T) {
	p, err := NewPolicy(nil, []RuleOptions{{PathPrefix: "/", ACRValues: []string{"c2"}}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseClaims([]byte(`{"acrs":["c1","c2"]}`), "acrs")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Match("GET", "/").Check(c, time.Now(), 0); err != nil {
		t.Errorf("Check = %v", err)
	}
}

func BenchmarkMatch(b *testing.B) {
	p := newTestPolicy(b)
	c, err := ParseClaims([]byte(`{"acr":"loa3","amr":["mfa"]}`), "")
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := p.Match("GET", "/admin/users/42")
		if err := r.Check(c, now, time.Minute); err != nil {
			b.Fatal(err)
		}
	}
}
