package stepup

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// IsNavigation reports whether r is a top-level browser navigation that may be
// answered with a redirect to sign in. Everything else (XHR and fetch calls,
// sub-resources, unsafe methods, WebSocket upgrades, event streams, callers
// presenting a bearer token) gets the 401 challenge instead: a redirect would
// lose a POST body and means nothing to an API client.
//
// Fetch metadata decides when present (Sec-Fetch-Mode: navigate); older
// clients are recognised by an Accept header that prefers text/html.
func IsNavigation(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	h := r.Header
	if h.Get("Upgrade") != "" || h.Get("X-Requested-With") != "" ||
		strings.Contains(h.Get("Accept"), "text/event-stream") {
		return false
	}
	if strings.HasPrefix(strings.ToLower(h.Get("Authorization")), "bearer ") {
		return false
	}
	if mode := h.Get("Sec-Fetch-Mode"); mode != "" {
		return mode == "navigate"
	}

	return prefersHTML(h.Get("Accept"))
}

// prefersHTML reports whether an Accept header ranks text/html (or XHTML) at
// least as high as any other explicitly named type. Wildcards alone do not
// count: curl sends "*/*" and is not a browser.
func prefersHTML(accept string) bool {
	if accept == "" || !strings.Contains(accept, "html") {
		return false
	}
	if strings.Contains(accept, "text/event-stream") {
		return false
	}
	best := -1.0
	html := -1.0
	parts := strings.Split(accept, ",")
	for i := 0; i < len(parts); i++ {
		typ, q := mediaRange(parts[i])
		if typ == "" || strings.HasSuffix(typ, "/*") || typ == "*/*" {
			continue
		}
		if (typ == "text/html" || typ == "application/xhtml+xml") && q > html {
			html = q
		}
		if q > best {
			best = q
		}
	}

	return html > 0 && html >= best
}

// mediaRange splits one Accept element into its lower-cased type and q value.
func mediaRange(s string) (string, float64) {
	params := strings.Split(s, ";")
	typ := strings.ToLower(strings.TrimSpace(params[0]))
	q := 1.0
	for i := 1; i < len(params); i++ {
		p := strings.TrimSpace(params[i])
		if len(p) > 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=' {
			v, err := strconv.ParseFloat(p[2:], 64)
			if err == nil {
				q = v
			}
		}
	}

	return typ, q
}

// IsTLS reports whether the client reached the proxy over HTTPS: the
// connection says so, unless trustForwarded lets the first element of a valid
// X-Forwarded-Proto decide (any client can send that header).
func IsTLS(r *http.Request, trustForwarded bool) bool {
	if trustForwarded {
		if p := firstHeaderValue(r.Header.Get("X-Forwarded-Proto")); p == "http" || p == "https" {
			return p == "https"
		}
	}

	return r.TLS != nil
}

// RequestURL reconstructs the absolute URL the client asked for. The scheme
// comes from IsTLS and the host from the Host header; X-Forwarded-Host is
// used only when trustForwarded is set, because any client can send it.
func RequestURL(r *http.Request, trustForwarded bool) *url.URL {
	scheme := "http"
	if IsTLS(r, trustForwarded) {
		scheme = "https"
	}
	host := r.Host
	if trustForwarded {
		if fh := firstHeaderValue(r.Header.Get("X-Forwarded-Host")); fh != "" {
			host = fh
		}
	}

	return &url.URL{Scheme: scheme, Host: host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
}

// firstHeaderValue returns the first element of a comma-separated header.
func firstHeaderValue(v string) string {
	if i := strings.IndexByte(v, ','); i >= 0 {
		v = v[:i]
	}

	return strings.ToLower(strings.TrimSpace(v))
}

// SignInRedirect returns the sign-in URL with the return URL in returnParam
// and the rule's step-up parameters (acr_values, max_age) added to its query.
// The parameters come from configuration, never from the incoming request.
func SignInRedirect(
	signIn *url.URL,
	returnParam string,
	returnTo string,
	acrValues []string,
	maxAge int,
) string {
	u := *signIn
	q := u.Query()
	q.Set(returnParam, returnTo)
	if len(acrValues) > 0 {
		q.Set("acr_values", strings.Join(acrValues, " "))
	}
	if maxAge >= 0 {
		q.Set("max_age", strconv.Itoa(maxAge))
	}
	u.RawQuery = q.Encode()

	return u.String()
}
