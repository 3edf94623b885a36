package harness

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	mathrand "math/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stepup-auth/traefikstepup"
)

// The differential test serves one deterministic corpus of requests to the
// plugin compiled natively and to the plugin interpreted by Yaegi exactly as
// Traefik loads it, and demands the same outcome from both. It exists
// because Yaegi v0.16.1 runs some ordinary Go differently (a failed comma-ok
// assertion keeps the variable's old value, closures and interface values
// made in a loop alias each other, ...): such bugs show as values leaking
// between loop iterations or between requests, so the corpus puts
// wrongly typed claims next to valid ones, in every order, and serves every
// request three times, interleaved with others, through each middleware's
// token cache and fast path.
//
// Dates in tokens are minutes away from every edge (exp, nbf, iat,
// auth_time, maxAge, leeway) so that the few milliseconds between the two
// handlers, and the test's whole run, cannot change a verdict.

// diffSeed seeds every random choice of the corpus: the corpus is the same
// on every run.
const diffSeed = 20261204

// diffBackend answers 200 and reflects every request header it receives as
// "Seen-<name>", plus the method and path it was called with, so an outcome
// records whether the middleware let the request through and exactly how it
// changed the request's headers.
var diffBackend = http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
	for k, v := range req.Header {
		rw.Header()["Seen-"+k] = v
	}
	rw.Header().Set("Seen-Backend-Reached", req.Method+" "+req.URL.EscapedPath())
	rw.WriteHeader(http.StatusOK)
})

// diffOutcome is everything a response shows: the outcome the other tests
// compare (status, challenge, Location, headers the backend saw), every
// other response header and the body.
type diffOutcome struct {
	outcome
	Other map[string]string
	Body  string
}

func serveDiff(h http.Handler, r diffRequest) diffOutcome {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r.build())

	o := diffOutcome{outcome: outcomeOf(rec.Code, rec.Header()), Other: map[string]string{},
		Body: rec.Body.String()}
	for k, v := range rec.Header() {
		switch {
		case strings.HasPrefix(k, "Seen-"), k == "Www-Authenticate", k == "Location":
		default:
			o.Other[k] = strings.Join(v, " | ")
		}
	}

	return o
}

func (o diffOutcome) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d challenge=%q location=%q", o.Status, o.Challenge, abbreviate(o.Location, 200))
	for _, k := range sortedKeys(o.Seen) {
		fmt.Fprintf(&b, " seen[%s=%q]", k, abbreviate(o.Seen[k], 60))
	}
	for _, k := range sortedKeys(o.Other) {
		fmt.Fprintf(&b, " [%s: %q]", k, abbreviate(o.Other[k], 200))
	}
	fmt.Fprintf(&b, " body=%q", abbreviate(o.Body, 200))

	return b.String()
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)

	return keys
}

// abbreviate shortens s to at most n bytes, saying how long it was.
func abbreviate(s string, n int) string {
	if len(s) <= n {
		return s
	}

	return fmt.Sprintf("%s…(%d bytes)", s[:n], len(s))
}

// diffRequest is one request of the corpus. Headers are added in order, so
// a name may repeat. payload, when set, is the claims JSON of its token,
// for reports.
type diffRequest struct {
	name    string
	method  string
	target  string
	header  [][2]string
	payload string
}

func (r diffRequest) build() *http.Request {
	req := httptest.NewRequest(r.method, r.target, nil)
	for _, h := range r.header {
		req.Header.Add(h[0], h[1])
	}

	return req
}

func (r diffRequest) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s %s", r.name, r.method, r.target)
	for _, h := range r.header {
		fmt.Fprintf(&b, "\n\t\t%s: %s", h[0], abbreviate(h[1], 60))
	}
	if r.payload != "" {
		fmt.Fprintf(&b, "\n\t\tclaims: %s", abbreviate(r.payload, 600))
	}

	return b.String()
}

// field is one member of a JSON object, which encodeObject writes in the
// order given; a name may repeat. value is marshalled with encoding/json,
// except rawJSON (written as is) and absent (left out).
type field struct {
	name  string
	value any
}

type rawJSON string

type absentValue struct{}

var absent = absentValue{}

func encodeObject(tb testing.TB, fields []field) []byte {
	tb.Helper()

	var b bytes.Buffer
	b.WriteByte('{')
	n := 0
	for _, f := range fields {
		if _, skip := f.value.(absentValue); skip {
			continue
		}
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		name, err := json.Marshal(f.name)
		if err != nil {
			tb.Fatalf("marshalling %q: %v", f.name, err)
		}
		b.Write(name)
		b.WriteByte(':')
		if r, isRaw := f.value.(rawJSON); isRaw {
			b.WriteString(string(r))
			continue
		}
		v, err := json.Marshal(f.value)
		if err != nil {
			tb.Fatalf("marshalling %s: %v", f.name, err)
		}
		b.Write(v)
	}
	b.WriteByte('}')

	return b.Bytes()
}

// withField returns a copy of fields with name set to value: replaced in
// place when present, appended otherwise. A dotted name ("realm_access.roles")
// sets the member of the nested object, which becomes an object if it was
// not one.
func withField(fields []field, name string, value any) []field {
	out := append([]field(nil), fields...)
	if i := strings.IndexByte(name, '.'); i > 0 {
		parent, child := name[:i], name[i+1:]
		obj := map[string]any{}
		for _, f := range out {
			if m, isObject := f.value.(map[string]any); isObject && f.name == parent {
				for k, v := range m {
					obj[k] = v
				}
			}
		}
		if _, isAbsent := value.(absentValue); isAbsent {
			delete(obj, child)
		} else if r, isRaw := value.(rawJSON); isRaw {
			obj[child] = json.RawMessage(r)
		} else {
			obj[child] = value
		}
		name, value = parent, obj
	}
	for i := range out {
		if out[i].name == name {
			out[i].value = value
			return out
		}
	}

	return append(out, field{name: name, value: value})
}

// shuffled returns fields in an order drawn from rng.
func shuffled(rng *mathrand.Rand, fields []field) []field {
	out := append([]field(nil), fields...)
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })

	return out
}

// diffSigner signs JWS input with one algorithm and key, whatever the
// header says.
type diffSigner struct {
	name string // for reports
	alg  string // RS256, ES256 or HS256: how the signature is made
	key  any
	iss  string // the issuer whose key this is
}

func (s diffSigner) sign(tb testing.TB, header, payload []byte) string {
	tb.Helper()

	return signer{alg: s.alg, key: s.key}.sign(tb, base64.RawURLEncoding.EncodeToString(header)+"."+
		base64.RawURLEncoding.EncodeToString(payload))
}

// header is the usual protected header of s's tokens.
func (s diffSigner) header() []field {
	return []field{{"alg", s.alg}, {"typ", "JWT"}}
}

// diffToken is one token of the corpus.
type diffToken struct {
	name    string
	token   string
	payload string
}

// namedValue is a JSON value and what to call it in reports.
type namedValue struct {
	name  string
	value any
}

// jsonKinds are the values every claim is given in turn: every JSON type,
// numbers of every shape, and arrays and objects holding the values rules
// look for. Numbers that look like dates are fresh (a minute old).
func jsonKinds(now int64) []namedValue {
	fresh := strconv.FormatInt(now-60, 10)
	return []namedValue{
		{"absent", absent},
		{"string", "x-unexpected"},
		{"empty-string", ""},
		{"numeric-string", fresh},
		{"int", now - 60},
		{"zero", 0},
		{"negative", -86400},
		{"float", rawJSON(fresh + ".75")},
		{"exponent", rawJSON("1.7e9")},
		{"huge", rawJSON("1e300")},
		{"huge-int", rawJSON("123456789012345678901234567890")},
		{"negative-huge", rawJSON("-9.3e18")},
		{"true", true},
		{"false", false},
		{"null", nil},
		{"empty-array", []any{}},
		{"string-array", []any{"auditors", "admin", "hwk", "c2", acrPhr, "orders-api"}},
		{"mixed-array", rawJSON(`["auditors",1,2.5,true,null,{"roles":["admin"]},["hwk"],"` + fresh + `"]`)},
		{"number-array", []any{now - 60, 42}},
		{"object", map[string]any{"roles": []any{"admin"}, "id": 42}},
		{"empty-object", map[string]any{}},
		{"control-chars", "a\x01b\nc"},
	}
}

// validValues are well-typed values of each claim that policies tell apart:
// fresh, 7 minutes old (within /admin's 10m, beyond /payments' 5m) and stale
// authentications, each ACR, other audiences, groups as a string.
func validValues(now int64) map[string][]namedValue {
	return map[string][]namedValue{
		"iss":       {{"other-issuer", "https://evil.test"}, {"hmac-issuer", hmacIssuer}, {"rsa-issuer", issuerURL}},
		"aud":       {{"one", "orders-api"}, {"admin-only", []any{"admin-api"}}, {"other", "billing-api"}},
		"exp":       {{"expired", now - 1800}, {"far", now + 86400*365}},
		"nbf":       {{"future", now + 1800}, {"past", now - 1800}},
		"iat":       {{"future", now + 1800}, {"old", now - 86400}},
		"auth_time": {{"fresh", now - 30}, {"7m", now - 420}, {"stale", now - 10800}, {"future", now + 1800}},
		"acr":       {{"pwd", acrPwd}, {"mfa", acrMFA}, {"phr", acrPhr}, {"unknown", "urn:other"}},
		"acrs":      {{"c1", []any{"c1"}}, {"c3-string", "c3"}, {"c2-c1", []any{"c2", "c1"}}},
		"amr":       {{"pwd", []any{"pwd"}}, {"otp", []any{"pwd", "otp"}}, {"hwk", []any{"hwk", "pin"}}},
		"groups":    {{"string", "auditors"}, {"staff", []any{"staff"}}, {"admins", []any{"admins", "auditors"}}},
		"tenant.id": {{"42-string", "42"}, {"42-float", rawJSON("42.0")}, {"7", 7}},
	}
}

// mutableClaims are the claims the corpus gives wrong types: the registered
// ones, the step-up ones, the variant's ACR claim (acrs), the claims of claim
// rules and claim headers, and nested claims.
var mutableClaims = []string{
	"iss", "sub", "aud", "exp", "nbf", "iat", "auth_time", "acr", "amr", "groups", "acrs",
	"realm_access", "realm_access.roles", "tenant", "tenant.id", "email_verified", "level",
	"nonce", "azp", "jti",
}

// diffDateClaims are the NumericDate claims, in the order the plugin reads
// them.
var diffDateClaims = []string{"exp", "nbf", "iat", "auth_time"}

// baseClaims is a valid claim set of iss: strong meets every rule of every
// configuration; weak is fresh (iat a minute old) but authenticated three
// hours ago with a password only and lacks every group and role, so a value
// leaking from a strong token or a fresh date makes it pass.
func baseClaims(now int64, iss string, strong bool, jti string) []field {
	if strong {
		return []field{
			{"iss", iss}, {"sub", "alice"}, {"aud", []any{"orders-api", "admin-api"}},
			{"iat", now - 60}, {"nbf", now - 60}, {"exp", now + 1800}, {"auth_time", now - 60},
			{"acr", acrPhr}, {"acrs", []any{"c2", "c3"}}, {"amr", []any{"pwd", "hwk", "otp"}},
			{"groups", []any{"staff", "auditors"}}, {"realm_access", map[string]any{"roles": []any{"admin", "user"}}},
			{"tenant", map[string]any{"id": 42, "name": "acme"}}, {"email_verified", true},
			{"level", 3}, {"jti", jti},
		}
	}

	return []field{
		{"iss", iss}, {"sub", "bob"}, {"aud", "orders-api"},
		{"iat", now - 60}, {"nbf", now - 60}, {"exp", now + 1800}, {"auth_time", now - 10800},
		{"acr", acrPwd}, {"acrs", []any{"c1"}}, {"amr", []any{"pwd"}},
		{"groups", []any{"staff"}}, {"realm_access", map[string]any{"roles": []any{"user"}}},
		{"tenant", map[string]any{"id": 7}}, {"email_verified", false},
		{"level", 1.5}, {"jti", jti},
	}
}

// diffTokens builds the token corpus. Every token has a distinct jti, so
// each is verified once and then served from the cache.
func diffTokens(tb testing.TB, now int64, rng *mathrand.Rand) []diffToken {
	tb.Helper()
	rk, ek := testKeys(tb)
	signers := []diffSigner{
		{name: "ES256", alg: "ES256", key: ek, iss: issuerURL},
		{name: "HS256", alg: "HS256", key: []byte(hmacSecret), iss: hmacIssuer},
		{name: "RS256", alg: "RS256", key: rk, iss: issuerURL},
	}
	kinds := jsonKinds(now)
	valid := validValues(now)

	var out []diffToken
	mint := func(name string, s diffSigner, header []field, claims []field) {
		payload := encodeObject(tb, shuffled(rng, claims))
		out = append(out, diffToken{
			name:    s.name + "/" + name,
			token:   s.sign(tb, encodeObject(tb, header), payload),
			payload: string(payload),
		})
	}
	serialN := 0
	base := func(s diffSigner, strong bool) []field {
		serialN++
		return baseClaims(now, s.iss, strong, "t"+serial(serialN))
	}
	strength := func(strong bool) string {
		if strong {
			return "strong"
		}
		return "weak"
	}

	// One claim at a time: every kind, on a strong base and on a weak
	// one, the other claims valid before and after it.
	for ci, c := range mutableClaims {
		for ki, k := range kinds {
			for _, strong := range []bool{true, false} {
				s := signers[(ci+ki)%2] // ES256 and HS256: cheap to sign
				mint(fmt.Sprintf("single/%s/%s=%s", strength(strong), c, k.name), s, s.header(),
					withField(base(s, strong), c, k.value))
			}
		}
		for _, v := range valid[c] {
			for _, strong := range []bool{true, false} {
				s := signers[ci%3]
				mint(fmt.Sprintf("valid/%s/%s=%s", strength(strong), c, v.name), s, s.header(),
					withField(base(s, strong), c, v.value))
			}
		}
	}

	// Each NumericDate wrong while the others are valid, absent or wrong
	// too: the pattern of the comma-ok bug, where a date took the value of
	// the one read before it.
	var wrongDates []namedValue
	var absentKind, intKind namedValue
	for _, k := range kinds {
		switch k.name {
		case "string", "numeric-string", "true", "null", "string-array", "object":
			wrongDates = append(wrongDates, k)
		case "absent":
			absentKind = k
		case "int":
			intKind = k
		}
	}
	for di, d := range diffDateClaims {
		for _, w := range wrongDates {
			for pi, p := range diffDateClaims {
				if p == d {
					continue
				}
				for _, other := range []namedValue{absentKind, intKind, w} {
					s := signers[(di+pi)%3]
					claims := withField(withField(base(s, false), d, w.value), p, other.value)
					mint(fmt.Sprintf("dates/%s=%s,%s=%s", d, w.name, p, other.name), s, s.header(), claims)
				}
			}
		}
	}

	// Two and three claims of any kind at once.
	pick := func() namedValue {
		c := mutableClaims[rng.Intn(len(mutableClaims))]
		if vs := valid[c]; len(vs) > 0 && rng.Intn(3) == 0 {
			v := vs[rng.Intn(len(vs))]
			return namedValue{c + "=" + v.name, field{c, v.value}}
		}
		k := kinds[rng.Intn(len(kinds))]
		return namedValue{c + "=" + k.name, field{c, k.value}}
	}
	for i := 0; i < 360; i++ {
		s := signers[rng.Intn(2)]
		strong := rng.Intn(2) == 0
		claims := base(s, strong)
		names := []string{strength(strong)}
		for n := 2 + i%2; n > 0; n-- {
			p := pick()
			f := p.value.(field)
			claims = withField(claims, f.name, f.value)
			names = append(names, p.name)
		}
		mint("combo/"+strings.Join(names, ","), s, s.header(), claims)
	}

	// Repeated members: encoding/json keeps the last one.
	for i, d := range []string{"auth_time", "acr", "exp", "groups", "iss", "amr"} {
		s := signers[i%2]
		weak := base(s, false)
		strong := baseClaims(now, s.iss, true, "")
		for _, f := range strong {
			if f.name == d {
				mint("duplicate/"+d+"=weak+strong", s, s.header(), append(weak, f))
				mint("duplicate/"+d+"=strong+string", s, s.header(),
					append(append(base(s, false), f), field{d, "x"}))
			}
		}
	}

	// A top-level claim whose name has a dot shadows the nested one.
	for _, strong := range []bool{true, false} {
		s := signers[0]
		mint("dotted/"+strength(strong), s, s.header(),
			append(base(s, strong), field{"realm_access.roles", []any{"admin"}}, field{"tenant.id", "42"}))
	}

	// Protected header variants on a strong token.
	es, hs := signers[0], signers[1]
	headers := []struct {
		name   string
		s      diffSigner
		header []field
	}{
		{"kid=k1", es, []field{{"alg", "ES256"}, {"kid", "k1"}, {"typ", "JWT"}}},
		{"kid=number", es, []field{{"alg", "ES256"}, {"kid", 123}}},
		{"kid=null", es, []field{{"alg", "ES256"}, {"kid", nil}}},
		{"kid=array", es, []field{{"alg", "ES256"}, {"kid", []any{"k1"}}}},
		{"kid=object", hs, []field{{"alg", "HS256"}, {"kid", map[string]any{}}, {"typ", "JWT"}}},
		{"typ=absent", es, []field{{"alg", "ES256"}}},
		{"typ=absent", hs, []field{{"alg", "HS256"}}},
		{"typ=jwt", hs, []field{{"alg", "HS256"}, {"typ", "jwt"}}},
		{"typ=at+jwt", hs, []field{{"alg", "HS256"}, {"typ", "at+jwt"}}},
		{"typ=application/jwt", hs, []field{{"alg", "HS256"}, {"typ", "application/JWT"}}},
		{"typ=number", es, []field{{"alg", "ES256"}, {"typ", 1}}},
		{"typ=null", hs, []field{{"alg", "HS256"}, {"typ", nil}}},
		{"crit=exp", es, []field{{"alg", "ES256"}, {"crit", []any{"exp"}}, {"exp", 1}}},
		{"crit=empty", es, []field{{"alg", "ES256"}, {"crit", []any{}}}},
		{"crit=string", hs, []field{{"alg", "HS256"}, {"crit", "b64"}, {"typ", "JWT"}}},
		{"crit=null", hs, []field{{"alg", "HS256"}, {"crit", nil}, {"typ", "JWT"}}},
		{"b64=false", es, []field{{"alg", "ES256"}, {"b64", false}, {"crit", []any{"b64"}}}},
		{"alg=es256", es, []field{{"alg", "es256"}}},
		{"alg=Hs256", hs, []field{{"alg", "Hs256"}, {"typ", "JWT"}}},
		{"alg=RS256-signed-ES256", es, []field{{"alg", "RS256"}}},
		{"alg=none", es, []field{{"alg", "none"}}},
		{"alg=None", es, []field{{"alg", "None"}}},
		{"alg=empty", es, []field{{"alg", ""}}},
		{"alg=number", es, []field{{"alg", 256}}},
		{"alg=null", es, []field{{"alg", nil}}},
		{"alg=absent", es, []field{{"typ", "JWT"}}},
		{"alg=duplicate-none-last", es, []field{{"alg", "ES256"}, {"alg", "none"}}},
		{"alg=duplicate-ES256-last", es, []field{{"alg", "none"}, {"alg", "ES256"}}},
		{"jku+jwk+x5u", es, []field{{"alg", "ES256"}, {"jku", "https://evil.test/jwks"},
			{"jwk", map[string]any{"kty": "oct", "k": "AAAA"}}, {"x5u", "https://evil.test/x5"}}},
		{"enc", es, []field{{"alg", "ES256"}, {"enc", "A256GCM"}}},
		{"zip", es, []field{{"alg", "ES256"}, {"zip", "DEF"}}},
		{"cty=JWT", es, []field{{"alg", "ES256"}, {"cty", "JWT"}}},
	}
	for i, h := range headers {
		mint("header/"+h.name, h.s, h.header, base(h.s, i%3 != 2))
	}

	// HS256 keyed with the issuer's RSA public key PEM (key confusion).
	confused := diffSigner{name: "HS256-with-public-key", alg: "HS256",
		key: []byte(publicPEM(tb, &rk.PublicKey, &ek.PublicKey)), iss: issuerURL}
	mint("header/alg-confusion", confused, confused.header(), base(confused, true))

	// Headers and payloads that are not JSON objects.
	notObjects := []string{`[]`, `null`, `"x"`, `{}`, `{"a":1} {}`, `{"a":1}x`, ``, `{"a":`, "\xff\xfe",
		`{"sub":"\ud800"}`}
	for i, raw := range notObjects {
		good := encodeObject(tb, base(es, true))
		out = append(out,
			diffToken{name: fmt.Sprintf("raw-header/%d=%q", i, raw), token: es.sign(tb, []byte(raw), good),
				payload: string(good)},
			diffToken{name: fmt.Sprintf("raw-payload/%d=%q", i, raw),
				token: es.sign(tb, encodeObject(tb, es.header()), []byte(raw)), payload: raw})
	}

	return out
}

// diffRoutes are the method and path the token corpus is served on, one
// for each rule of the configurations and a path no rule names.
var diffRoutes = [][2]string{
	{"GET", "/admin/users"}, {"POST", "/payments/42"}, {"GET", "/reports/q3"}, {"GET", "/orders"},
	{"DELETE", "/admin/users/7"}, {"PUT", "/payments/42"}, {"HEAD", "/admin"}, {"GET", "/public/status"},
}

// tokenRequests serves every token on one or two routes drawn from rng,
// mostly as a bearer token, sometimes in both configurations' cookies.
func tokenRequests(tokens []diffToken, rng *mathrand.Rand) []diffRequest {
	var out []diffRequest
	for i, tok := range tokens {
		n := 1 + i%2
		for ; n > 0; n-- {
			route := diffRoutes[rng.Intn(len(diffRoutes))]
			r := diffRequest{name: tok.name, method: route[0], target: route[1], payload: tok.payload}
			if rng.Intn(5) == 0 {
				r.header = [][2]string{{"Cookie", "theme=dark; stepup_session=" + tok.token + "; sess=" + tok.token}}
				r.name += " (cookies)"
			} else {
				r.header = [][2]string{{"Authorization", "Bearer " + tok.token}}
			}
			out = append(out, r)
		}
	}

	return out
}

// spellingRequests are the token sources, path spellings, methods, method
// overrides, browser navigations and spoofed identity headers, with a
// strong, a weak and no token.
func spellingRequests(tb testing.TB, now int64) []diffRequest {
	tb.Helper()
	_, ek := testKeys(tb)
	es := diffSigner{name: "ES256", alg: "ES256", key: ek, iss: issuerURL}
	strong := es.sign(tb, encodeObject(tb, es.header()), encodeObject(tb, baseClaims(now, issuerURL, true, "s")))
	weak := es.sign(tb, encodeObject(tb, es.header()), encodeObject(tb, baseClaims(now, issuerURL, false, "w")))
	T, W := strong, weak

	var out []diffRequest

	auth := []struct {
		name   string
		header [][2]string
	}{
		{"no credentials", nil},
		{"Bearer", [][2]string{{"Authorization", "Bearer " + T}}},
		{"bearer lower case", [][2]string{{"Authorization", "bearer " + T}}},
		{"BEARER", [][2]string{{"Authorization", "BEARER " + T}}},
		{"two spaces", [][2]string{{"Authorization", "Bearer  " + T}}},
		{"tab", [][2]string{{"Authorization", "Bearer\t" + T}}},
		{"trailing space", [][2]string{{"Authorization", "Bearer " + T + " "}}},
		{"leading space", [][2]string{{"Authorization", " Bearer " + T}}},
		{"bare token", [][2]string{{"Authorization", T}}},
		{"Basic", [][2]string{{"Authorization", "Basic dXNlcjpwYXNz"}}},
		{"DPoP", [][2]string{{"Authorization", "DPoP " + T}}},
		{"scheme only", [][2]string{{"Authorization", "Bearer"}}},
		{"scheme and space", [][2]string{{"Authorization", "Bearer "}}},
		{"two tokens in one", [][2]string{{"Authorization", "Bearer " + T + ", Bearer " + W}}},
		{"two headers", [][2]string{{"Authorization", "Bearer " + T}, {"Authorization", "Bearer " + W}}},
		{"two identical headers", [][2]string{{"Authorization", "Bearer " + T}, {"Authorization", "Bearer " + T}}},
		{"trailing dot", [][2]string{{"Authorization", "Bearer " + T + "."}}},
		{"padding", [][2]string{{"Authorization", "Bearer " + T + "="}}},
		{"too large", [][2]string{{"Authorization", "Bearer " + T + strings.Repeat("A", 9000)}}},
		{"cookie", [][2]string{{"Cookie", "stepup_session=" + T}}},
		{"cookie among others", [][2]string{{"Cookie", "theme=dark; stepup_session=" + T + "; x=1"}}},
		{"cookie twice", [][2]string{{"Cookie", "stepup_session=" + T + "; stepup_session=" + W}}},
		{"cookie quoted", [][2]string{{"Cookie", `stepup_session="` + T + `"`}}},
		{"cookie upper case name", [][2]string{{"Cookie", "STEPUP_SESSION=" + T}}},
		{"cookie empty", [][2]string{{"Cookie", "stepup_session="}}},
		{"two cookie headers", [][2]string{{"Cookie", "stepup_session=" + W}, {"Cookie", "sess=" + T}}},
		{"variant cookie", [][2]string{{"Cookie", "sess=" + T}}},
		{"variant cookie weak, cookie strong", [][2]string{{"Cookie", "sess=" + W + "; stepup_session=" + T}}},
		{"X-Token", [][2]string{{"X-Token", T}}},
		{"X-Token Bearer", [][2]string{{"X-Token", "Bearer " + T}}},
		{"two X-Token", [][2]string{{"X-Token", T}, {"X-Token", W}}},
		{"bearer weak, cookie strong", [][2]string{{"Authorization", "Bearer " + W}, {"Cookie", "stepup_session=" + T + "; sess=" + T}}},
		{"bearer strong, cookie weak", [][2]string{{"Authorization", "Bearer " + T}, {"Cookie", "stepup_session=" + W + "; sess=" + W}}},
		{"bearer garbage, X-Token strong", [][2]string{{"Authorization", "Bearer abc.def.ghi"}, {"X-Token", T}}},
	}
	for _, a := range auth {
		for _, route := range [][2]string{{"GET", "/admin/users"}, {"GET", "/orders"}} {
			out = append(out, diffRequest{name: "auth/" + a.name, method: route[0], target: route[1], header: a.header})
		}
	}

	paths := []string{
		"/", "/admin", "/admin/", "/ADMIN", "/Admin/users", "/administrators", "/admin/../public/x",
		"/public/../admin", "/public/..;/admin", "/admin;jsessionid=1", "//admin", "/%61dmin",
		"/%2e%2e/admin", "/public/%2e%2e/admin", "/public/%2E%2E/admin", "/admin%2fusers",
		"/admin/x%5C..%5Cpublic", "/public/x%5C..%5Cadmin", "/%252e%252e/admin", "/public%00",
		"/payments/42", "/PAYMENTS/42", "/payments/./42", "/reports/./q3", "/reports//q3",
		"/public", "/public/status", "/publicity", "/api/x", "/api;/x", "/orders?x=/admin",
		"/orders#frag", "/a/b/c/../../../admin", "/public/./../admin/", "/%7Eadmin", "/admin%20",
	}
	methods := []string{"GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "get"}
	tokens := []struct {
		name   string
		header [][2]string
	}{
		{"none", nil},
		{"strong", [][2]string{{"Authorization", "Bearer " + T}}},
		{"weak", [][2]string{{"Authorization", "Bearer " + W}}},
		{"weak cookie", [][2]string{{"Cookie", "stepup_session=" + W + "; sess=" + W}}},
	}
	for pi, p := range paths {
		for ti, tok := range tokens {
			m := methods[(pi+ti)%len(methods)]
			out = append(out, diffRequest{name: "path/" + tok.name, method: m, target: p, header: tok.header})
		}
	}

	overrides := []string{"X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"}
	for _, p := range []string{"/orders", "/payments/42", "/admin/users", "/public/x"} {
		for oi, o := range overrides {
			for _, m := range []string{"GET", "POST"} {
				for _, tok := range tokens[:3] {
					target := []string{"POST", "DELETE", "put", " PUT "}[(oi+len(m))%4]
					h := append([][2]string{{o, target}}, tok.header...)
					out = append(out, diffRequest{name: "override/" + tok.name, method: m, target: p, header: h})
				}
			}
		}
		h := [][2]string{{"X-HTTP-Method-Override", "GET"}, {"X-Method-Override", "POST"}, {"Authorization", "Bearer " + W}}
		out = append(out, diffRequest{name: "override/two", method: "GET", target: p, header: h})
	}

	navigate := [][][2]string{
		{{"Sec-Fetch-Mode", "navigate"}, {"Accept", "text/html"}},
		{{"Accept", "text/html,application/xhtml+xml,*/*;q=0.8"}},
		{{"Sec-Fetch-Mode", "cors"}, {"Accept", "text/html"}},
		{{"Accept", "application/json, text/html;q=0.5"}},
	}
	for ni, n := range navigate {
		for _, p := range []string{"/admin/users?page=2", "/payments/42", "/reports/q3", "/orders", "/public/x"} {
			for _, tok := range []struct {
				name   string
				header [][2]string
			}{tokens[0], tokens[3], tokens[2]} {
				m := []string{"GET", "HEAD", "POST"}[(ni+len(p))%3]
				out = append(out, diffRequest{name: fmt.Sprintf("navigate%d/%s", ni, tok.name), method: m,
					target: p, header: append(append([][2]string{}, n...), tok.header...)})
			}
		}
	}

	spoofed := [][2]string{
		{"X-User", "mallory"}, {"X_User", "mallory"}, {"X-Stepup-Subject", "mallory"},
		{"X-Groups", "admins"}, {"X-Roles", "admin"}, {"X-Forwarded-Token", "x"},
	}
	for _, p := range []string{"/public/status", "/orders", "/admin/users"} {
		for _, tok := range tokens[:3] {
			out = append(out, diffRequest{name: "spoofed/" + tok.name, method: "GET", target: p,
				header: append(append([][2]string{}, spoofed...), tok.header...)})
		}
	}

	return out
}

// entraStyleConfig differs from representativeConfig in every way the
// request path cares about: the cookie first among three token sources, an
// array ACR claim ("acrs", as Entra ID), claim rules on nested, boolean and
// numeric claims, claim headers of arrays, numbers, booleans and nested
// claims, the token forwarded in Authorization, a sign-in URL.
func entraStyleConfig(tb testing.TB) map[string]any {
	tb.Helper()
	rk, ek := testKeys(tb)

	return map[string]any{
		"issuers": []any{
			map[string]any{
				"issuer":     issuerURL,
				"audience":   []any{"orders-api"},
				"algorithms": []any{"ES256", "RS256"},
				"publicKeys": publicPEM(tb, &rk.PublicKey, &ek.PublicKey),
				"acrClaim":   "acrs",
			},
			map[string]any{
				"issuer":     hmacIssuer,
				"audience":   []any{"orders-api", "admin-api"},
				"algorithms": []any{"HS256"},
				"secret":     hmacSecret,
				"tokenType":  "JWT",
			},
		},
		"tokenSources": []any{"cookie:sess", "header:X-Token", "bearer"},
		"acrLevels":    []any{acrPwd, acrMFA, acrPhr},
		"rules": []any{
			map[string]any{"pathPrefix": "/public", "public": true},
			map[string]any{
				"pathPrefix": "/admin", "acrValues": []any{"c2", "c3", acrPhr}, "maxAge": "10m",
				"claims": []any{map[string]any{"name": "realm_access.roles", "values": []any{"admin"}}},
			},
			map[string]any{"pathPrefix": "/admin", "methods": []any{"DELETE"}, "minACR": acrPhr, "amr": []any{"hwk"}},
			map[string]any{
				"pathPrefix": "/payments", "methods": []any{"POST"}, "minACR": acrMFA,
				"amrAny": []any{"hwk", "swk"}, "maxAge": "5m",
			},
			map[string]any{
				"pathPrefix": "/reports",
				"claims": []any{
					map[string]any{"name": "groups", "values": []any{"auditors"}},
					map[string]any{"name": "tenant.id", "values": []any{"42"}},
					map[string]any{"name": "email_verified", "values": []any{"true"}},
				},
			},
			map[string]any{"pathPrefix": "/", "amrAny": []any{"pwd", "otp", "hwk"}},
		},
		"signInURL":   "https://login.example.com/start?client=orders",
		"returnParam": "next",
		"claimHeaders": map[string]any{
			"sub": "X-User", "groups": "X-Groups", "realm_access.roles": "X-Roles",
			"tenant.id": "X-Tenant", "email_verified": "X-Email-Verified", "level": "X-Level",
			"acrs": "X-ACRs", "amr": "X-AMR", "iss": "X-Issuer", "auth_time": "X-Auth-Time",
			"aud": "X-Audience",
		},
		"forwardTokenHeader": "Authorization",
		"stripToken":         true,
		"realm":              "entra",
		"leeway":             "45s",
		"cacheSize":          64,
		"logLevel":           "error",
	}
}

// auditConfig is representativeConfig in audit mode, without a token
// cache (so without the fast path), forwarding the token in its own header.
func auditConfig(tb testing.TB) map[string]any {
	tb.Helper()
	cfg := representativeConfig(tb)
	cfg["auditMode"] = true
	cfg["cacheSize"] = -1
	cfg["stripToken"] = false
	cfg["forwardTokenHeader"] = "X-Forwarded-Token"
	cfg["signInURL"] = "https://login.example.com/start"

	return cfg
}

// lenientConfig trusts one issuer without checking iss or aud, so tokens
// with wrongly typed or missing iss and aud reach the policy; it keeps one
// token in its cache (every request evicts another), allows no clock skew,
// refuses tokens over 2 KiB, and its rules test acr, amr, sub, aud and a
// number through claim rules, with the default identity headers.
func lenientConfig(tb testing.TB) map[string]any {
	tb.Helper()
	rk, ek := testKeys(tb)

	return map[string]any{
		"issuers": []any{
			map[string]any{
				"algorithms":                []any{"ES256", "RS256"},
				"publicKeys":                publicPEM(tb, &ek.PublicKey, &rk.PublicKey),
				"insecureSkipIssuerCheck":   true,
				"insecureSkipAudienceCheck": true,
			},
		},
		"acrLevels": []any{acrPwd, acrMFA, acrPhr},
		"rules": []any{
			map[string]any{"pathPrefix": "/admin", "acrValues": []any{acrMFA}, "minACR": acrPhr, "amr": []any{"pwd", "hwk"}},
			map[string]any{"pathPrefix": "/payments", "maxAge": "0s"},
			map[string]any{
				"pathPrefix": "/reports",
				"claims": []any{
					map[string]any{"name": "level", "values": []any{"3", "1.5"}},
					map[string]any{"name": "aud", "values": []any{"admin-api", "orders-api"}},
					map[string]any{"name": "sub", "values": []any{"alice", "x-unexpected", "true"}},
				},
			},
			map[string]any{"pathPrefix": "/public", "methods": []any{"GET"}, "public": true},
		},
		"leeway":       "0s",
		"maxTokenSize": 2048,
		"cacheSize":    1,
		"logLevel":     "error",
	}
}

// quietHandlers builds the middleware natively and under Yaegi with their
// log (which audit mode writes on every request) sent nowhere: both write
// to os.Stdout as it is when New runs (Yaegi's os.Stdout is the process's
// variable, as in Traefik, whose Stdout option is not an *os.File).
func quietHandlers(tb testing.TB, cfg func(testing.TB) map[string]any) (native, yaegi http.Handler) {
	tb.Helper()

	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		tb.Fatalf("opening %s: %v", os.DevNull, err)
	}
	tb.Cleanup(func() { devNull.Close() })

	stdout := os.Stdout
	os.Stdout = devNull
	defer func() { os.Stdout = stdout }()

	c := traefikstepup.CreateConfig()
	if err := DecodeConfig(cfg(tb), c); err != nil {
		tb.Fatalf("decoding: %v", err)
	}
	native, err = traefikstepup.New(context.Background(), diffBackend, c, middlewareName)
	if err != nil {
		tb.Fatalf("native New: %v", err)
	}
	yaegi, err = stepupPlugin(tb).New(context.Background(), diffBackend, cfg(tb), middlewareName)
	if err != nil {
		tb.Fatalf("New under Yaegi: %v", err)
	}

	return native, yaegi
}

// diffDivergence is one request of one configuration whose outcomes
// differ: on which sightings, and the outcomes of the first.
type diffDivergence struct {
	config    string
	request   diffRequest
	sightings []int
	native    diffOutcome
	yaegi     diffOutcome
}

// TestInterpretedMatchesNative proves that the plugin as Traefik runs it,
// interpreted by Yaegi, decides every request of a generated corpus exactly
// as the compiled plugin does: same status, challenge, Location, response
// headers and body, and the same request (method, path, headers) reaching
// the backend. The corpus gives every claim every JSON type alone and with
// others, varies the JWS header, the token's spelling and source, the path's
// spelling, the method and its overrides, and serves each request three
// times (verified, then twice from the cache and the fast path),
// interleaved with its neighbours, to four configurations.
func TestInterpretedMatchesNative(t *testing.T) {
	now := time.Now().Unix()
	rng := mathrand.New(mathrand.NewSource(diffSeed))
	tokens := diffTokens(t, now, rng)
	reqs := append(tokenRequests(tokens, rng), spellingRequests(t, now)...)

	// reach are the statuses each configuration must give some request
	// of the corpus, or the corpus proves little. The configurations that
	// verify every token anew (no cache, a cache of one) get one request
	// in stride, to keep the test within a minute under -race.
	configs := []struct {
		name   string
		cfg    func(testing.TB) map[string]any
		reach  []int
		stride int
	}{
		{"representative", representativeConfig, []int{200, 400, 401, 403}, 1},
		{"entra-style", entraStyleConfig, []int{200, 302, 400, 401, 403}, 1},
		{"audit-uncached", auditConfig, []int{200}, 2},
		{"lenient", lenientConfig, []int{200, 400, 401, 403}, 2},
	}

	const sightings = 3
	var divergences []*diffDivergence
	served, differing := 0, 0
	statuses := map[string]map[int]int{}
	for ci, c := range configs {
		native, yaegi := quietHandlers(t, c.cfg)

		// Each configuration sees the corpus in its own order; request j
		// is served at steps j, j+1 and j+2, between its neighbours.
		var order []diffRequest
		for i := ci % c.stride; i < len(reqs); i += c.stride {
			order = append(order, reqs[i])
		}
		mathrand.New(mathrand.NewSource(diffSeed+int64(ci))).Shuffle(len(order), func(i, j int) {
			order[i], order[j] = order[j], order[i]
		})
		statuses[c.name] = map[int]int{}
		byRequest := map[int]*diffDivergence{}
		for step := 0; step < len(order)+sightings-1; step++ {
			for k := 0; k < sightings; k++ {
				j := step - k
				if j < 0 || j >= len(order) {
					continue
				}
				n := serveDiff(native, order[j])
				y := serveDiff(yaegi, order[j])
				served++
				if k == 0 {
					statuses[c.name][n.Status]++
				}
				if reflect.DeepEqual(n, y) {
					continue
				}
				differing++
				d := byRequest[j]
				if d == nil {
					d = &diffDivergence{config: c.name, request: order[j], native: n, yaegi: y}
					byRequest[j] = d
					divergences = append(divergences, d)
				}
				d.sightings = append(d.sightings, k+1)
			}
		}
	}

	t.Logf("%d tokens, %d requests, %d servings to each handler; statuses of first sightings: %v",
		len(tokens), len(reqs), served, statuses)

	for _, c := range configs {
		for _, want := range c.reach {
			if statuses[c.name][want] == 0 {
				t.Errorf("%s: no request of the corpus got %d: %v", c.name, want, statuses[c.name])
			}
		}
	}

	const shown = 30
	for i, d := range divergences {
		if i == shown {
			t.Errorf("... and %d more requests with divergences", len(divergences)-shown)
			break
		}
		t.Errorf("%s, sightings %v of %d:\n\trequest %s\n\tnative: %s\n\tyaegi:  %s",
			d.config, d.sightings, sightings, d.request, d.native, d.yaegi)
	}
	if differing > 0 {
		t.Errorf("%d of %d servings (%d distinct requests) had different outcomes natively and under Yaegi",
			differing, served, len(divergences))
	}
}
