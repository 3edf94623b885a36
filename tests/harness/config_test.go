package harness

import (
	"context"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/stepup-auth/traefikstepup"
)

// configForms is the representative configuration as each provider family
// delivers it to the plugin.
func configForms(t *testing.T) []struct {
	name string
	cfg  map[string]any
} {
	typed := representativeConfig(t)

	return []struct {
		name string
		cfg  map[string]any
	}{
		{name: "typed values", cfg: typed},
		{name: "file provider strings", cfg: asStrings(typed, false).(map[string]any)},
		{name: "labels with comma-joined lists", cfg: asStrings(typed, true).(map[string]any)},
		{name: "CRD JSON with float64 numbers", cfg: asJSON(t, typed)},
	}
}

// TestConfigFormsDecodeAlike decodes every form natively with Traefik's
// mapstructure settings: all must give the same Config.
func TestConfigFormsDecodeAlike(t *testing.T) {
	forms := configForms(t)

	want := traefikstepup.CreateConfig()
	if err := DecodeConfig(forms[0].cfg, want); err != nil {
		t.Fatalf("decoding %s: %v", forms[0].name, err)
	}
	if want.MaxTokenSize != 8192 || !want.StripToken || len(want.Rules) != 4 ||
		len(want.Rules[2].Methods) != 2 || len(want.Rules[3].Claims[0].Values) != 2 {
		t.Fatalf("typed form decoded to an unexpected config: %+v", want)
	}

	for _, f := range forms[1:] {
		t.Run(f.name, func(t *testing.T) {
			got := traefikstepup.CreateConfig()
			if err := DecodeConfig(f.cfg, got); err != nil {
				t.Fatalf("decoding: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("decoded config differs:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

// TestConfigFormsBehaveAlike builds one interpreted middleware per form and
// sends each the same requests: every outcome must match the typed form's.
func TestConfigFormsBehaveAlike(t *testing.T) {
	p := stepupPlugin(t)
	reqs := sampleRequests(t)

	var want []outcome
	for _, f := range configForms(t) {
		t.Run(f.name, func(t *testing.T) {
			h, err := p.New(context.Background(), backend, f.cfg, middlewareName)
			if err != nil {
				t.Fatalf("New: %v", err)
			}

			got := make([]outcome, len(reqs))
			for i, r := range reqs {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, r.build())
				got[i] = outcomeOf(rec.Code, rec.Header())
			}

			if want == nil {
				want = got
				return
			}
			for i := range reqs {
				if got[i].String() != want[i].String() {
					t.Errorf("%s:\n got %s\nwant %s", reqs[i].name, got[i], want[i])
				}
			}
		})
	}
}

// badConfig has one unknown key at each level and several bad values.
func badConfig() map[string]any {
	return map[string]any{
		"issuers": []any{
			map[string]any{
				"issuer":     issuerURL,
				"algorithms": []any{"RS256", "XS999"},
				"publicKeys": "not a key",
				"secretTypo": "x",
			},
		},
		"acrLevels": []any{acrPwd, acrMFA},
		"rules": []any{
			map[string]any{"pathPrefix": "/admin", "maxAge": "5 min"},
			map[string]any{
				"pathPrefix": "/x",
				"claims":     []any{map[string]any{"name": "groups", "valuez": []any{"a"}}},
			},
		},
		"leeway":        "soon",
		"tokenSources":  []any{"query:token"},
		"signInURL":     "not a url",
		"maxTokenSize":  "-5",
		"claimHeaders":  map[string]any{"sub": "Bad Header"},
		"unknownOption": "x",
	}
}

// badConfigProblems are the locations New's error must name for badConfig.
var badConfigProblems = []string{
	"unknownOption",
	"issuers[0].secretTypo",
	"issuers[0].audience",
	"XS999",
	"issuers[0].publicKeys",
	"rules[0].maxAge",
	"rules[1].claims[0].valuez",
	"leeway",
	"tokenSources[0]",
	"signInURL",
	"maxTokenSize",
	"claimHeaders.sub",
}

// TestBadConfigListsEveryProblem gives New one unknown key and several bad
// values at once: New must fail and name each of them, natively and under
// Yaegi.
func TestBadConfigListsEveryProblem(t *testing.T) {
	t.Run("native", func(t *testing.T) {
		cfg := traefikstepup.CreateConfig()
		if err := DecodeConfig(badConfig(), cfg); err != nil {
			t.Fatalf("decoding: %v", err)
		}
		_, err := traefikstepup.New(context.Background(), backend, cfg, middlewareName)
		checkProblems(t, err)
	})
	t.Run("yaegi", func(t *testing.T) {
		_, err := stepupPlugin(t).New(context.Background(), backend, badConfig(), middlewareName)
		checkProblems(t, err)
	})
}

func checkProblems(t *testing.T, err error) {
	t.Helper()

	if err == nil {
		t.Fatal("New accepted the configuration")
	}
	for _, where := range badConfigProblems {
		if !strings.Contains(err.Error(), where) {
			t.Errorf("error does not mention %s", where)
		}
	}
	if t.Failed() {
		t.Logf("error: %v", err)
	}
}

// TestUndecodableValues are values mapstructure itself refuses: Traefik
// fails the decode before New is called, naming the field.
func TestUndecodableValues(t *testing.T) {
	tests := []struct {
		name string
		cfg  map[string]any
		want string
	}{
		{name: "bool that is not one", cfg: map[string]any{"stripToken": "maybe"}, want: "stripToken"},
		{name: "int that is not one", cfg: map[string]any{"cacheSize": "lots"}, want: "cacheSize"},
		{name: "list where a struct belongs", cfg: map[string]any{"issuers": "x"}, want: "issuers"},
	}
	p := stepupPlugin(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := p.New(context.Background(), backend, tt.cfg, middlewareName)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New error = %v, want one naming %s", err, tt.want)
			}
		})
	}
}

// TestEmptyConfig is what Traefik passes for a middleware declared without
// options: CreateConfig's defaults, undecoded. No issuer: New must refuse.
func TestEmptyConfig(t *testing.T) {
	_, err := stepupPlugin(t).New(context.Background(), http.NotFoundHandler(), nil, middlewareName)
	if err == nil || !strings.Contains(err.Error(), "issuers") {
		t.Errorf("New(empty) error = %v, want one naming issuers", err)
	}
}
