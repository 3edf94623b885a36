// Package floor is a Traefik middleware plugin that does the least work a
// correct step-up check can do for the benchmark's workloads: one issuer,
// one RS256 key, one rule ("acr" at least a given value on a two-step
// ladder), identity headers set, their client-sent copies removed, bearer
// tokens only, each verified once and then looked up by its Authorization
// value. It has none of traefikstepup's generality (several issuers and
// algorithms, JWKS, rules by path and method, browser redirects, exact
// challenges) and is not meant for use: make bench -floor runs it beside
// traefikstepup and the no-op plugin to show what Yaegi itself allows.
package floor

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Config names the issuer, audience, key and minimum acr.
type Config struct {
	Issuer    string `json:"issuer,omitempty"`
	Audience  string `json:"audience,omitempty"`
	PublicKey string `json:"publicKey,omitempty"`
	MinACR    string `json:"minACR,omitempty"`
	HigherACR string `json:"higherACR,omitempty"`
	// LookupOnly skips removing client-sent identity headers and the path
	// check: not a correct check, but the least any cache of verdicts
	// costs (one lookup, a clock read, three headers).
	LookupOnly bool `json:"lookupOnly,omitempty"`
}

// CreateConfig returns an empty configuration.
func CreateConfig() *Config {
	return &Config{}
}

// verdict is a verified token's outcome, kept by Authorization value.
type verdict struct {
	until time.Time
	sub   []string
	acr   []string
	amr   []string
}

type floor struct {
	next     http.Handler
	key      *rsa.PublicKey
	issuer   string
	audience string
	acrs     map[string]bool
	strip    []string
	path     *regexp.Regexp
	verdicts sync.Map
	lookup   bool
}

// claims are the ones checked or forwarded, decoded into a struct.
type claims struct {
	Iss string      `json:"iss"`
	Aud interface{} `json:"aud"`
	Exp float64     `json:"exp"`
	Nbf float64     `json:"nbf"`
	Sub string      `json:"sub"`
	Acr string      `json:"acr"`
	Amr []string    `json:"amr"`
}

// canonical is the path check traefikstepup's fast path makes.
var canonical = regexp.MustCompile(`^/(?:[a-z0-9\-_~$&+,:=@][a-z0-9\-_.~$&+,:=@]*(?:/|$))*$`)

// New parses the key (testData has none: every request is then refused).
func New(ctx context.Context, next http.Handler, config *Config, name string) (http.Handler, error) {
	p := &floor{
		next:     next,
		issuer:   config.Issuer,
		audience: config.Audience,
		acrs:     map[string]bool{config.MinACR: true, config.HigherACR: true},
		strip: []string{"X-Stepup-Subject", "X_stepup-Subject", "X-Stepup_subject", "X_stepup_subject",
			"X-Stepup-Acr", "X_stepup-Acr", "X-Stepup_acr", "X_stepup_acr",
			"X-Stepup-Amr", "X_stepup-Amr", "X-Stepup_amr", "X_stepup_amr",
			"X-Http-Method-Override", "X-Http-Method", "X-Method-Override"},
		path:   canonical,
		lookup: config.LookupOnly,
	}
	if config.PublicKey != "" {
		block, _ := pem.Decode([]byte(config.PublicKey))
		if block == nil {
			return nil, errors.New("publicKey: no PEM block")
		}
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		key, ok := k.(*rsa.PublicKey)
		if !ok {
			return nil, errors.New("publicKey: not RSA")
		}
		p.key = key
	}

	return p, nil
}

func (p *floor) ServeHTTP(rw http.ResponseWriter, req *http.Request) {
	if p.lookup {
		lookupOnly(p, rw, req)
		return
	}
	h := req.Header
	for i := 0; i < len(p.strip); i++ {
		if h[p.strip[i]] != nil {
			delete(h, p.strip[i])
		}
	}
	a := h["Authorization"]
	if req.URL.RawPath != "" || !p.path.MatchString(req.URL.Path) || len(a) != 1 {
		rw.WriteHeader(http.StatusUnauthorized)
		return
	}
	x, _ := p.verdicts.Load(a[0])
	v, _ := x.(*verdict)
	if v == nil {
		v = verify(p, a[0])
	}
	if v == nil || time.Until(v.until) <= 0 {
		rw.WriteHeader(http.StatusUnauthorized)
		return
	}
	h["X-Stepup-Subject"] = v.sub
	h["X-Stepup-Acr"] = v.acr
	h["X-Stepup-Amr"] = v.amr
	p.next.ServeHTTP(rw, req)
}

// lookupOnly is ServeHTTP without the header removal and the path check.
func lookupOnly(p *floor, rw http.ResponseWriter, req *http.Request) {
	h := req.Header
	x, _ := p.verdicts.Load(h.Get("Authorization"))
	v, _ := x.(*verdict)
	if v == nil {
		v = verify(p, h.Get("Authorization"))
	}
	if v == nil || time.Until(v.until) <= 0 {
		rw.WriteHeader(http.StatusUnauthorized)
		return
	}
	h["X-Stepup-Subject"] = v.sub
	h["X-Stepup-Acr"] = v.acr
	h["X-Stepup-Amr"] = v.amr
	p.next.ServeHTTP(rw, req)
}

// verify checks a bearer token and keeps its verdict; nil when it fails.
func verify(p *floor, auth string) *verdict {
	if p.key == nil || !strings.HasPrefix(auth, "Bearer ") {
		return nil
	}
	token := auth[7:]
	i := strings.IndexByte(token, '.')
	j := strings.LastIndexByte(token, '.')
	if i < 0 || j <= i {
		return nil
	}
	header, err := base64.RawURLEncoding.DecodeString(token[:i])
	if err != nil || !strings.Contains(string(header), `"alg":"RS256"`) {
		return nil
	}
	sig, err := base64.RawURLEncoding.DecodeString(token[j+1:])
	if err != nil {
		return nil
	}
	digest := sha256.Sum256([]byte(token[:j]))
	if rsa.VerifyPKCS1v15(p.key, crypto.SHA256, digest[:], sig) != nil {
		return nil
	}
	payload, err := base64.RawURLEncoding.DecodeString(token[i+1 : j])
	if err != nil {
		return nil
	}
	var c claims
	if json.Unmarshal(payload, &c) != nil {
		return nil
	}
	now := float64(time.Now().Unix())
	if c.Iss != p.issuer || !audienceHas(c.Aud, p.audience) || c.Exp < now-60 || c.Nbf > now+60 || !p.acrs[c.Acr] {
		return nil
	}
	v := &verdict{
		until: time.Unix(int64(c.Exp), 0),
		sub:   []string{c.Sub},
		acr:   []string{c.Acr},
		amr:   []string{strings.Join(c.Amr, ",")},
	}
	p.verdicts.Store(auth, v)

	return v
}

// audienceHas reports whether aud (a string or an array) contains want.
func audienceHas(aud interface{}, want string) bool {
	if s, ok := aud.(string); ok {
		return s == want
	}
	list, _ := aud.([]interface{})
	for _, a := range list {
		if a == want {
			return true
		}
	}

	return false
}
