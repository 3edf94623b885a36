package traefikstepup

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/stepup-auth/traefikstepup/stepup"
)

// isZeroOIDC reports whether no oidc option is set: a half-filled block
// without clientID is a mistake worth reporting, not a disabled login.
func isZeroOIDC(oc OIDCConfig) bool {
	return oc.Issuer == "" && oc.AuthorizationURL == "" && oc.TokenURL == "" &&
		oc.ClientSecret == "" && oc.SessionSecret == "" && len(oc.Unknown) == 0
}

// browserLogin compiles the built-in OIDC login and returns the issuer that
// verifies its session tokens.
func (c *configCompiler) browserLogin(
	oc OIDCConfig,
	name string,
	leeway time.Duration,
) (*browserLogin, []stepup.IssuerOptions) {
	c.unknownKeys("oidc.", oc.Unknown)
	if oc.ClientID == "" {
		c.problem("oidc.clientID", "required to enable the built-in login")
	}
	l := &browserLogin{
		cookie:         orDefault(oc.SessionCookie, defaultSessionCookie),
		callbackPath:   orDefault(oc.CallbackPath, defaultCallbackPath),
		logoutPath:     orDefault(oc.LogoutPath, defaultLogoutPath),
		postLogout:     orDefault(oc.PostLogoutRedirectURL, "/"),
		redirectURL:    oc.RedirectURL,
		providerLogout: oc.ProviderLogout,
	}
	c.checkLoginPaths(l, oc)
	l.lifetime = c.duration("oidc.sessionLifetime", oc.SessionLifetime, stepup.DefaultSessionLifetime)
	if l.lifetime == 0 {
		c.problem("oidc.sessionLifetime", "must be positive")
	}

	secret, previous := c.sessionSecrets(oc)
	scopes := oc.Scopes
	if len(scopes) == 0 {
		scopes = []string{"profile", "email"}
	}
	rp, err := stepup.NewRelyingParty(stepup.RelyingPartyOptions{
		Issuer:             oc.Issuer,
		AuthorizationURL:   oc.AuthorizationURL,
		TokenURL:           oc.TokenURL,
		EndSessionURL:      oc.EndSessionURL,
		JWKSURL:            oc.JWKSURL,
		ClientID:           oc.ClientID,
		ClientSecret:       oc.ClientSecret,
		ClientAuthMethod:   oc.ClientAuthMethod,
		Scopes:             scopes,
		ExtraAuthParams:    oc.AuthParams,
		EssentialACRClaims: oc.EssentialACRClaims,
		IDTokenAlgorithms:  oc.IDTokenAlgorithms,
		ACRClaim:           oc.ACRClaim,
		Client:             c.deps.client,
		Context:            c.ctx,
		Leeway:             leeway,
		Now:                c.deps.now,
	})
	if err != nil {
		c.problem("oidc", "%v", err)
	}
	l.rp = rp
	if secret == nil {
		return nil, nil
	}

	sessions, err := stepup.NewSessionIssuer(stepup.SessionOptions{
		Issuer:          "urn:traefikstepup:session",
		Audience:        oc.ClientID,
		Secret:          secret,
		PreviousSecrets: previous,
		Lifetime:        l.lifetime,
		ACRClaim:        oc.ACRClaim,
		ExtraClaims:     oc.SessionClaims,
		Now:             c.deps.now,
	})
	if err != nil {
		c.problem("oidc", "%v", err)
		return nil, nil
	}
	l.sessions = sessions
	l.flows = c.flowCookies(secret, previous, false)
	l.flowsTLS = c.flowCookies(secret, previous, true)
	if l.rp == nil || l.flows == nil {
		return nil, nil
	}

	return l, []stepup.IssuerOptions{sessions.VerifierIssuer()}
}

// checkLoginPaths validates the reserved paths and the redirect URLs.
func (c *configCompiler) checkLoginPaths(l *browserLogin, oc OIDCConfig) {
	if !strings.HasPrefix(l.callbackPath, "/") {
		c.problem("oidc.callbackPath", "%q must start with /", l.callbackPath)
	}
	if !strings.HasPrefix(l.logoutPath, "/") || l.logoutPath == l.callbackPath {
		c.problem("oidc.logoutPath", "%q must start with / and differ from callbackPath", l.logoutPath)
	}
	if l.redirectURL != "" {
		u, err := url.Parse(l.redirectURL)
		if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.Path != l.callbackPath {
			c.problem("oidc.redirectURL", "%q must be an absolute http(s) URL whose path is callbackPath %q",
				l.redirectURL, l.callbackPath)
		}
	}
	if strings.HasPrefix(l.postLogout, "//") || (!strings.HasPrefix(l.postLogout, "/") && !stepup.IsHTTPURL(l.postLogout)) {
		c.problem("oidc.postLogoutRedirectURL", "%q must be a path or an absolute http(s) URL", l.postLogout)
	}
	if oc.Issuer != "" && !stepup.IsHTTPURL(oc.Issuer) {
		c.problem("oidc.issuer", "%q is not an absolute http(s) URL", oc.Issuer)
	}
}

// sessionSecrets decodes the session secret and its predecessors: the same
// secret must be configured on every replica, or sessions and logins started
// on one are refused by the others.
func (c *configCompiler) sessionSecrets(oc OIDCConfig) ([]byte, [][]byte) {
	if len(oc.SessionSecret) < 32 {
		c.problem("oidc.sessionSecret", "required, at least 32 bytes (for example: openssl rand -base64 32)")
		return nil, nil
	}
	var previous [][]byte
	for i := 0; i < len(oc.PreviousSessionSecrets); i++ {
		if len(oc.PreviousSessionSecrets[i]) < 32 {
			c.problem(fmt.Sprintf("oidc.previousSessionSecrets[%d]", i), "must be at least 32 bytes")
			continue
		}
		previous = append(previous, []byte(oc.PreviousSessionSecrets[i]))
	}

	return []byte(oc.SessionSecret), previous
}

// flowCookies returns the login-flow cookie jar for plain http or https.
func (c *configCompiler) flowCookies(secret []byte, previous [][]byte, tls bool) *stepup.FlowCookies {
	sealer, err := stepup.NewSealer(secret, previous, "flow")
	if err != nil {
		c.problem("oidc.sessionSecret", "%v", err)
		return nil
	}
	jar := &stepup.FlowCookies{Sealer: sealer, Now: c.deps.now}
	if tls {
		jar.Prefix = hostCookiePrefix + stepup.DefaultFlowCookiePrefix
		jar.Secure = true
	}

	return jar
}

// sessionSources adds the session cookie to the token sources, once with its
// plain name for http and once with the "__Host-" name for https, so that on
// HTTPS only a cookie the browser guarantees to be host-only and Secure counts.
func sessionSources(sources []stepup.TokenSource, cookie string) ([]stepup.TokenSource, []stepup.TokenSource) {
	var plain, tls []stepup.TokenSource
	seen := false
	for i := 0; i < len(sources); i++ {
		s := sources[i]
		if s.Kind == "cookie" && s.Name == cookie {
			seen = true
			plain = append(plain, s)
			tls = append(tls, stepup.TokenSource{Kind: "cookie", Name: hostCookiePrefix + cookie})
			continue
		}
		plain = append(plain, s)
		tls = append(tls, s)
	}
	if !seen {
		plain = append(plain, stepup.TokenSource{Kind: "cookie", Name: cookie})
		tls = append(tls, stepup.TokenSource{Kind: "cookie", Name: hostCookiePrefix + cookie})
	}

	return plain, tls
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}

	return v
}

// warnIDTokensAsBearer warns when an issuer entry would accept the login's own
// ID tokens as bearer tokens: an ID token proves a login to this client, it
// is not an access token for APIs (OIDC Core §2, RFC 9068 §1).
func (c *configCompiler) warnIDTokensAsBearer(cfg *Config) {
	if cfg.OIDC.ClientID == "" {
		return
	}
	for i := 0; i < len(cfg.Issuers); i++ {
		ic := cfg.Issuers[i]
		if ic.Issuer != cfg.OIDC.Issuer || ic.InsecureSkipAudienceCheck {
			continue
		}
		for j := 0; j < len(ic.Audience); j++ {
			if ic.Audience[j] == cfg.OIDC.ClientID {
				c.warn("issuers[%d] accepts the login's ID tokens (audience %q) as bearer tokens; "+
					"set tokenType: at+jwt or another audience to accept access tokens only", i, ic.Audience[j])
			}
		}
	}
}
