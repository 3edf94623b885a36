package stepup

import (
	"errors"
	"testing"
)

func TestCanonicalPath(t *testing.T) {
	tests := []struct {
		name    string
		path    string
		want    string
		wantErr error
	}{
		{name: "plain", path: "/admin/users", want: "/admin/users"},
		{name: "empty", path: "", want: "/"},
		{name: "root", path: "/", want: "/"},
		{name: "trailing slash kept", path: "/admin/", want: "/admin/"},
		{name: "case kept", path: "/ADMIN", want: "/ADMIN"},
		{name: "dot file", path: "/.well-known/openid-configuration", want: "/.well-known/openid-configuration"},
		{name: "dots inside a name", path: "/a/..b/c..", want: "/a/..b/c.."},
		{name: "encoded letter", path: "/%61dmin", want: "/admin"},
		{name: "encoded space", path: "/a%20b", want: "/a b"},
		{name: "utf-8", path: "/caf%C3%A9", want: "/café"},
		{name: "double slash", path: "//admin", want: "/admin"},
		{name: "inner double slash", path: "/public//..//admin", want: "/admin"},
		{name: "dot segment", path: "/./admin", want: "/admin"},
		{name: "dot dot", path: "/public/../admin", want: "/admin"},
		{name: "above root", path: "/../../admin", want: "/admin"},
		{name: "trailing dot dot", path: "/admin/x/..", want: "/admin/"},
		{name: "trailing dot", path: "/admin/.", want: "/admin/"},
		{name: "encoded slash", path: "/public/..%2fadmin", want: "/admin"},
		{name: "encoded slashes", path: "/public%2f..%2fadmin", want: "/admin"},
		{name: "encoded dots", path: "/%2e%2e/admin", want: "/admin"},
		{name: "upper-case escapes", path: "/public/%2E%2E%2Fadmin", want: "/admin"},
		{name: "backslash", path: `/public\..\admin`, want: "/admin"},
		{name: "encoded backslash", path: "/public/..%5cadmin", want: "/admin"},
		{name: "tomcat parameter", path: "/admin;jsessionid=x", want: "/admin"},
		{name: "tomcat dot dot", path: "/public/..;/admin", want: "/admin"},
		{name: "parameter on every segment", path: "/a;x/b;y/", want: "/a/b/"},
		{name: "encoded semicolon", path: "/admin%3bx", want: "/admin"},
		{name: "only parameter", path: "/;x", want: "/"},
		{name: "percent literal", path: "/50%25off", want: "/50%off"},
		{name: "nul", path: "/admin%00", wantErr: ErrPathInvalid},
		{name: "raw nul", path: "/admin\x00", wantErr: ErrPathInvalid},
		{name: "newline", path: "/admin%0a", wantErr: ErrPathInvalid},
		{name: "del", path: "/admin%7f", wantErr: ErrPathInvalid},
		{name: "double-encoded dots", path: "/%252e%252e/admin", wantErr: ErrPathInvalid},
		{name: "double-encoded slash", path: "/public/..%252fadmin", wantErr: ErrPathInvalid},
		{name: "double-encoded letter", path: "/%2561dmin", wantErr: ErrPathInvalid},
		{name: "bad escape", path: "/admin%zz", wantErr: ErrPathInvalid},
		{name: "truncated escape", path: "/admin%2", wantErr: ErrPathInvalid},
		{name: "overlong utf-8 slash", path: "/public/..%c0%afadmin", wantErr: ErrPathInvalid},
		{name: "relative", path: "admin%2f", wantErr: ErrPathInvalid},
		{name: "relative fast", path: "admin", wantErr: ErrPathInvalid},
	}
	for _, tt := range tests {
		got, err := CanonicalPath(tt.path)
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("%s: CanonicalPath(%q) = %q, %v; want %v", tt.name, tt.path, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s: CanonicalPath(%q) = %q, %v; want %q", tt.name, tt.path, got, err, tt.want)
		}
	}
}

func TestCanonicalPathIsIdempotent(t *testing.T) {
	paths := []string{"/a/../b/", "/%61/./b", "/a;x//b", `/a\b`, "/.x/..y"}
	for _, p := range paths {
		once, err := CanonicalPath(p)
		if err != nil {
			t.Fatalf("CanonicalPath(%q): %v", p, err)
		}
		twice, err := CanonicalPath(once)
		if err != nil || twice != once {
			t.Errorf("CanonicalPath(%q) = %q, then %q, %v", p, once, twice, err)
		}
	}
}

func BenchmarkCanonicalPathFast(b *testing.B) {
	for i := 0; i < b.N; i++ {
		if _, err := CanonicalPath("/api/v1/accounts/42/settings"); err != nil {
			b.Fatal(err)
		}
	}
}
