package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stepup-auth/traefikstepup"
)

const (
	moduleName = "github.com/stepup-auth/traefikstepup"
	repoRoot   = "../.."

	// middlewareName is what Traefik passes as New's name for a middleware
	// declared in the file provider.
	middlewareName = "stepup@file"

	issuerURL  = "https://issuer.test"
	hmacIssuer = "https://hmac.test"
	hmacSecret = "0123456789abcdef0123456789abcdef-harness"

	acrPwd = "urn:stepup:acr:pwd"
	acrMFA = "urn:stepup:acr:mfa"
	acrPhr = "urn:stepup:acr:phr"
)

// Interpreting the plugin takes seconds (more under -race): every test and
// benchmark of the package shares one interpreter per plugin, as Traefik
// shares one per plugin between middleware instances.
var (
	stepupOnce sync.Once
	stepupP    *Plugin
	stepupErr  error

	noopOnce sync.Once
	noopP    *Plugin
	noopErr  error
)

func stepupPlugin(tb testing.TB) *Plugin {
	tb.Helper()

	stepupOnce.Do(func() {
		stepupP, stepupErr = Load(Options{ModuleName: moduleName, Dir: repoRoot})
	})
	if stepupErr != nil {
		tb.Fatalf("loading the plugin under Yaegi: %v", stepupErr)
	}

	return stepupP
}

func noopPlugin(tb testing.TB) *Plugin {
	tb.Helper()

	noopOnce.Do(func() {
		noopP, noopErr = Load(Options{ModuleName: "github.com/stepup-auth/noop", Dir: "../noop-plugin"})
	})
	if noopErr != nil {
		tb.Fatalf("loading the noop plugin under Yaegi: %v", noopErr)
	}

	return noopP
}

// interpretedHandler builds the middleware under Yaegi from cfg.
func interpretedHandler(tb testing.TB, cfg map[string]any) http.Handler {
	tb.Helper()

	h, err := stepupPlugin(tb).New(context.Background(), backend, cfg, middlewareName)
	if err != nil {
		tb.Fatalf("New under Yaegi: %v", err)
	}

	return h
}

// nativeHandler builds the compiled middleware from cfg, decoded the same way.
func nativeHandler(tb testing.TB, cfg map[string]any) http.Handler {
	tb.Helper()

	c := traefikstepup.CreateConfig()
	if err := DecodeConfig(cfg, c); err != nil {
		tb.Fatalf("decoding: %v", err)
	}
	h, err := traefikstepup.New(context.Background(), backend, c, middlewareName)
	if err != nil {
		tb.Fatalf("native New: %v", err)
	}

	return h
}

// backend answers 200 and reflects the request headers the middleware may
// set or strip, each as "Seen-<canonical name>", so tests see what reached it.
var backend = http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
	names := []string{"X-User", "X-User-ACR", "X-User-AMR", "Authorization", "Cookie",
		"X-Stepup-Subject", "X-Stepup-ACR", "X-Stepup-AMR"}
	for _, n := range names {
		if v := req.Header.Values(n); len(v) > 0 {
			rw.Header()["Seen-"+http.CanonicalHeaderKey(n)] = v
		}
	}
	rw.WriteHeader(http.StatusOK)
})

// representativeConfig is one configuration touching every kind of field:
// strings, bools, ints, string lists, a map, lists of structs, a nested list
// of structs. Values have the Go types a YAML or JSON parser would produce
// before Traefik's providers touch them.
func representativeConfig(tb testing.TB) map[string]any {
	tb.Helper()
	rk, ek := testKeys(tb)

	return map[string]any{
		"issuers": []any{
			map[string]any{
				"issuer":     issuerURL,
				"audience":   []any{"orders-api", "admin-api"},
				"algorithms": []any{"RS256", "ES256"},
				"publicKeys": publicPEM(tb, &rk.PublicKey, &ek.PublicKey),
			},
			map[string]any{
				"issuer":     hmacIssuer,
				"audience":   []any{"orders-api"},
				"algorithms": []any{"HS256"},
				"secret":     hmacSecret,
			},
		},
		"tokenSources": []any{"bearer", "cookie:stepup_session"},
		"acrLevels":    []any{acrPwd, acrMFA, acrPhr},
		"rules": []any{
			map[string]any{"pathPrefix": "/public", "public": true},
			map[string]any{"pathPrefix": "/admin", "minACR": acrMFA, "maxAge": "10m"},
			map[string]any{
				"pathPrefix": "/payments",
				"methods":    []any{"POST", "PUT"},
				"minACR":     acrPhr,
				"amr":        []any{"hwk"},
				"maxAge":     "5m",
			},
			map[string]any{
				"pathPrefix": "/reports",
				"amrAny":     []any{"otp", "hwk"},
				"claims": []any{
					map[string]any{"name": "groups", "values": []any{"auditors", "admins"}},
				},
			},
		},
		"claimHeaders": map[string]any{"sub": "X-User", "acr": "X-User-ACR", "amr": "X-User-AMR"},
		"realm":        "orders",
		"leeway":       "30s",
		"maxTokenSize": 8192,
		"cacheSize":    100,
		"stripToken":   true,
		"logLevel":     "error", // keep benchmark and test output clean
	}
}

// asStrings turns every scalar into a string, as the file provider and
// labels deliver them ("true", "8192"). With joinLists, lists of scalars
// become one comma-joined string ("RS256,ES256"), the labels shorthand.
func asStrings(v any, joinLists bool) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = asStrings(e, joinLists)
		}
		return out
	case []any:
		if joinLists && allScalars(x) {
			parts := make([]string, len(x))
			for i, e := range x {
				parts[i] = fmt.Sprint(e)
			}
			return strings.Join(parts, ",")
		}
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = asStrings(e, joinLists)
		}
		return out
	case bool:
		return strconv.FormatBool(x)
	case int:
		return strconv.Itoa(x)
	default:
		return fmt.Sprint(x)
	}
}

func allScalars(list []any) bool {
	for _, e := range list {
		switch e.(type) {
		case map[string]any, []any:
			return false
		}
	}
	return true
}

// asJSON round-trips the config through encoding/json into map[string]any,
// as the Kubernetes CRD provider delivers it (numbers as float64).
func asJSON(tb testing.TB, cfg map[string]any) map[string]any {
	tb.Helper()

	raw, err := json.Marshal(cfg)
	if err != nil {
		tb.Fatalf("marshalling config: %v", err)
	}

	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		tb.Fatalf("unmarshalling config: %v", err)
	}

	return out
}

// claims returns a fresh claim set for the representative issuer; extra
// entries override or add, a nil value deletes.
func claims(extra map[string]any) map[string]any {
	now := time.Now().Unix()
	c := map[string]any{
		"iss":       issuerURL,
		"aud":       "orders-api",
		"sub":       "alice",
		"iat":       now,
		"exp":       now + 600,
		"auth_time": now - 30,
		"acr":       acrPwd,
		"amr":       []string{"pwd"},
	}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}

	return c
}

// outcome is what a request produced, reduced to what tests compare.
type outcome struct {
	Status    int
	Challenge string
	Location  string
	Seen      map[string]string
}

func outcomeOf(status int, h http.Header) outcome {
	o := outcome{
		Status:    status,
		Challenge: h.Get("WWW-Authenticate"),
		Location:  h.Get("Location"),
		Seen:      map[string]string{},
	}
	for k, v := range h {
		if strings.HasPrefix(k, "Seen-") {
			o.Seen[http.CanonicalHeaderKey(strings.TrimPrefix(k, "Seen-"))] = strings.Join(v, " | ")
		}
	}

	return o
}

func (o outcome) String() string {
	keys := make([]string, 0, len(o.Seen))
	for k := range o.Seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)

	var b strings.Builder
	fmt.Fprintf(&b, "%d challenge=%q location=%q", o.Status, o.Challenge, o.Location)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%q", k, o.Seen[k])
	}

	return b.String()
}
