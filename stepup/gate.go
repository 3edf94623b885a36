package stepup

import (
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Gate is the fast path of a middleware: it decides, in a few small
// interpreted frames, the common requests, and leaves every other request to
// the full path (MatchRequest, TokenFromRequest, Verify, Rule.Check), which
// decides exactly as before. Under Yaegi each call of an interpreted function
// allocates its whole frame, a method call costs about twice a function and
// a native call several interpreted expressions, so the common request runs
// few, small functions and few native calls.
//
// A request is admitted when its path is canonical and has one reading
// (no escape, dot segment, "//", ";", "\" or upper-case letter), it names no
// method override, it is not one of the login's own paths, and either its
// rule is public or it carries, in a plain form, a token that meets that
// rule: one this Verifier has cached and already found to meet it until a
// known instant (a verdict), or one it verifies now. Admit records a verdict
// the second time it meets a token on a rule, by running Rule.Check once; a
// token it verifies and finds invalid is handed, with the error, to the full
// path.
type Gate struct {
	policy   *Policy
	prefixes *regexp.Regexp   // the policy's prefix matcher, one that never matches without rules
	rules    map[string]*Rule // by prefix, for the prefixes whose rule is for every method; "": the default rule
	cache    *tokenCache      // nil: only public routes are admitted
	verifier *Verifier        // set with cache: verifies the tokens it does not hold

	// verdicts hold, by Rule.index, the admissions of the tokens seen;
	// bearers those of plain bearer requests, by Authorization value (never
	// a bare token, which a raw "Authorization: <token>" must not hit).
	// verdictCount counts both, to bound them as the cache is bounded.
	verdicts     []*sync.Map
	bearers      []*sync.Map
	verdictCount atomic.Int64

	// watch lists the header names Admit looks for: first the strip
	// headers (its first nstrip names), removed from every request, then
	// the method overrides, which leave the request to the full path.
	watch      []string
	nstrip     int
	watchSet   map[string]bool
	sources    []TokenSource
	sourcesTLS []TokenSource   // nil unless TLS requests use other sources
	trustProxy bool            // X-Forwarded-Proto may make a request TLS
	skip       map[string]bool // paths always left to the full path (login callback, logout)
	// bearerFirst: the first source is "bearer" (on TLS requests too) and
	// tokens are cached, so admitToken reads plain bearer requests inline.
	bearerFirst bool

	claims  []string // claim names, aligned with headers
	headers []string // canonical header names set from the claims

	passToken  bool // stripToken or forward set
	stripToken bool
	forward    string // canonical header carrying the token upstream, or ""

	leeway time.Duration
	now    func() time.Time
	until  func(time.Time) time.Duration // time.Until on the clock now
}

// GateOptions configure a Gate. Header names must be canonical
// (textproto.CanonicalMIMEHeaderKey).
type GateOptions struct {
	// Policy and Verifier are the middleware's own.
	Policy   *Policy
	Verifier *Verifier
	// StripHeaders are removed from every request (the identity headers in
	// every spelling a backend may merge).
	StripHeaders []string
	// Sources are where tokens are read; SourcesTLS, when set, replace them
	// on TLS requests. TrustProxy lets X-Forwarded-Proto make a request TLS.
	Sources    []TokenSource
	SourcesTLS []TokenSource
	TrustProxy bool
	// SkipPaths are request paths never admitted (the login's callback and
	// logout), which the full path handles.
	SkipPaths []string
	// ClaimHeaders and HeaderNames map claims to the upstream headers set
	// from them, one pair per index (see Claims.Values).
	ClaimHeaders []string
	HeaderNames  []string
	// StripToken removes the token from the upstream request; ForwardHeader,
	// when set, carries it upstream ("Authorization" gets "Bearer <token>").
	StripToken    bool
	ForwardHeader string
	// Leeway is the middleware's clock skew; Now its clock, nil for the
	// real one (which the fast path then reads in one native call).
	Leeway time.Duration
	Now    func() time.Time
}

// admission is a cached verdict: the request passes the rule until until
// with these headers set. Immutable once made.
type admission struct {
	until  time.Time
	names  []string
	values []string
}

// fastPath matches the request paths (url.URL.Path, with RawPath empty)
// that are their own escaped form (url.URL.EscapedPath), are canonical and
// have a single reading: "/" then segments of lower-case letters, digits and
// "-_.~$&+,:=@", none starting with ".", each followed by "/" or the end.
// CanonicalPath and StrictPath return such a path unchanged, and case
// folding cannot change it.
var fastPath = regexp.MustCompile(`^/(?:[a-z0-9\-_~$&+,:=@][a-z0-9\-_.~$&+,:=@]*(?:/|$))*$`)

// noPrefix never matches a path: the prefix matcher of a policy without
// rules.
var noPrefix = regexp.MustCompile(`^$`)

// NewGate returns the fast path of a middleware. Call it once the policy
// and verifier are built, before serving.
func NewGate(o GateOptions) *Gate {
	g := &Gate{
		policy:      o.Policy,
		prefixes:    o.Policy.prefixes,
		watch:       append(append([]string(nil), o.StripHeaders...), methodOverrides...),
		nstrip:      len(o.StripHeaders),
		watchSet:    stringSet(append(append([]string(nil), o.StripHeaders...), methodOverrides...)),
		sources:     o.Sources,
		sourcesTLS:  o.SourcesTLS,
		trustProxy:  o.TrustProxy,
		claims:      o.ClaimHeaders,
		headers:     o.HeaderNames,
		stripToken:  o.StripToken,
		forward:     o.ForwardHeader,
		passToken:   o.StripToken || o.ForwardHeader != "",
		bearerFirst: firstIsBearer(o.Sources) && (o.SourcesTLS == nil || firstIsBearer(o.SourcesTLS)),
		leeway:      o.Leeway,
		now:         o.Now,
	}
	if g.prefixes == nil {
		g.prefixes = noPrefix
	}
	g.rules = map[string]*Rule{"": o.Policy.defaultRule}
	for i := 0; i < len(o.Policy.groups); i++ {
		if len(o.Policy.groups[i].byMethod) == 0 {
			g.rules[o.Policy.groups[i].prefix] = o.Policy.groups[i].any
		}
	}
	if len(o.SkipPaths) > 0 {
		g.skip = stringSet(o.SkipPaths)
	}
	if o.Verifier != nil && o.Verifier.cache != nil {
		g.cache = o.Verifier.cache
		g.verifier = o.Verifier
		g.verdicts = make([]*sync.Map, o.Policy.rules)
		g.bearers = make([]*sync.Map, o.Policy.rules)
		for i := 0; i < len(g.verdicts); i++ {
			g.verdicts[i] = newVerdicts()
			g.bearers[i] = newVerdicts()
		}
	}
	g.bearerFirst = g.bearerFirst && g.cache != nil
	if g.now == nil {
		g.now = time.Now
		g.until = time.Until
	} else {
		g.until = untilOn(g.now)
	}

	return g
}

// firstIsBearer reports whether sources start with "bearer".
func firstIsBearer(sources []TokenSource) bool {
	return len(sources) > 0 && sources[0].Kind == SourceBearer
}

// Admitted is what Admit returns for a request it admitted.
var Admitted = &Rule{id: "admitted"}

// Admit removes the strip headers from req, whatever it returns. It returns
// Admitted when req may go upstream as it is now, with the claim headers set
// and the token stripped or forwarded as configured. Otherwise it has changed
// nothing else, and the full path must decide: Admit then returns the rule
// MatchRequest would return when it found it without doubt (a path with one
// reading, no method override, not a skipped path; never a public rule), or
// nil. With that rule it may return the error of verifying the request's
// token, which Admit read as TokenFromRequest would and which the Verifier
// did not hold: the full path answers it without verifying again.
//
// Under Yaegi a call allocates one slot per local and intermediate value of
// the callee, executed or not, and a native call costs several interpreted
// expressions: Admit holds what every request runs, admitToken what
// protected routes add, the rarer cases are helpers, and there are as few
// native calls as can be. (Functions, not methods: cheaper to call.)
func Admit(g *Gate, req *http.Request) (*Rule, error) {
	// Requests rarely carry a watched header: whether one does is found by
	// walking the shorter of the request's headers and the watch list (each
	// step of either costs several interpreted expressions), and only then
	// does stripWatched act.
	h := req.Header
	if len(h) < len(g.watch) {
		for name := range h {
			if g.watchSet[name] {
				if stripWatched(g, h) {
					return nil, nil
				}
				break
			}
		}
	} else if stripWatched(g, h) {
		return nil, nil
	}

	// MatchRequest for a path with a single reading: Match, inlined. (Field
	// reads, not EscapedPath: under Yaegi a native method call costs more.)
	path := req.URL.Path
	if req.URL.RawPath != "" || !fastPath.MatchString(path) || g.skip[path] {
		return nil, nil
	}
	prefix := g.prefixes.FindString(path) // "" without a match: the default rule
	rule := g.rules[prefix]
	if rule == nil {
		if rule = methodRule(g, req.Method, prefix); rule == nil {
			return nil, nil
		}
	}
	if rule.public {
		return Admitted, nil
	}

	return admitToken(g, req, rule)
}

// methodRule returns the rule of the group of prefix for method when the
// method is listed there as sent, or nil: Match would then look further.
func methodRule(g *Gate, method, prefix string) *Rule {
	return g.policy.groups[g.policy.groupIndex[prefix]].byMethod[method]
}

// admitToken admits a request on a protected route when its credential has
// a verdict for rule that still holds (see Admit): for a plain bearer
// request, the Authorization value, which needs no parsing to be looked up.
// It returns what Admit does. (Apart from Admit, so that public routes do
// not allocate this frame.)
func admitToken(g *Gate, req *http.Request, rule *Rule) (*Rule, error) {
	h := req.Header
	a := h["Authorization"]
	if !g.bearerFirst || len(a) != 1 {
		return admitOther(g, req, rule)
	}
	x, _ := g.bearers[rule.index].Load(a[0])
	v, _ := x.(*admission)
	if v == nil || g.until(v.until) <= 0 {
		return admitBearer(g, req, rule)
	}
	for i, name := range v.names {
		h[name] = []string{v.values[i]} // Header.Set, canonical name
	}
	if g.passToken {
		passBearer(g, h, a[0])
	}

	return Admitted, nil
}

// admitBearer is admitNew for a plain bearer request (a helper, so that
// admitToken's frame does not hold these expressions).
func admitBearer(g *Gate, req *http.Request, rule *Rule) (*Rule, error) {
	value := req.Header["Authorization"][0]
	if !strings.HasPrefix(value, bearerPrefix) {
		return admitOther(g, req, rule) // not in the common spelling
	}

	return admitNew(g, req, rule, g.bearers[rule.index], value, value[len(bearerPrefix):], 0)
}

// stripWatched removes the strip headers from h and reports whether it
// holds a method override. The names are canonical, as Header.Del would
// make them; each is looked up first, because under Yaegi a delete
// allocates even when the key is absent.
func stripWatched(g *Gate, h http.Header) bool {
	for i := 0; i < g.nstrip; i++ {
		if _, sent := h[g.watch[i]]; sent {
			delete(h, g.watch[i])
		}
	}
	for i := g.nstrip; i < len(g.watch); i++ {
		if h[g.watch[i]] != nil {
			return true
		}
	}

	return false
}

// methodOverrides are the headers that make many frameworks act on another
// method than the request's (see decideFull in the adapter).
var methodOverrides = []string{"X-Http-Method-Override", "X-Http-Method", "X-Method-Override"}

// passBearer is passToken for a plain bearer credential (the token is
// value after "Bearer ").
func passBearer(g *Gate, h http.Header, value string) {
	if g.stripToken {
		delete(h, "Authorization")
	}
	if g.forward == "Authorization" {
		h["Authorization"] = []string{value}
	} else if g.forward != "" {
		h[g.forward] = []string{value[len(bearerPrefix):]}
	}
}

// bearerPrefix is how a bearer credential starts in its common spelling;
// the others take the full path.
const bearerPrefix = "Bearer "

// admitOther is admitToken for a request without one plain bearer header
// first: its token is read by otherToken and its verdict keyed by the
// token.
func admitOther(g *Gate, req *http.Request, rule *Rule) (*Rule, error) {
	if g.cache == nil {
		return rule, nil
	}
	token, src := otherToken(g, req)
	if token == "" || strings.IndexByte(token, ' ') >= 0 {
		return rule, nil // a space: not a token, and not to be taken for a bearer key
	}
	x, _ := g.verdicts[rule.index].Load(token)
	v, _ := x.(*admission)
	if v == nil || g.until(v.until) <= 0 {
		return admitNew(g, req, rule, g.verdicts[rule.index], token, token, src)
	}
	apply(g, req, v, token, src)

	return Admitted, nil
}

// admitNew admits a request whose credential has no valid verdict for rule
// yet when its token, from the verifier's cache or verified now, meets
// rule, and records the verdict in m under key. It returns what Admit does. A
// cached token is not checked for size or stray characters: every cached
// token passed TokenFromRequest and ParseJWS.
func admitNew(g *Gate, req *http.Request, rule *Rule, m *sync.Map, key, token string, src int) (*Rule, error) {
	if token == "" {
		return rule, nil
	}
	g.cache.mu.Lock()
	e := g.cache.entries[token]
	g.cache.mu.Unlock()
	if e == nil {
		return admitFresh(g, req, rule, token, src)
	}
	v := admitFirst(g, e, rule)
	if v == nil {
		return rule, nil
	}
	record(g, m, key, v)
	apply(g, req, v, token, src)

	return Admitted, nil
}

// admitFresh is admitNew for a token the cache does not hold: it verifies
// it as Verify would, caching it, and admits the request when the token
// meets rule, as the full path would. No verdict is recorded: most tokens
// are seen once, and a second request with this one finds it cached and
// records it then. A token TokenFromRequest would refuse (too large, a
// space, tab or comma: a second credential) is left to the full path, which
// reports it as it reads it. The error returned is the verification's, for
// the full path to answer.
func admitFresh(g *Gate, req *http.Request, rule *Rule, token string, src int) (*Rule, error) {
	if len(token) > g.verifier.maxTokenSize || strings.ContainsAny(token, " \t,") {
		return rule, nil
	}
	now := g.now()
	c, err := verifyFresh(g.verifier, req.Context(), token, now)
	if err != nil {
		return rule, err
	}
	if rule.requires && checkRule(rule, c, now, g.leeway) != nil {
		return rule, nil // the full path finds the token cached and answers
	}

	// The claim headers, as newAdmission and apply would set them: a string
	// claim inline, HeaderValue for the others and for refused characters.
	h := req.Header
	for i := 0; i < len(g.claims); i++ {
		s, ok := c.Raw[g.claims[i]].(string)
		if !ok || strings.ContainsAny(s, headerControlChars) {
			s, ok = HeaderValue(c, g.claims[i])
		}
		if ok {
			h[g.headers[i]] = []string{s} // Header.Set, canonical name
		}
	}
	if g.passToken {
		passToken(g, req, token, src)
	}

	return Admitted, nil
}

// record keeps a verdict. The verdicts are bounded like the token cache:
// past its size, all are dropped and made again as requests come.
func record(g *Gate, m *sync.Map, key string, v *admission) {
	if g.verdictCount.Add(1) > int64(g.cache.size) {
		for i := 0; i < len(g.verdicts); i++ {
			g.verdicts[i].Range(deleteFrom(g.verdicts[i]))
			g.bearers[i].Range(deleteFrom(g.bearers[i]))
		}
		g.verdictCount.Store(1)
	}
	m.Store(key, v)
}

// newVerdicts returns an empty verdict map (a constructor, so that each
// rule gets its own under Yaegi).
func newVerdicts() *sync.Map {
	return new(sync.Map)
}

// deleteFrom returns a sync.Map.Range callback that deletes every key of m.
func deleteFrom(m *sync.Map) func(key, value interface{}) bool {
	return func(key, value interface{}) bool {
		m.Delete(key)
		return true
	}
}

// apply sets the verdict's claim headers and strips or forwards the token.
func apply(g *Gate, req *http.Request, v *admission, token string, src int) {
	h := req.Header
	for i, name := range v.names {
		h[name] = []string{v.values[i]} // Header.Set, canonical name
	}
	if g.passToken {
		passToken(g, req, token, src)
	}
}

// otherToken finds the token when the first source is not a plain bearer
// header, and returns it with its source's index; "" when the full path
// must look.
func otherToken(g *Gate, req *http.Request) (string, int) {
	h := req.Header
	sources := g.sources
	if g.sourcesTLS != nil {
		// As IsTLS decides: with trustProxy, X-Forwarded-Proto may say
		// otherwise than the connection, in either direction; the full
		// path reads those requests.
		if g.trustProxy && h["X-Forwarded-Proto"] != nil {
			return "", 0
		}
		if req.TLS != nil {
			sources = g.sourcesTLS
		}
	}
	for i := 0; i < len(sources); i++ {
		switch sources[i].Kind {
		case SourceBearer:
			a := h["Authorization"]
			if len(a) == 1 && strings.HasPrefix(a[0], "Bearer ") {
				return a[0][7:], i
			}
			if a != nil {
				return "", 0
			}
		case SourceCookie:
			if h["Cookie"] != nil {
				return plainCookie(req, sources[i].Name), i
			}
		default:
			if h[sources[i].Name] != nil {
				return "", 0
			}
		}
	}

	return "", 0
}

// plainCookie returns the named cookie's value when the request has one
// Cookie header in which the name occurs once; "" otherwise (the full path
// then decides, see cookieToken).
func plainCookie(req *http.Request, name string) string {
	values := req.Header["Cookie"]
	if len(values) != 1 || strings.Count(values[0], name) != 1 {
		return ""
	}
	c, err := req.Cookie(name)
	if err != nil {
		return ""
	}

	return c.Value
}

// untilOn returns time.Until on the clock now.
func untilOn(now func() time.Time) func(time.Time) time.Duration {
	return func(t time.Time) time.Duration { return t.Sub(now()) }
}

// admitFirst checks a cached token against rule, as the full path would
// (Verify's cache lookup, then Rule.Check),
// and returns the verdict: the request passes until the entry's expiry or,
// for a rule with a maximum age, auth_time + maxAge + leeway, whichever
// comes first. It returns nil when the rule is not met (or no longer): the
// full path then answers.
func admitFirst(g *Gate, e *cacheEntry, rule *Rule) *admission {
	now := g.now()
	if !now.Before(e.expires) || rule.requires && checkRule(rule, e.claims, now, g.leeway) != nil {
		return nil
	}
	until := e.expires
	if rule.hasMaxAge {
		deadline := e.claims.AuthTime.Add(rule.maxAge + g.leeway)
		if deadline.Before(until) {
			until = deadline
		}
	}
	if !now.Before(until) {
		return nil
	}

	return newAdmission(g, e.claims, until)
}

// newAdmission builds the verdict for claims: the claim headers the full
// path sets (a header whose claim has no value is not set).
func newAdmission(g *Gate, c *Claims, until time.Time) *admission {
	a := &admission{until: until}
	for i := 0; i < len(g.claims); i++ {
		if v, ok := HeaderValue(c, g.claims[i]); ok {
			a.names = append(a.names, g.headers[i])
			a.values = append(a.values, v)
		}
	}

	return a
}

// passToken strips the token from the upstream request and/or forwards it
// in the configured header.
func passToken(g *Gate, req *http.Request, token string, src int) {
	sources := g.sources
	if g.sourcesTLS != nil && req.TLS != nil {
		sources = g.sourcesTLS
	}
	PassToken(req, token, sources[src], g.stripToken, g.forward)
}
