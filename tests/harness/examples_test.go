package harness

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The examples in the readme's folder must build a middleware exactly as
// Traefik would build them, from each provider's shape of values.

func TestExamplesBuild(t *testing.T) {
	p := stepupPlugin(t)
	root := repoRoot
	tests := []struct {
		name   string
		config func(t *testing.T) map[string]any
	}{
		{name: "file provider", config: func(t *testing.T) map[string]any {
			return fileMiddleware(t, filepath.Join(root, "examples/dynamic.yml"))
		}},
		{name: "file provider with oidc", config: func(t *testing.T) map[string]any {
			return fileMiddleware(t, filepath.Join(root, "examples/dynamic-oidc.yml"))
		}},
		{name: "kubernetes crd", config: func(t *testing.T) map[string]any {
			return crdMiddleware(t, filepath.Join(root, "examples/kubernetes.yaml"))
		}},
		{name: "docker labels", config: func(t *testing.T) map[string]any {
			return labelMiddleware(t, filepath.Join(root, "examples/docker-labels.txt"))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.config(t)
			if _, err := p.New(context.Background(), backend, cfg, "stepup@test"); err != nil {
				t.Fatalf("New: %v\nconfig: %v", err, cfg)
			}
		})
	}
}

// fileMiddleware reads http.middlewares.stepup.plugin.stepup from a dynamic
// configuration file, with every scalar a string as the file provider
// delivers it.
func fileMiddleware(t *testing.T, path string) map[string]any {
	t.Helper()
	var doc map[string]any
	readYAML(t, path, &doc)
	m := dig(t, doc, "http", "middlewares", "stepup", "plugin", "stepup")

	return stringify(m).(map[string]any)
}

// crdMiddleware reads spec.plugin.stepup of the first document (a Middleware)
// with JSON types, as the Kubernetes CRD provider delivers it.
func crdMiddleware(t *testing.T, path string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	first := strings.Split(string(raw), "\n---")[0]
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(first), &doc); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(dig(t, doc, "spec", "plugin", "stepup"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}

	return m
}

// labelMiddleware turns traefik.http.middlewares.stepup.plugin.stepup.* labels
// into the nested map the label provider builds: string values, "[n]" list
// indexes, comma-separated lists left to the decoder's split hook.
func labelMiddleware(t *testing.T, path string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const prefix = "traefik.http.middlewares.stepup.plugin.stepup."
	root := map[string]any{}
	for _, line := range strings.Split(string(raw), "\n") {
		key, value, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok || !strings.HasPrefix(key, prefix) {
			continue
		}
		setLabel(t, root, strings.Split(strings.TrimPrefix(key, prefix), "."), value)
	}

	return root
}

func setLabel(t *testing.T, node map[string]any, path []string, value string) {
	t.Helper()
	name, index, isList := strings.Cut(path[0], "[")
	if len(path) == 1 && !isList {
		node[name] = value
		return
	}
	if !isList {
		child, _ := node[name].(map[string]any)
		if child == nil {
			child = map[string]any{}
			node[name] = child
		}
		setLabel(t, child, path[1:], value)
		return
	}
	i, err := strconv.Atoi(strings.TrimSuffix(index, "]"))
	if err != nil {
		t.Fatalf("label index %q: %v", path[0], err)
	}
	list, _ := node[name].([]any)
	for len(list) <= i {
		list = append(list, map[string]any{})
	}
	node[name] = list
	if len(path) == 1 {
		list[i] = value
		return
	}
	setLabel(t, list[i].(map[string]any), path[1:], value)
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func dig(t *testing.T, m map[string]any, keys ...string) map[string]any {
	t.Helper()
	for _, k := range keys {
		next, ok := m[k].(map[string]any)
		if !ok {
			t.Fatalf("no %q in %v", k, m)
		}
		m = next
	}

	return m
}

// stringify turns every scalar into its string form, as the file provider
// and labels deliver values.
func stringify(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = stringify(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = stringify(e)
		}
		return out
	case bool:
		return strconv.FormatBool(x)
	case int:
		return strconv.Itoa(x)
	case float64:
		return strconv.FormatFloat(x, 'f', 6, 64)
	default:
		return v
	}
}
