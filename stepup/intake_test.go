package stepup

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestParseTokenSource(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    TokenSource
		wantErr bool
	}{
		{name: "bearer", in: "bearer", want: TokenSource{Kind: SourceBearer}},
		{name: "bearer any case", in: " Bearer ", want: TokenSource{Kind: SourceBearer}},
		{name: "cookie", in: "cookie:stepup_session", want: TokenSource{Kind: SourceCookie, Name: "stepup_session"}},
		{name: "host cookie", in: "cookie:__Host-s", want: TokenSource{Kind: SourceCookie, Name: "__Host-s"}},
		{name: "header canonicalised", in: "header:x-access-token", want: TokenSource{Kind: SourceHeader, Name: "X-Access-Token"}},
		{name: "bearer with name", in: "bearer:x", wantErr: true},
		{name: "cookie without name", in: "cookie:", wantErr: true},
		{name: "cookie name with space", in: "cookie:a b", wantErr: true},
		{name: "cookie name with equals", in: "cookie:a=b", wantErr: true},
		{name: "header name with colon", in: "header:a:b", wantErr: true},
		{name: "authorization header", in: "header:authorization", wantErr: true},
		{name: "cookie header", in: "header:Cookie", wantErr: true},
		{name: "unknown kind", in: "query:token", wantErr: true},
		{name: "empty", in: "", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseTokenSource(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("%s: ParseTokenSource(%q) = %+v, %v", tt.name, tt.in, got, err)
		}
	}
}

func TestTokenFromRequest(t *testing.T) {
	sources := []TokenSource{
		{Kind: SourceBearer},
		{Kind: SourceCookie, Name: "sess"},
		{Kind: SourceHeader, Name: "X-Token"},
	}
	tests := []struct {
		name       string
		headers    [][2]string
		want       string
		wantSource int
		wantErr    error
	}{
		{name: "nothing", wantSource: -1, wantErr: ErrTokenMissing},
		{name: "bearer", headers: [][2]string{{"Authorization", "Bearer abc"}}, want: "abc"},
		{name: "scheme lower case", headers: [][2]string{{"Authorization", "bearer abc"}}, want: "abc"},
		{name: "scheme upper case", headers: [][2]string{{"Authorization", "BEARER abc"}}, want: "abc"},
		{name: "bearer wins over cookie", headers: [][2]string{{"Authorization", "Bearer abc"}, {"Cookie", "sess=def"}}, want: "abc"},
		{name: "basic is skipped", headers: [][2]string{{"Authorization", "Basic dTpw"}, {"Cookie", "sess=def"}}, want: "def", wantSource: 1},
		{name: "empty bearer is skipped", headers: [][2]string{{"Authorization", "Bearer "}, {"X-Token", "ghi"}}, want: "ghi", wantSource: 2},
		{name: "scheme without space", headers: [][2]string{{"Authorization", "Bearerabc"}}, wantSource: -1, wantErr: ErrTokenMissing},
		{name: "two authorization headers", headers: [][2]string{{"Authorization", "Bearer a"}, {"Authorization", "Bearer b"}}, wantErr: ErrTokenAmbiguous},
		{name: "comma-joined credentials", headers: [][2]string{{"Authorization", "Bearer a, Bearer b"}}, wantErr: ErrTokenAmbiguous},
		{name: "two tokens in one header", headers: [][2]string{{"Authorization", "Bearer a b"}}, wantErr: ErrTokenMalformed},
		{name: "cookie among others", headers: [][2]string{{"Cookie", "a=1; sess=def; b=2"}}, want: "def", wantSource: 1},
		{name: "same cookie twice, same value", headers: [][2]string{{"Cookie", "sess=def; sess=def"}}, want: "def", wantSource: 1},
		{name: "same cookie twice, different values", headers: [][2]string{{"Cookie", "sess=def"}, {"Cookie", "sess=xyz"}}, wantSource: 1, wantErr: ErrTokenAmbiguous},
		{name: "empty cookie skipped", headers: [][2]string{{"Cookie", "sess="}, {"X-Token", "ghi"}}, want: "ghi", wantSource: 2},
		{name: "other cookie only", headers: [][2]string{{"Cookie", "sessx=1"}}, wantSource: -1, wantErr: ErrTokenMissing},
		{name: "header", headers: [][2]string{{"X-Token", " ghi "}}, want: "ghi", wantSource: 2},
		{name: "header twice", headers: [][2]string{{"X-Token", "a"}, {"X-Token", "b"}}, wantSource: 2, wantErr: ErrTokenAmbiguous},
		{name: "header comma-joined", headers: [][2]string{{"X-Token", "a, b"}}, wantSource: 2, wantErr: ErrTokenAmbiguous},
		{name: "too large", headers: [][2]string{{"Authorization", "Bearer " + strings.Repeat("a", 33)}}, wantErr: ErrTokenTooLarge},
		{name: "at the limit", headers: [][2]string{{"Authorization", "Bearer " + strings.Repeat("a", 32)}}, want: strings.Repeat("a", 32)},
		{name: "cookie too large", headers: [][2]string{{"Cookie", "sess=" + strings.Repeat("a", 33)}}, wantSource: 1, wantErr: ErrTokenTooLarge},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		for _, h := range tt.headers {
			r.Header.Add(h[0], h[1])
		}
		got, source, err := TokenFromRequest(r, sources, 32)
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) || got != "" || source != tt.wantSource {
				t.Errorf("%s: = %q, %d, %v; want source %d, %v", tt.name, got, source, err, tt.wantSource, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want || source != tt.wantSource {
			t.Errorf("%s: = %q, %d, %v; want %q from %d", tt.name, got, source, err, tt.want, tt.wantSource)
		}
	}
}

func TestRemoveToken(t *testing.T) {
	tests := []struct {
		name       string
		src        TokenSource
		headers    [][2]string
		wantHeader string
		want       []string
	}{
		{
			name: "cookie in the middle", src: TokenSource{Kind: SourceCookie, Name: "sess"},
			headers:    [][2]string{{"Cookie", `a=1; sess=tok; b="q v"`}},
			wantHeader: "Cookie", want: []string{`a=1; b="q v"`},
		},
		{
			name: "every copy of the cookie", src: TokenSource{Kind: SourceCookie, Name: "sess"},
			headers:    [][2]string{{"Cookie", "sess=x;a=1"}, {"Cookie", "sess=x"}},
			wantHeader: "Cookie", want: []string{"a=1"},
		},
		{
			name: "only cookie", src: TokenSource{Kind: SourceCookie, Name: "sess"},
			headers:    [][2]string{{"Cookie", "sess=tok"}},
			wantHeader: "Cookie",
		},
		{
			name: "similar name kept", src: TokenSource{Kind: SourceCookie, Name: "sess"},
			headers:    [][2]string{{"Cookie", "sess2=a; xsess=b"}},
			wantHeader: "Cookie", want: []string{"sess2=a; xsess=b"},
		},
		{
			name: "bearer", src: TokenSource{Kind: SourceBearer},
			headers:    [][2]string{{"Authorization", "Bearer x"}},
			wantHeader: "Authorization",
		},
		{
			name: "header", src: TokenSource{Kind: SourceHeader, Name: "X-Token"},
			headers:    [][2]string{{"X-Token", "x"}},
			wantHeader: "X-Token",
		},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		for _, h := range tt.headers {
			r.Header.Add(h[0], h[1])
		}
		RemoveToken(r, tt.src)
		got := r.Header[tt.wantHeader]
		if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
			t.Errorf("%s: %s = %q, want %q", tt.name, tt.wantHeader, got, tt.want)
		}
	}
}

func BenchmarkTokenFromRequest(b *testing.B) {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer "+strings.Repeat("a", 800))
	sources := []TokenSource{{Kind: SourceBearer}, {Kind: SourceCookie, Name: "sess"}}
	for i := 0; i < b.N; i++ {
		if _, _, err := TokenFromRequest(r, sources, DefaultMaxTokenSize); err != nil {
			b.Fatal(err)
		}
	}
}
