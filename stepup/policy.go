package stepup

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
)

// ClaimRequirement requires that the claim Name equal one of Values or, when
// the claim is an array, contain one of them (see Claims.Values).
type ClaimRequirement struct {
	Name   string
	Values []string
}

// RuleOptions is what a path prefix, and optionally some methods, requires.
type RuleOptions struct {
	// PathPrefix is matched against the canonical path. Must start with "/".
	PathPrefix string
	// Methods restricts the rule to these methods; empty means all. GET
	// covers HEAD unless another rule at the same prefix lists HEAD.
	Methods []string
	// Public lets requests through without a token; no requirement may be set.
	Public bool
	// MinACR is the lowest acceptable ACR on the policy's ladder.
	MinACR string
	// ACRValues is a set of acceptable ACRs. With MinACR, either suffices.
	ACRValues []string
	// AMR lists methods that must all be in amr.
	AMR []string
	// AMRAny lists methods of which at least one must be in amr.
	AMRAny []string
	// MaxAge is the longest time since auth_time; meaningful with HasMaxAge.
	MaxAge time.Duration
	// HasMaxAge enables MaxAge. MaxAge 0 then means "just authenticated"
	// (within the leeway).
	HasMaxAge bool
	// Claims are other claim values required; stepping up cannot fix them.
	Claims []ClaimRequirement
}

// Policy maps requests to rules. It is immutable after NewPolicy and safe for
// concurrent use.
type Policy struct {
	groups      []*prefixGroup // longest prefix first
	defaultRule *Rule

	// prefixes matches the longest rule prefix of a path in one native call
	// (the alternatives are tried longest first); groupIndex finds its group.
	// Nil when there is no rule.
	prefixes   *regexp.Regexp
	groupIndex map[string]int

	// rules counts the rules, the default rule included: Rule.index is
	// below it.
	rules int
}

// prefixGroup holds the rules of one path prefix, so Match tests each
// prefix once whatever the number of rules sharing it.
type prefixGroup struct {
	prefix   string
	byMethod map[string]*Rule // rules listing methods; GET also under HEAD
	any      *Rule            // the rule for every method, if any
}

// Rule is one compiled rule. Its accessors are read-only views.
type Rule struct {
	id        string
	prefix    string
	methods   map[string]bool // nil = every method
	public    bool
	acceptACR map[string]bool // nil = no ACR requirement
	acrValues []string        // for challenges and sign-in redirects
	amrAll    []string
	amrAny    []string
	maxAge    time.Duration
	hasMaxAge bool
	claims    []ClaimRequirement
	requires  bool // any of the above requirements is set
	index     int  // position in the policy, for verdicts cached per rule (see Gate)
}

// NewPolicy compiles rules against the ACR ladder (weakest first). It reports
// every problem at once, each with its location, such as
// `rules[2].minACR: "loa9" is not on acrLevels`.
func NewPolicy(ladder []string, rules []RuleOptions) (*Policy, error) {
	problems := checkLadder(ladder)
	var compiled []*Rule
	for i := 0; i < len(rules); i++ {
		r, ruleProblems := newRule(i, rules[i], ladder)
		problems = append(problems, ruleProblems...)
		if r != nil {
			compiled = append(compiled, r)
		}
	}
	problems = append(problems, checkDuplicateRules(compiled)...)
	if len(problems) > 0 {
		return nil, joinProblems(problems)
	}

	for i := 0; i < len(compiled); i++ {
		compiled[i].index = i
	}
	p := &Policy{
		groups:      groupRules(compiled),
		defaultRule: &Rule{id: "default", index: len(compiled)},
		rules:       len(compiled) + 1,
	}
	p.prefixes, p.groupIndex = indexGroups(p.groups)

	return p, nil
}

// indexGroups compiles the prefix matcher of groups, longest prefix first:
// Go's regexp prefers the leftmost alternative, so the first prefix that
// matches is the longest.
func indexGroups(groups []*prefixGroup) (*regexp.Regexp, map[string]int) {
	if len(groups) == 0 {
		return nil, nil
	}
	alternatives := make([]string, len(groups))
	index := make(map[string]int, len(groups))
	for i := 0; i < len(groups); i++ {
		alternatives[i] = regexp.QuoteMeta(groups[i].prefix)
		index[groups[i].prefix] = i
	}

	return regexp.MustCompile("^(?:" + strings.Join(alternatives, "|") + ")"), index
}

// checkLadder refuses empty and repeated ACR levels.
func checkLadder(ladder []string) []string {
	problems := checkNonEmpty("acrLevels", ladder)
	seen := make(map[string]int, len(ladder))
	for i := 0; i < len(ladder); i++ {
		if j, dup := seen[ladder[i]]; dup {
			problems = append(problems, fmt.Sprintf("acrLevels[%d]: %q repeats acrLevels[%d]", i, ladder[i], j))
			continue
		}
		seen[ladder[i]] = i
	}

	return problems
}

// newRule compiles rules[i], returning nil and the problems if invalid.
func newRule(i int, o RuleOptions, ladder []string) (*Rule, []string) {
	loc := fmt.Sprintf("rules[%d]", i)
	problems := checkPrefix(loc, o.PathPrefix)
	methods, methodProblems := compileMethods(loc, o.Methods)
	problems = append(problems, methodProblems...)
	problems = append(problems, checkRequirements(loc, o, ladder)...)
	if len(problems) > 0 {
		return nil, problems
	}

	r := &Rule{
		id:        loc,
		prefix:    o.PathPrefix,
		methods:   methods,
		public:    o.Public,
		amrAll:    append([]string(nil), o.AMR...), // nil when empty
		amrAny:    append([]string(nil), o.AMRAny...),
		maxAge:    o.MaxAge,
		hasMaxAge: o.HasMaxAge,
		claims:    append([]ClaimRequirement(nil), o.Claims...),
	}
	r.acrValues = acceptableACRs(ladder, o.MinACR, o.ACRValues)
	if len(r.acrValues) > 0 {
		r.acceptACR = stringSet(r.acrValues)
	}
	r.requires = r.acceptACR != nil || r.amrAll != nil || r.amrAny != nil || r.hasMaxAge || r.claims != nil

	return r, nil
}

// checkPrefix requires a canonical prefix: one written differently (with
// "%", "..", "//") could never match the canonical paths it is compared with.
func checkPrefix(loc, prefix string) []string {
	if !strings.HasPrefix(prefix, "/") {
		return []string{fmt.Sprintf("%s.pathPrefix: %q must start with \"/\"", loc, prefix)}
	}

	canonical, err := CanonicalPath(prefix)
	if err != nil || canonical != prefix {
		return []string{fmt.Sprintf("%s.pathPrefix: %q is not a canonical path", loc, prefix)}
	}

	return nil
}

// compileMethods upper-cases methods and checks each is an RFC 9110 §9.1
// token. It returns nil for "every method".
func compileMethods(loc string, methods []string) (map[string]bool, []string) {
	if len(methods) == 0 {
		return nil, nil
	}

	var problems []string
	set := make(map[string]bool, len(methods)+1)
	for i := 0; i < len(methods); i++ {
		m := strings.ToUpper(strings.TrimSpace(methods[i]))
		if !IsToken(m) {
			problems = append(problems, fmt.Sprintf("%s.methods[%d]: %q is not a method", loc, i, methods[i]))
			continue
		}
		set[m] = true
	}

	return set, problems
}

// checkRequirements checks the assurance and claim requirements of a rule.
func checkRequirements(loc string, o RuleOptions, ladder []string) []string {
	var problems []string
	if o.MinACR != "" && indexOf(ladder, o.MinACR) < 0 {
		problems = append(problems, fmt.Sprintf("%s.minACR: %q is not on acrLevels", loc, o.MinACR))
	}
	problems = append(problems, checkNonEmpty(loc+".acrValues", o.ACRValues)...)
	problems = append(problems, checkNonEmpty(loc+".amr", o.AMR)...)
	problems = append(problems, checkNonEmpty(loc+".amrAny", o.AMRAny)...)
	if o.HasMaxAge && o.MaxAge < 0 {
		problems = append(problems, loc+".maxAge: must not be negative")
	}
	for j := 0; j < len(o.Claims); j++ {
		cloc := fmt.Sprintf("%s.claims[%d]", loc, j)
		if o.Claims[j].Name == "" {
			problems = append(problems, cloc+".name: required")
		}
		if len(o.Claims[j].Values) == 0 {
			problems = append(problems, cloc+".values: required")
		}
	}
	if o.Public && hasRequirements(o) {
		problems = append(problems, loc+".public: a public rule cannot have requirements")
	}

	return problems
}

// hasRequirements reports whether o asks anything of the token.
func hasRequirements(o RuleOptions) bool {
	return o.MinACR != "" || len(o.ACRValues) > 0 || len(o.AMR) > 0 ||
		len(o.AMRAny) > 0 || o.HasMaxAge || len(o.Claims) > 0
}

// acceptableACRs lists the ladder from minACR upward, then acrValues, without
// repeats: the accepted set, in the order challenges and redirects send it.
func acceptableACRs(ladder []string, minACR string, acrValues []string) []string {
	var out []string
	if minACR != "" {
		for i := indexOf(ladder, minACR); i < len(ladder); i++ {
			out = append(out, ladder[i])
		}
	}
	for i := 0; i < len(acrValues); i++ {
		if indexOf(out, acrValues[i]) < 0 {
			out = append(out, acrValues[i])
		}
	}

	return out
}

// checkDuplicateRules refuses two rules for the same prefix and method (or
// both for every method): which one applies would be arbitrary.
func checkDuplicateRules(rules []*Rule) []string {
	var problems []string
	seen := make(map[string]string)
	for i := 0; i < len(rules); i++ {
		for _, key := range ruleKeys(rules[i]) {
			if other, dup := seen[key]; dup {
				problems = append(problems, fmt.Sprintf("%s: same pathPrefix and method as %s", rules[i].id, other))
				break
			}
			seen[key] = rules[i].id
		}
	}

	return problems
}

// ruleKeys returns one "prefix method" key per method of r ("*" for all).
func ruleKeys(r *Rule) []string {
	if r.methods == nil {
		return []string{r.prefix + " *"}
	}

	keys := make([]string, 0, len(r.methods))
	for m := range r.methods {
		keys = append(keys, r.prefix+" "+m)
	}
	sort.Strings(keys)

	return keys
}

// groupRules groups rules by prefix, longest prefix first. A rule listing
// GET also covers HEAD (a HEAD is a GET without the body), unless a rule at
// the same prefix lists HEAD itself.
func groupRules(rules []*Rule) []*prefixGroup {
	byPrefix := make(map[string]*prefixGroup)
	var groups []*prefixGroup
	for i := 0; i < len(rules); i++ {
		g := byPrefix[rules[i].prefix]
		if g == nil {
			g = newPrefixGroup(rules[i].prefix)
			byPrefix[g.prefix] = g
			groups = append(groups, g)
		}
		g.add(rules[i])
	}
	for i := 0; i < len(rules); i++ {
		g := byPrefix[rules[i].prefix]
		if rules[i].methods["GET"] && g.byMethod["HEAD"] == nil {
			g.byMethod["HEAD"] = rules[i]
		}
	}
	sort.SliceStable(groups, func(a, b int) bool { return len(groups[a].prefix) > len(groups[b].prefix) })

	return groups
}

// newPrefixGroup returns an empty group for prefix.
func newPrefixGroup(prefix string) *prefixGroup {
	return &prefixGroup{prefix: prefix, byMethod: make(map[string]*Rule)}
}

// add files r under its methods, or as the rule for every method.
func (g *prefixGroup) add(r *Rule) {
	if r.methods == nil {
		g.any = r
		return
	}
	for m := range r.methods {
		g.byMethod[m] = r
	}
}

// Match returns the rule for a request: the longest PathPrefix that is a
// plain string prefix of path, as Traefik's PathPrefix matcher does ("/admin"
// also matches "/administrator"; write "/admin/" to stop at the segment). At
// equal prefix a rule listing the method wins over one for every method.
// Methods compare case-insensitively. Without a match it returns the default
// rule, which requires a valid token and nothing more. path must be the
// result of CanonicalPath. Matching is case-sensitive: "/ADMIN" does not
// match "/admin" (see CanonicalPath).
func (p *Policy) Match(method, path string) *Rule {
	if p.prefixes == nil {
		return p.defaultRule
	}
	// One native call instead of an interpreted loop over the prefixes.
	loc := p.prefixes.FindStringIndex(path)
	if loc == nil {
		return p.defaultRule
	}

	i := p.groupIndex[path[:loc[1]]]
	if g := p.groups[i]; len(g.byMethod) == 0 {
		return g.any // every group has a rule for every method or for some
	}

	return matchFrom(p, i, method, path)
}

// matchFrom returns the rule of the first group from p.groups[start] on
// whose prefix starts path and that has a rule for method. (A function, not
// a method: cheaper to call under Yaegi.)
func matchFrom(p *Policy, start int, method, path string) *Rule {
	upper := "" // the method upper-cased, computed only when a group needs it
	for i := start; i < len(p.groups); i++ {
		g := p.groups[i]
		if !strings.HasPrefix(path, g.prefix) {
			continue
		}
		if len(g.byMethod) > 0 {
			if upper == "" {
				upper = strings.ToUpper(method)
			}
			if r := g.byMethod[upper]; r != nil {
				return r
			}
		}
		if g.any != nil {
			return g.any
		}
	}

	return p.defaultRule
}

// ID names the rule for logs: "rules[2]" (its index in the configuration) or
// "default".
func (r *Rule) ID() string { return r.id }

// Prefix returns the rule's path prefix; "" for the default rule.
func (r *Rule) Prefix() string { return r.prefix }

// Public reports whether the rule lets requests through without a token.
func (r *Rule) Public() bool { return r.public }

// ACRValues lists the ACRs that satisfy the rule, for the acr_values of a
// challenge (RFC 9470 §3) or a sign-in redirect: the ladder from MinACR
// upward, weakest first, then ACRValues. The slice is shared: do not modify.
func (r *Rule) ACRValues() []string { return r.acrValues }

// MaxAge returns the rule's maximum authentication age, and whether it has one.
func (r *Rule) MaxAge() (time.Duration, bool) { return r.maxAge, r.hasMaxAge }

// RequiresFreshLogin reports whether the rule limits the authentication age,
// so a sign-in must re-authenticate (max_age, prompt=login) rather than reuse
// an IdP session silently.
func (r *Rule) RequiresFreshLogin() bool { return r.hasMaxAge }

// Check reports whether verified claims c meet the rule at time now. It
// returns nil, an assurance error (ErrACRInsufficient, ErrAMRInsufficient,
// ErrAuthTooOld: the caller should step the user up, RFC 9470) or
// ErrClaimMismatch (403: stepping up cannot help).
//
// Assurance is checked before claims on purpose: a user who lacks both a
// strong enough login and a required group is stepped up first and refused
// afterwards. The alternative would tell holders of a weak login which
// claims a route requires, and would refuse users whose claims a fresh
// login might have refreshed.
func (r *Rule) Check(c *Claims, now time.Time, leeway time.Duration) error {
	// Under Yaegi a call allocates the callee's whole frame: a rule that
	// requires nothing (the default rule) returns before any of it.
	if !r.requires {
		return nil
	}

	return checkRule(r, c, now, leeway)
}

// checkRule is Check for a rule with requirements. (A function, not a
// method: cheaper to call under Yaegi.)
func checkRule(r *Rule, c *Claims, now time.Time, leeway time.Duration) error {
	// Each requirement is tested inline before calling its helper: under
	// Yaegi a call costs microseconds, and most rules set one or two.
	if r.acceptACR != nil && !anyInSet(c.ACRs, r.acceptACR) {
		return r.acrError(c)
	}

	if r.amrAll != nil || r.amrAny != nil {
		if err := r.checkAMR(c); err != nil {
			return err
		}
	}

	if r.hasMaxAge {
		if err := r.checkAge(c, now, leeway); err != nil {
			return err
		}
	}

	if r.claims != nil {
		return r.checkClaims(c)
	}

	return nil
}

// acrError reports ACRs below the rule's (kept out of Check's frame).
func (r *Rule) acrError(c *Claims) error {
	return fmt.Errorf("%s: acr %q: %w", r.id, c.ACRs, ErrACRInsufficient)
}

// anyInSet reports whether one of list is in set: for ACRs, whether one of
// the token's ACRs is at or above MinACR on the ladder or among ACRValues.
func anyInSet(list []string, set map[string]bool) bool {
	for i := 0; i < len(list); i++ {
		if set[list[i]] {
			return true
		}
	}

	return false
}

// checkAMR requires every method of AMR and one of AMRAny in c.AMR
// (RFC 8176 values compare exactly).
func (r *Rule) checkAMR(c *Claims) error {
	for i := 0; i < len(r.amrAll); i++ {
		if indexOf(c.AMR, r.amrAll[i]) < 0 {
			return fmt.Errorf("%s: amr lacks %q: %w", r.id, r.amrAll[i], ErrAMRInsufficient)
		}
	}
	if len(r.amrAny) == 0 {
		return nil
	}
	for i := 0; i < len(c.AMR); i++ {
		if indexOf(r.amrAny, c.AMR[i]) >= 0 {
			return nil
		}
	}

	return fmt.Errorf("%s: amr lacks one of %q: %w", r.id, r.amrAny, ErrAMRInsufficient)
}

// checkAge requires auth_time within MaxAge (+leeway) of now. A missing
// auth_time cannot prove freshness (OIDC Core §3.1.2.1, max_age).
func (r *Rule) checkAge(c *Claims, now time.Time, leeway time.Duration) error {
	if c.AuthTime.IsZero() {
		return fmt.Errorf("%s: auth_time missing: %w", r.id, ErrAuthTooOld)
	}
	if now.After(c.AuthTime.Add(r.maxAge + leeway)) {
		return fmt.Errorf("%s: auth_time older than %s: %w", r.id, r.maxAge, ErrAuthTooOld)
	}

	return nil
}

// checkClaims requires each claim requirement to hold.
func (r *Rule) checkClaims(c *Claims) error {
	for i := 0; i < len(r.claims); i++ {
		if !claimHolds(c, r.claims[i]) {
			return fmt.Errorf("%s: claim %q: %w", r.id, r.claims[i].Name, ErrClaimMismatch)
		}
	}

	return nil
}

// claimHolds reports whether one of the claim's values is required.
func claimHolds(c *Claims, req ClaimRequirement) bool {
	have := claimValues(c, req.Name)
	for i := 0; i < len(have); i++ {
		if indexOf(req.Values, have[i]) >= 0 {
			return true
		}
	}

	return false
}

// indexOf returns the index of s in list, or -1.
func indexOf(list []string, s string) int {
	for i := 0; i < len(list); i++ {
		if list[i] == s {
			return i
		}
	}

	return -1
}

// IsToken reports whether s is a non-empty RFC 9110 §5.6.2 token: a valid
// method, header or cookie name.
func IsToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}

	return true
}

// isTokenChar reports whether b is a tchar.
func isTokenChar(b byte) bool {
	if b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' {
		return true
	}

	return strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0
}
