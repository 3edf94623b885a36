package traefikstepup

import (
	"context"
	"fmt"
	"net"
	"net/textproto"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/stepup-auth/traefikstepup/stepup"
)

// configCompiler turns a decoded Config into a ready middleware, collecting
// every problem (with its location) and every risky setting on the way.
type configCompiler struct {
	ctx      context.Context
	deps     deps
	problems []string
	warnings []string

	// realClock: deps.now is time.Now, which the gate reads more cheaply
	// itself.
	realClock bool
}

func (c *configCompiler) problem(where string, format string, args ...interface{}) {
	c.problems = append(c.problems, where+": "+fmt.Sprintf(format, args...))
}

func (c *configCompiler) warn(format string, args ...interface{}) {
	c.warnings = append(c.warnings, fmt.Sprintf(format, args...))
}

// unknownKeys reports keys that matched no field: Traefik drops them silently,
// which turns a typo such as "minAcr" into a rule that requires nothing.
func (c *configCompiler) unknownKeys(where string, unknown map[string]interface{}) {
	keys := sortedKeys(unknown)
	for i := 0; i < len(keys); i++ {
		c.problem(where+keys[i], "unknown option")
	}
}

// compile builds everything expensive once: keys, the verifier, the prefix
// table, URLs. The returned middleware is incomplete when problems were found.
func (c *configCompiler) compile(cfg *Config, name string) *stepUpMiddleware {
	c.unknownKeys("", cfg.Unknown)
	m := &stepUpMiddleware{
		name:          name,
		realm:         cfg.Realm,
		audit:         cfg.AuditMode,
		stripToken:    cfg.StripToken,
		forwardHeader: textproto.CanonicalMIMEHeaderKey(cfg.ForwardTokenHeader),
		returnParam:   cfg.ReturnParam,
		trustProxy:    cfg.TrustForwardedHeaders,
	}
	if m.realm == "" {
		m.realm = name
	}
	if m.returnParam == "" {
		m.returnParam = defaultReturnParam
	}
	if cfg.ForwardTokenHeader != "" && !stepup.IsToken(cfg.ForwardTokenHeader) {
		c.problem("forwardTokenHeader", "%q is not a valid header name", cfg.ForwardTokenHeader)
	}

	m.leeway = c.duration("leeway", cfg.Leeway, defaultLeeway)
	m.maxToken = cfg.MaxTokenSize
	if m.maxToken == 0 {
		m.maxToken = defaultMaxTokenSize
	}
	if m.maxToken < 0 {
		c.problem("maxTokenSize", "must be positive")
	}
	if cfg.CacheSize < -1 {
		c.problem("cacheSize", "must be -1 (disabled), 0 (default) or positive")
	}
	if cfg.CacheSize == -1 {
		c.warn("cacheSize is -1: every request verifies its token's signature, which is slow under Traefik's interpreter")
	}
	if cfg.AuditMode {
		c.warn("auditMode is on: decisions are only logged and every request reaches the backend")
	}

	sources := cfg.TokenSources
	if len(sources) == 0 && cfg.OIDC.ClientID != "" {
		// The session cookie is added by the login with its "__Host-" name on
		// HTTPS; a bare-named default cookie would let a sibling subdomain
		// plant a session.
		sources = []string{"bearer"}
	}
	m.sources = c.tokenSources(sources)
	m.headers = c.claimHeaders(cfg.ClaimHeaders)
	m.stripHeaders = spoofableNames(m.headers, m.forwardHeader)
	m.signIn = c.signInURL(cfg.SignInURL)
	m.policy = c.policy(cfg.ACRLevels, cfg.Rules)

	var extra []stepup.IssuerOptions
	if cfg.OIDC.ClientID != "" || !isZeroOIDC(cfg.OIDC) {
		m.login, extra = c.browserLogin(cfg.OIDC, name, m.leeway)
		if m.login != nil {
			m.sources, m.sourcesTLS = sessionSources(m.sources, m.login.cookie)
		}
		if m.signIn != nil {
			c.problem("signInURL", "set together with oidc: the built-in login replaces it")
		}
	}
	m.verifier = c.verifier(cfg, extra, m.leeway, m.maxToken)
	c.warnIDTokensAsBearer(cfg)
	if len(c.problems) == 0 {
		m.gate = c.gate(m)
	}

	return m
}

// gate builds the fast path from the compiled middleware.
func (c *configCompiler) gate(m *stepUpMiddleware) *stepup.Gate {
	o := stepup.GateOptions{
		Policy:        m.policy,
		Verifier:      m.verifier,
		StripHeaders:  m.stripHeaders,
		Sources:       m.sources,
		SourcesTLS:    m.sourcesTLS,
		TrustProxy:    m.trustProxy,
		StripToken:    m.stripToken,
		ForwardHeader: m.forwardHeader,
		Leeway:        m.leeway,
	}
	if !c.realClock {
		o.Now = c.deps.now
	}
	for i := 0; i < len(m.headers); i++ {
		o.ClaimHeaders = append(o.ClaimHeaders, m.headers[i].claim)
		o.HeaderNames = append(o.HeaderNames, m.headers[i].header)
	}
	if m.login != nil {
		o.SkipPaths = []string{m.login.callbackPath, m.login.logoutPath}
	}

	return stepup.NewGate(o)
}

// duration parses a duration option, returning def for an empty value.
func (c *configCompiler) duration(where string, v string, def time.Duration) time.Duration {
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		c.problem(where, "invalid duration %q (want for example \"90s\" or \"10m\")", v)
		return def
	}

	return d
}

func (c *configCompiler) tokenSources(raw []string) []stepup.TokenSource {
	if len(raw) == 0 {
		raw = defaultTokenSources
	}
	var sources []stepup.TokenSource
	for i := 0; i < len(raw); i++ {
		src, err := stepup.ParseTokenSource(raw[i])
		if err != nil {
			c.problem(fmt.Sprintf("tokenSources[%d]", i), "%v", err)
			continue
		}
		sources = append(sources, src)
	}

	return sources
}

// defaultClaimHeaders is used when ClaimHeaders is empty.
var defaultClaimHeaders = map[string]string{
	"sub": "X-Stepup-Subject",
	"acr": "X-Stepup-ACR",
	"amr": "X-Stepup-AMR",
}

func (c *configCompiler) claimHeaders(raw map[string]string) []claimHeader {
	if len(raw) == 0 {
		raw = defaultClaimHeaders
	}
	claims := sortedStringKeys(raw)
	var headers []claimHeader
	for i := 0; i < len(claims); i++ {
		h := raw[claims[i]]
		if !stepup.IsToken(h) {
			c.problem("claimHeaders."+claims[i], "%q is not a valid header name", h)
			continue
		}
		headers = append(headers, claimHeader{claim: claims[i], header: textproto.CanonicalMIMEHeaderKey(h)})
	}

	return headers
}

func (c *configCompiler) signInURL(raw string) *url.URL {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https" && !strings.HasPrefix(raw, "/")) {
		c.problem("signInURL", "%q is not an absolute http(s) URL or an absolute path", raw)
		return nil
	}

	return u
}

func (c *configCompiler) policy(ladder []string, rules []RuleConfig) *stepup.Policy {
	var opts []stepup.RuleOptions
	for i := 0; i < len(rules); i++ {
		opts = append(opts, c.ruleOptions(i, rules[i]))
	}
	p, err := stepup.NewPolicy(ladder, opts)
	if err != nil {
		c.problems = append(c.problems, err.Error())
	}

	return p
}

func (c *configCompiler) ruleOptions(i int, r RuleConfig) stepup.RuleOptions {
	where := fmt.Sprintf("rules[%d].", i)
	c.unknownKeys(where, r.Unknown)
	o := stepup.RuleOptions{
		PathPrefix: r.PathPrefix,
		Methods:    r.Methods,
		Public:     r.Public,
		MinACR:     r.MinACR,
		ACRValues:  r.ACRValues,
		AMR:        r.AMR,
		AMRAny:     r.AMRAny,
	}
	if r.MaxAge != "" {
		o.MaxAge = c.duration(where+"maxAge", r.MaxAge, 0)
		o.HasMaxAge = true
	}
	for j := 0; j < len(r.Claims); j++ {
		c.unknownKeys(fmt.Sprintf("%sclaims[%d].", where, j), r.Claims[j].Unknown)
		o.Claims = append(o.Claims, stepup.ClaimRequirement{Name: r.Claims[j].Name, Values: r.Claims[j].Values})
	}

	return o
}

func (c *configCompiler) verifier(
	cfg *Config,
	extra []stepup.IssuerOptions,
	leeway time.Duration,
	maxToken int,
) *stepup.Verifier {
	if len(cfg.Issuers) == 0 && len(extra) == 0 {
		c.problem("issuers", "at least one issuer is required (or the oidc login)")
		return nil
	}
	var issuers []stepup.IssuerOptions
	for i := 0; i < len(cfg.Issuers); i++ {
		issuers = append(issuers, c.issuer(i, cfg.Issuers[i]))
	}
	issuers = append(issuers, extra...)
	if len(c.problems) > 0 {
		return nil
	}
	v, err := stepup.NewVerifier(stepup.VerifierOptions{
		Issuers:      issuers,
		Leeway:       leeway,
		MaxTokenSize: maxToken,
		CacheSize:    cfg.CacheSize,
		Now:          c.deps.now,
	})
	if err != nil {
		c.problems = append(c.problems, err.Error())
	}

	return v
}

// issuer compiles one trusted issuer: its claims expectations and its keys.
func (c *configCompiler) issuer(i int, ic IssuerConfig) stepup.IssuerOptions {
	where := fmt.Sprintf("issuers[%d].", i)
	c.unknownKeys(where, ic.Unknown)
	o := stepup.IssuerOptions{
		Issuer:            ic.Issuer,
		Audience:          ic.Audience,
		Algorithms:        ic.Algorithms,
		TokenType:         ic.TokenType,
		ACRClaim:          ic.ACRClaim,
		SkipIssuerCheck:   ic.InsecureSkipIssuerCheck,
		SkipAudienceCheck: ic.InsecureSkipAudienceCheck,
	}
	switch {
	case ic.Issuer == "" && !ic.InsecureSkipIssuerCheck:
		c.problem(where+"issuer", "required (or set insecureSkipIssuerCheck)")
	case ic.InsecureSkipIssuerCheck:
		c.warn("%sinsecureSkipIssuerCheck is on: tokens of any issuer signed by these keys pass", where)
	}
	switch {
	case len(ic.Audience) == 0 && !ic.InsecureSkipAudienceCheck:
		c.problem(where+"audience", "required (or set insecureSkipAudienceCheck)")
	case ic.InsecureSkipAudienceCheck:
		c.warn("%sinsecureSkipAudienceCheck is on: tokens minted for other applications pass", where)
	}
	if len(ic.Algorithms) == 0 {
		c.problem(where+"algorithms", "required: list the algorithms this issuer signs with (for example RS256)")
	}
	for j := 0; j < len(ic.Algorithms); j++ {
		if !stepup.IsSupportedAlgorithm(ic.Algorithms[j]) {
			c.problem(fmt.Sprintf("%salgorithms[%d]", where, j),
				"%q is not supported (names are case-sensitive: RS256, PS256, ES256, EdDSA, HS256...)", ic.Algorithms[j])
		}
	}
	o.Keys = c.keySet(where, ic)

	return o
}

// keySet compiles an issuer's keys: inline ones are parsed now, remote ones are
// only described (fetched lazily on first use, never in New).
func (c *configCompiler) keySet(where string, ic IssuerConfig) *stepup.KeySet {
	var static []*stepup.Key
	if ic.PublicKeys != "" {
		keys, err := stepup.ParseKeys(ic.PublicKeys)
		if err != nil {
			c.problem(where+"publicKeys", "%v", err)
		}
		static = append(static, keys...)
	}
	minSecret := hmacSecretSize(ic.Algorithms)
	switch {
	case ic.Secret != "" && minSecret == 0:
		c.problem(where+"secret", "set, but no HS256/HS384/HS512 algorithm is allowed")
	case ic.Secret == "" && minSecret > 0:
		c.problem(where+"algorithms", "HS* algorithms need a secret")
	case ic.Secret != "" && len(ic.Secret) < minSecret:
		c.problem(where+"secret", "must be at least %d bytes long for the HS* algorithms allowed (RFC 7518 §3.2)", minSecret)
	case ic.Secret != "":
		static = append(static, stepup.NewSecretKey([]byte(ic.Secret)))
	}

	var remote *stepup.RemoteKeysOptions
	switch {
	case ic.JWKSURL != "" && ic.Discovery:
		c.problem(where+"jwksURL", "set together with discovery: choose one")
	case ic.JWKSURL != "":
		remote = c.remote(where+"jwksURL", ic.JWKSURL)
	case ic.Discovery:
		if ic.Issuer == "" {
			c.problem(where+"discovery", "needs issuer")
			break
		}
		remote = c.remote(where+"discovery", strings.TrimSuffix(ic.Issuer, "/")+"/.well-known/openid-configuration")
		if remote != nil {
			remote.DiscoveryURL, remote.JWKSURL = remote.JWKSURL, ""
			remote.Issuer = ic.Issuer
		}
	}
	if len(static) == 0 && remote == nil && ic.Secret == "" {
		c.problem(where+"keys", "no keys: set jwksURL, discovery, publicKeys or secret")
	}

	return stepup.NewKeySet(static, remote)
}

// remote validates a key set URL and warns when it is fetched in clear text
// from anywhere but this machine.
func (c *configCompiler) remote(where string, raw string) *stepup.RemoteKeysOptions {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		c.problem(where, "%q is not an absolute http(s) URL", raw)
		return nil
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		c.warn("%s fetches keys over plain http from %s: anyone on the path can substitute them", where, u.Host)
	}

	return &stepup.RemoteKeysOptions{
		JWKSURL:  raw,
		Client:   c.deps.client,
		Timeout:  defaultFetchTimeout,
		Cooldown: defaultKeyCooldown,
		MaxAge:   defaultKeyRefresh,
		Context:  c.ctx,
	}
}

// hmacSecretSize returns the shortest secret the allowed HS* algorithms
// accept (the hash size, RFC 7518 §3.2), or 0 when none is allowed.
func hmacSecretSize(algs []string) int {
	size := 0
	for i := 0; i < len(algs); i++ {
		n := 0
		switch algs[i] {
		case "HS256":
			n = 32
		case "HS384":
			n = 48
		case "HS512":
			n = 64
		}
		if n > size {
			size = n
		}
	}

	return size
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)

	return ip != nil && ip.IsLoopback()
}

func sortedKeys(m map[string]interface{}) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)

	return keys
}

func sortedStringKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)

	return keys
}

// spoofableNames lists every header name the backend could read as one of
// the identity headers (or the forwarded token header): each canonical name
// with any of its "-" spelled "_", as CGI-style backends (PHP, WSGI, Rack)
// map both to the same variable. Go canonicalises incoming names, so the
// canonical form of each spelling is what a client can make arrive.
func spoofableNames(headers []claimHeader, forward string) []string {
	var names []string
	for i := 0; i < len(headers); i++ {
		names = append(names, underscoreSpellings(headers[i].header)...)
	}
	if forward != "" && forward != "Authorization" {
		names = append(names, underscoreSpellings(forward)...)
	}

	return names
}

// underscoreSpellings returns name and its spellings with "_" for some "-",
// canonicalised. A name with more than 6 dashes gets only the all-"_" form
// besides its own, to bound the list.
func underscoreSpellings(name string) []string {
	parts := strings.Split(name, "-")
	if len(parts) > 7 {
		return []string{name, textproto.CanonicalMIMEHeaderKey(strings.ReplaceAll(name, "-", "_"))}
	}
	var out []string
	combos := 1 << uint(len(parts)-1)
	for mask := 0; mask < combos; mask++ {
		b := parts[0]
		for j := 1; j < len(parts); j++ {
			sep := "-"
			if mask&(1<<uint(j-1)) != 0 {
				sep = "_"
			}
			b += sep + parts[j]
		}
		out = append(out, textproto.CanonicalMIMEHeaderKey(b))
	}

	return out
}
