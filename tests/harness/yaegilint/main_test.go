package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestStaleCommaOK: a comma-ok whose ok is discarded is reported in a loop
// and when assigned with =, and only there.
func TestStaleCommaOK(t *testing.T) {
	tests := []struct {
		name string
		body string
		want int
	}{
		{"assertion in a loop", "for _, v := range vs { n, _ := v.(int); _ = n }", 1},
		{"map lookup in a loop", "for _, k := range ks { n, _ := m[k]; _ = n }", 1},
		{"assertion assigned with =", "var n int; n, _ = vs[0].(int); _ = n", 1},
		{"ok kept in a loop", "for _, v := range vs { n, ok := v.(int); _, _ = n, ok }", 0},
		{"assertion outside a loop", "n, _ := vs[0].(int); _ = n", 0},
		{"type switch in a loop", "for _, v := range vs { switch v.(type) { case int: } }", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "package p\n\nfunc f(vs []interface{}, ks []string, m map[string]int) {\n\t" + tt.body + "\n}\n"
			path := filepath.Join(t.TempDir(), "p.go")
			if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
				t.Fatal(err)
			}
			results = resultTypes([]string{path})
			if got := lintFile(path); got != tt.want {
				t.Errorf("%d problems, want %d", got, tt.want)
			}
		})
	}
}
