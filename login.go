package traefikstepup

import (
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/stepup-auth/traefikstepup/stepup"
)

// Defaults of the built-in login.
const (
	defaultCallbackPath  = "/_stepup/callback"
	defaultLogoutPath    = "/_stepup/logout"
	defaultSessionCookie = "stepup_session"
	hostCookiePrefix     = "__Host-"
)

// browserLogin is the built-in OpenID Connect relying party: it starts logins
// when a browser must step up, completes them on the callback, and keeps the
// result in a session cookie that the verifier checks like any other token.
// All of its state travels in cookies sealed or signed with the configured
// secret, so any replica can finish a login another one started.
type browserLogin struct {
	rp       *stepup.RelyingParty
	sessions *stepup.SessionIssuer
	flows    *stepup.FlowCookies // plain http
	flowsTLS *stepup.FlowCookies // https: Secure, "__Host-" prefix

	cookie         string // session cookie name on plain http
	lifetime       time.Duration
	callbackPath   string
	logoutPath     string
	redirectURL    string // absolute, or empty to derive from the request
	postLogout     string
	providerLogout bool
}

// sessionCookieName is the session cookie's name for this request: browsers
// accept a "__Host-" cookie only when it is Secure, so plain http keeps the
// bare name.
func (l *browserLogin) sessionCookieName(tls bool) string {
	if tls {
		return hostCookiePrefix + l.cookie
	}

	return l.cookie
}

func (l *browserLogin) flowCookies(tls bool) *stepup.FlowCookies {
	if tls {
		return l.flowsTLS
	}

	return l.flows
}

// redirectURI is the callback URL sent to the provider: the configured one, or
// this request's origin with the callback path.
func (m *stepUpMiddleware) redirectURI(req *http.Request) string {
	if m.login.redirectURL != "" {
		return m.login.redirectURL
	}
	u := stepup.RequestURL(req, m.trustProxy)

	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: m.login.callbackPath}).String()
}

// startLogin redirects a browser to the provider, asking for what rule needs.
// The flow's secrets and the return path go into a sealed cookie of their own.
// A login that is only too old asks the provider to authenticate again
// (prompt=login); one that is too weak lets the provider keep its session and
// ask only for what is missing.
func (m *stepUpMiddleware) startLogin(
	rw http.ResponseWriter,
	req *http.Request,
	rule *stepup.Rule,
	reason error,
) {
	maxAge, hasMaxAge := rule.MaxAge()
	flow, err := stepup.NewLoginFlow(req.URL.RequestURI(), rule.ACRValues(), maxAge, hasMaxAge,
		rule.ID(), m.now(), stepup.DefaultFlowTTL)
	if err == nil {
		flow.Reauthenticate = errors.Is(reason, stepup.ErrAuthTooOld)
	}
	if err != nil {
		m.log.errorf("starting login: %v", err)
		writePage(rw, http.StatusInternalServerError, "Sign-in unavailable", "The sign-in could not be started.", "")
		return
	}
	target, err := m.login.rp.AuthorizationRequestURL(req.Context(), flow, m.redirectURI(req), "")
	if err != nil {
		m.log.errorf("starting login: %v", err)
		writePage(rw, http.StatusServiceUnavailable, "Sign-in unavailable",
			"The identity provider cannot be reached. Try again in a moment.", "")
		return
	}
	if err := m.login.flowCookies(stepup.IsTLS(req, m.trustProxy)).Write(rw, req, flow); err != nil {
		m.log.errorf("starting login: %v", err)
		writePage(rw, http.StatusInternalServerError, "Sign-in unavailable", "The sign-in could not be started.", "")
		return
	}
	rw.Header().Set("Cache-Control", "no-store")
	http.Redirect(rw, req, target, http.StatusFound)
}

// callback completes a login (OIDC Core §3.1.2.5–§3.1.3.7): it takes the flow
// named by state, exchanges the code, verifies the ID token, re-checks what
// the provider granted against the rule that asked, and only then replaces
// the session. A provider that grants less ends on a 403 page, never in a
// redirect loop.
func (m *stepUpMiddleware) callback(rw http.ResponseWriter, req *http.Request) {
	q := req.URL.Query()
	tls := stepup.IsTLS(req, m.trustProxy)
	flow, err := m.login.flowCookies(tls).Take(rw, req, q.Get("state"))
	if err != nil {
		m.logDecision(req, nil, nil, "callback refused", err)
		writePage(rw, http.StatusBadRequest, "Sign-in expired",
			"This sign-in has expired or was already used.", "/")
		return
	}
	returnTo := stepup.SafeReturnPath(flow.ReturnTo)
	if err := stepup.CallbackError(q); err != nil {
		m.providerError(rw, req, returnTo, err)
		return
	}

	claims, err := m.exchange(req, flow, q.Get("code"))
	switch {
	case errors.Is(err, stepup.ErrProviderRejected) || errors.Is(err, stepup.ErrFlowInvalid):
		// An expired or reused code: the user can simply start again.
		writePage(rw, http.StatusBadRequest, "Sign-in not completed",
			"The identity provider did not accept this sign-in any more.", returnTo)
		return
	case errors.Is(err, stepup.ErrProviderUnavailable):
		writePage(rw, http.StatusBadGateway, "Sign-in unavailable",
			"The identity provider cannot be reached. Try again in a moment.", returnTo)
		return
	case err != nil:
		writePage(rw, http.StatusBadGateway, "Sign-in failed",
			"The identity provider's answer could not be verified.", returnTo)
		return
	}
	rule := m.ruleForPath(returnTo)
	if err := rule.Check(claims, m.now(), m.leeway); stepup.IsAssuranceError(err) {
		m.logDecision(req, rule, claims, "callback insufficient", err)
		writePage(rw, http.StatusForbidden, "Stronger sign-in required",
			insufficientMessage(rule, claims, err), "")
		return
	}

	token, _, err := m.login.sessions.Mint(claims)
	if err != nil {
		m.log.errorf("creating session for sub=%q: %v", claims.Subject, err)
		writePage(rw, http.StatusInternalServerError, "Sign-in failed", "The session could not be created.", "")
		return
	}
	http.SetCookie(rw, m.login.sessionCookie(tls, token, int(m.login.lifetime/time.Second)))
	m.logDecision(req, rule, claims, "signed in", nil)
	rw.Header().Set("Cache-Control", "no-store")
	http.Redirect(rw, req, returnTo, http.StatusSeeOther)
}

// exchange redeems the code and verifies the ID token against the flow.
func (m *stepUpMiddleware) exchange(req *http.Request, flow *stepup.LoginFlow, code string) (*stepup.Claims, error) {
	if code == "" {
		m.logDecision(req, nil, nil, "callback refused", stepup.ErrFlowInvalid)
		return nil, stepup.ErrFlowInvalid
	}
	raw, err := m.login.rp.Exchange(req.Context(), code, flow.CodeVerifier, m.redirectURI(req))
	if err != nil {
		m.log.errorf("exchanging code: %v", err)
		return nil, err
	}
	claims, err := m.login.rp.VerifyIDToken(req.Context(), raw, flow.Nonce)
	if err != nil {
		m.log.errorf("verifying ID token: %v", err)
		return nil, err
	}

	return claims, nil
}

// ruleForPath finds the rule a browser will meet at a return path: returns
// are navigations, so GET.
func (m *stepUpMiddleware) ruleForPath(returnTo string) *stepup.Rule {
	p := returnTo
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	canonical, err := stepup.CanonicalPath(p)
	if err != nil {
		canonical = "/"
	}

	return m.policy.Match(http.MethodGet, canonical)
}

// providerError ends a login the provider refused (RFC 6749 §4.1.2.1,
// OIDC Core §3.1.2.6) with a page, never another redirect. The state has
// been checked, so the provider's (sanitised) words may be shown.
func (m *stepUpMiddleware) providerError(rw http.ResponseWriter, req *http.Request, returnTo string, err error) {
	m.logDecision(req, nil, nil, "provider refused", err)
	if errors.Is(err, stepup.ErrACRInsufficient) {
		rule := m.ruleForPath(returnTo)
		writePage(rw, http.StatusForbidden, "Stronger sign-in required",
			"The identity provider could not provide the authentication this page requires: "+
				requirements(rule, err)+".", "")
		return
	}
	msg := "The identity provider did not complete the sign-in: " +
		strings.TrimPrefix(err.Error(), stepup.ErrProviderRejected.Error()+": ")
	writePage(rw, http.StatusForbidden, "Sign-in not completed", msg, returnTo)
}

// insufficientMessage says what the route required and what the provider
// granted, for the 403 page after a step-up that fell short.
func insufficientMessage(rule *stepup.Rule, claims *stepup.Claims, err error) string {
	granted := "level " + orNone(claims.ACR) + " with methods " + orNone(strings.Join(claims.AMR, ", "))

	return fmt.Sprintf("This page requires %s. Your identity provider granted %s (%s).",
		requirements(rule, err), granted, describe(err))
}

// requirements says in words what rule asks of the authentication.
func requirements(rule *stepup.Rule, err error) string {
	var need []string
	if v := rule.ACRValues(); len(v) > 0 {
		need = append(need, "authentication level "+strings.Join(v, " or "))
	}
	if age, ok := rule.MaxAge(); ok {
		need = append(need, "a sign-in within the last "+age.String())
	}
	if errors.Is(err, stepup.ErrAMRInsufficient) {
		need = append(need, "other authentication methods")
	}
	if len(need) == 0 {
		return "a stronger authentication"
	}

	return strings.Join(need, " and ")
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}

	return s
}

// logout clears the session and, when configured, continues at the
// provider's end_session_endpoint (RP-Initiated Logout 1.0).
func (m *stepUpMiddleware) logout(rw http.ResponseWriter, req *http.Request) {
	// A cross-site page must not be able to log the user out (logout CSRF):
	// browsers say where a request comes from in Sec-Fetch-Site. Such a
	// request gets a page with a button that posts back from this origin.
	if site := req.Header.Get("Sec-Fetch-Site"); site == "cross-site" || site == "same-site" {
		writeLogoutConfirmation(rw, m.login.logoutPath)
		return
	}
	tls := stepup.IsTLS(req, m.trustProxy)
	http.SetCookie(rw, m.login.sessionCookie(tls, "", -1))
	target := m.login.postLogout
	if m.login.providerLogout {
		back := target
		if strings.HasPrefix(back, "/") {
			u := stepup.RequestURL(req, m.trustProxy)
			back = (&url.URL{Scheme: u.Scheme, Host: u.Host}).String() + back
		}
		end, err := m.login.rp.EndSessionURL(req.Context(), "", back)
		switch {
		case err != nil:
			m.log.errorf("provider logout: %v", err)
		case end != "":
			target = end
		}
	}
	m.logDecision(req, nil, nil, "logged out", nil)
	rw.Header().Set("Cache-Control", "no-store")
	http.Redirect(rw, req, target, http.StatusSeeOther)
}

// sessionCookie returns the session cookie carrying token; maxAge < 0
// deletes it. HttpOnly keeps it from scripts, SameSite=Lax from cross-site
// subrequests and form posts, and "__Host-" on HTTPS from subdomains.
func (l *browserLogin) sessionCookie(tls bool, token string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     l.sessionCookieName(tls),
		Value:    token,
		Path:     "/",
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   tls,
		SameSite: http.SameSiteLaxMode,
	}
}

// writePage answers with a small self-contained HTML page. Every text is
// escaped; link, when not empty, is a same-origin path offered to retry.
func writePage(rw http.ResponseWriter, status int, title string, message string, link string) {
	setPageHeaders(rw.Header(), "")
	rw.WriteHeader(status)
	body := "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>" +
		html.EscapeString(title) + "</title><style>body{font-family:system-ui,sans-serif;" +
		"max-width:40rem;margin:4rem auto;padding:0 1rem;color:#222}h1{font-size:1.4rem}</style>" +
		"</head><body><h1 id=\"stepup-title\">" + html.EscapeString(title) + "</h1><p id=\"stepup-message\">" +
		html.EscapeString(message) + "</p>"
	if link != "" {
		body += "<p><a id=\"stepup-retry\" href=\"" + html.EscapeString(stepup.SafeReturnPath(link)) +
			"\">Try again</a></p>"
	}
	_, _ = rw.Write([]byte(body + "</body></html>\n"))
}

// writeLogoutConfirmation asks the user to confirm a logout that another site
// started.
func writeLogoutConfirmation(rw http.ResponseWriter, logoutPath string) {
	setPageHeaders(rw.Header(), "; form-action 'self'")
	rw.WriteHeader(http.StatusOK)
	_, _ = rw.Write([]byte("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign out</title>" +
		"</head><body style=\"font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto\">" +
		"<h1 id=\"stepup-title\">Sign out?</h1><form method=\"post\" action=\"" +
		html.EscapeString(logoutPath) + "\"><button id=\"stepup-logout\" type=\"submit\">Sign out</button>" +
		"</form></body></html>\n"))
}

// setPageHeaders marks the plugin's own pages: HTML, never cached, no
// sniffing, and a policy that allows inline styles only (plus csp).
func setPageHeaders(h http.Header, csp string) {
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'"+csp)
}
