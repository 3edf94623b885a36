package stepup

import (
	"errors"
	"testing"
)

func TestStrictPath(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "plain", in: "/admin/x", want: "/admin/x"},
		{name: "dot-dot", in: "/public/../admin", want: "/admin"},
		{name: "encoded dot-dot", in: "/public/%2e%2e/admin", want: "/admin"},
		{name: "params are data", in: "/admin/..;/public", want: "/admin/..;/public"},
		{name: "backslash is data", in: `/admin/x\..\..\public`, want: `/admin/x\..\..\public`},
		{name: "encoded slash is data", in: "/admin/x/..%2F..%2Fpublic", want: "/admin/x/..%2F..%2Fpublic"},
		{name: "double slash", in: "//admin//x/", want: "/admin/x/"},
		{name: "above root", in: "/../../admin", want: "/admin"},
	}
	for _, tt := range tests {
		got, err := StrictPath(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("%s: StrictPath(%q) = %q, %v; want %q", tt.name, tt.in, got, err, tt.want)
		}
	}
}

func TestMatchRequestFailsClosedOnAmbiguousPaths(t *testing.T) {
	p, err := NewPolicy([]string{"l1", "l2"}, []RuleOptions{
		{PathPrefix: "/public", Public: true},
		{PathPrefix: "/admin", MinACR: "l2"},
		{PathPrefix: "/admin/public-docs", Public: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		path     string
		wantRule string // "" = refused
	}{
		{name: "plain admin", path: "/admin/x", wantRule: "rules[1]"},
		{name: "dot-dot into admin", path: "/public/../admin", wantRule: "rules[1]"},
		{name: "tomcat params into admin", path: "/public/..;/admin", wantRule: ""},
		{name: "params out of admin", path: "/admin/..;/public/x", wantRule: ""},
		{name: "backslashes out of admin", path: `/admin/x\..\..\public`, wantRule: ""},
		{name: "encoded backslash out of admin", path: "/admin/x%5C..%5C..%5Cpublic", wantRule: ""},
		{name: "encoded slash out of admin", path: "/admin/x/..%2F..%2Fpublic", wantRule: ""},
		{name: "encoded semicolon out of admin", path: "/admin/..%3B/public", wantRule: ""},
		{name: "upper case admin", path: "/ADMIN/users", wantRule: ""},
		{name: "mixed case within one rule", path: "/admin/Users", wantRule: "rules[1]"},
		{name: "upper case outside rules", path: "/Home", wantRule: "default"},
		{name: "jsessionid within one rule", path: "/admin/x;jsessionid=1", wantRule: "rules[1]"},
		{name: "encoded letter", path: "/%61dmin", wantRule: "rules[1]"},
	}
	for _, tt := range tests {
		rule, err := p.MatchRequest("GET", tt.path)
		switch {
		case tt.wantRule == "" && !errors.Is(err, ErrPathInvalid):
			t.Errorf("%s: MatchRequest(%q) = %v, %v; want ErrPathInvalid", tt.name, tt.path, rule, err)
		case tt.wantRule != "" && (err != nil || rule.ID() != tt.wantRule):
			t.Errorf("%s: MatchRequest(%q) = %v, %v; want %s", tt.name, tt.path, rule, err, tt.wantRule)
		}
	}
}
