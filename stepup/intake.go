package stepup

import (
	"fmt"
	"net/http"
	"strings"
)

// Kinds of TokenSource.
const (
	SourceBearer = "bearer" // Authorization: Bearer <token> (RFC 6750 §2.1)
	SourceCookie = "cookie" // a cookie by name
	SourceHeader = "header" // a request header by name, its whole value
)

// TokenSource is one place a request may carry the token.
type TokenSource struct {
	// Kind is SourceBearer, SourceCookie or SourceHeader.
	Kind string
	// Name is the cookie name, or the canonical header name; empty for bearer.
	Name string
}

// ParseTokenSource parses "bearer", "cookie:<name>" or "header:<name>".
// Names must be RFC 9110 tokens (cookie names too, RFC 6265 §4.1.1). The
// Authorization and Cookie headers cannot be a "header:" source: use
// "bearer" and "cookie:<name>".
func ParseTokenSource(s string) (TokenSource, error) {
	kind, name, hasName := strings.Cut(strings.TrimSpace(s), ":")
	kind = strings.ToLower(kind)
	switch {
	case kind == SourceBearer && !hasName:
		return TokenSource{Kind: SourceBearer}, nil
	case kind == SourceCookie && IsToken(name):
		return TokenSource{Kind: SourceCookie, Name: name}, nil
	case kind == SourceHeader && IsToken(name):
		return newHeaderSource(name)
	}

	return TokenSource{}, fmt.Errorf("token source %q: want \"bearer\", \"cookie:<name>\" or \"header:<name>\"", s)
}

// newHeaderSource returns a header source, refusing the headers that have
// their own source kind.
func newHeaderSource(name string) (TokenSource, error) {
	canonical := http.CanonicalHeaderKey(name)
	if canonical == "Authorization" || canonical == "Cookie" {
		return TokenSource{}, fmt.Errorf("token source \"header:%s\": use \"bearer\" or \"cookie:<name>\"", name)
	}

	return TokenSource{Kind: SourceHeader, Name: canonical}, nil
}

// String returns the source in ParseTokenSource's syntax.
func (s TokenSource) String() string {
	if s.Kind == SourceBearer {
		return SourceBearer
	}

	return s.Kind + ":" + s.Name
}

// TokenFromRequest returns the token of the first source in sources that
// carries one, and that source's index. Empty values are skipped, and so is
// an Authorization header with another scheme (Basic): it is not a token.
// A source that carries the token twice (two Authorization headers, a
// comma-joined second credential, two cookies of that name with different
// values) fails with ErrTokenAmbiguous instead of being skipped: guessing
// which copy a backend will read is how confusion attacks start. A token
// longer than maxSize fails with ErrTokenTooLarge before anything else looks
// at it. No source: ErrTokenMissing.
func TokenFromRequest(r *http.Request, sources []TokenSource, maxSize int) (string, int, error) {
	for i := 0; i < len(sources); i++ {
		var token string
		var err error
		switch sources[i].Kind {
		case SourceBearer:
			token, err = bearerToken(r.Header["Authorization"])
		case SourceCookie:
			token, err = cookieToken(r, sources[i].Name)
		case SourceHeader:
			token, err = headerToken(r.Header[sources[i].Name])
		}
		if err != nil {
			return "", i, err
		}
		if token == "" {
			continue
		}
		if len(token) > maxSize {
			return "", i, tooLargeError(sources[i], len(token))
		}

		return token, i, nil
	}

	return "", -1, ErrTokenMissing
}

// tooLargeError reports a token over the size limit (kept out of
// TokenFromRequest's frame, which Yaegi allocates on every call).
func tooLargeError(src TokenSource, size int) error {
	return fmt.Errorf("%s: %d bytes: %w", src, size, ErrTokenTooLarge)
}

// bearerToken extracts the token of an Authorization: Bearer header. The
// scheme is case-insensitive (RFC 9110 §11.1); one token follows it
// (RFC 6750 §2.1).
func bearerToken(values []string) (string, error) {
	if len(values) == 0 {
		return "", nil
	}
	if len(values) > 1 {
		return "", fmt.Errorf("authorization header repeated: %w", ErrTokenAmbiguous)
	}

	// The usual spelling is compared first: one native call less per
	// request under Yaegi.
	v := values[0]
	if len(v) < 7 || v[:7] != "Bearer " && !strings.EqualFold(v[:7], "bearer ") {
		return "", nil
	}

	token := v[7:]
	if token != "" && token[0] == ' ' {
		token = strings.TrimLeft(token, " ")
	}
	if strings.ContainsAny(token, " \t,") {
		return "", extraCredentialError(token)
	}

	return token, nil
}

// extraCredentialError classifies what follows the token: a comma-joined
// second credential is ambiguous, anything else malformed.
func extraCredentialError(token string) error {
	if strings.IndexByte(token, ',') >= 0 {
		return fmt.Errorf("authorization header: second credential: %w", ErrTokenAmbiguous)
	}

	return fmt.Errorf("authorization header: more than one token: %w", ErrTokenMalformed)
}

// cookieToken returns the value of the named cookie. Copies with the same
// value are harmless; different values are ambiguous.
func cookieToken(r *http.Request, name string) (string, error) {
	if len(r.Header["Cookie"]) == 0 {
		return "", nil
	}

	token := ""
	for _, c := range r.Cookies() {
		if c.Name != name || c.Value == "" {
			continue
		}
		if token != "" && token != c.Value {
			return "", fmt.Errorf("cookie %q repeated: %w", name, ErrTokenAmbiguous)
		}
		token = c.Value
	}
	if strings.IndexByte(token, ',') >= 0 {
		return "", fmt.Errorf("cookie %q: a list: %w", name, ErrTokenAmbiguous)
	}

	return token, nil
}

// headerToken returns a custom header's value, refusing repeats.
func headerToken(values []string) (string, error) {
	if len(values) == 0 {
		return "", nil
	}
	if len(values) > 1 {
		return "", fmt.Errorf("token header repeated: %w", ErrTokenAmbiguous)
	}

	token := strings.TrimSpace(values[0])
	if strings.IndexByte(token, ',') >= 0 {
		return "", fmt.Errorf("token header: a list: %w", ErrTokenAmbiguous)
	}

	return token, nil
}

// PassToken applies the upstream token options to req: strip removes the
// token from where source found it; forward, a canonical header name, carries
// it upstream ("Authorization" gets "Bearer <token>").
func PassToken(req *http.Request, token string, source TokenSource, strip bool, forward string) {
	if strip {
		RemoveToken(req, source)
	}
	if forward == "Authorization" {
		req.Header.Set("Authorization", "Bearer "+token)
	} else if forward != "" {
		req.Header.Set(forward, token)
	}
}

// RemoveToken removes src from r before it goes upstream: the header, or the
// one cookie from the Cookie header, the other cookies kept as sent (pairs
// byte for byte, rejoined with "; ").
func RemoveToken(r *http.Request, src TokenSource) {
	switch src.Kind {
	case SourceBearer:
		r.Header.Del("Authorization")
	case SourceHeader:
		r.Header.Del(src.Name)
	case SourceCookie:
		removeCookie(r.Header, src.Name)
	}
}

// removeCookie drops every cookie called name from the Cookie headers.
func removeCookie(h http.Header, name string) {
	values := h["Cookie"]
	kept := make([]string, 0, len(values))
	for i := 0; i < len(values); i++ {
		if v := withoutCookie(values[i], name); v != "" {
			kept = append(kept, v)
		}
	}

	if len(kept) == 0 {
		h.Del("Cookie")
		return
	}
	h["Cookie"] = kept
}

// withoutCookie returns a Cookie header value without the pairs called name.
func withoutCookie(header, name string) string {
	pairs := strings.Split(header, ";")
	kept := make([]string, 0, len(pairs))
	for i := 0; i < len(pairs); i++ {
		pair := strings.TrimSpace(pairs[i])
		pairName, _, _ := strings.Cut(pair, "=")
		if pair == "" || strings.TrimSpace(pairName) == name {
			continue
		}
		kept = append(kept, pair)
	}

	return strings.Join(kept, "; ")
}
