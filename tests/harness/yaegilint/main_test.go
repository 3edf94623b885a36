package main

import (
	"os"
	"path/filepath"
	"testing"
)

// lintSource lints a file holding src and returns the number of problems.
func lintSource(t *testing.T, src string) int {
	t.Helper()
	path := filepath.Join(t.TempDir(), "p.go")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	results = resultTypes([]string{path})

	return lintFile(path)
}

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
			if got := lintSource(t, src); got != tt.want {
				t.Errorf("%d problems, want %d", got, tt.want)
			}
		})
	}
}

// TestNamedResults: named results are reported, in declarations and
// function literals; unnamed ones are not.
func TestNamedResults(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want int
	}{
		{"declaration", "func f() (n int) { n++; return }", 1},
		{"two named results", "func f() (ok bool, err error) { return true, nil }", 1},
		{"literal", "var f = func() (s string) { return }", 1},
		{"unnamed", "func f() (int, error) { return 0, nil }", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := lintSource(t, "package p\n\n"+tt.src+"\n"); got != tt.want {
				t.Errorf("%d problems, want %d", got, tt.want)
			}
		})
	}
}

// TestStaleDefers: a defer whose arguments or receiver are assigned after
// it, or that sits in a loop, is reported; one whose values stay, or that
// defers a closure, is not.
func TestStaleDefers(t *testing.T) {
	tests := []struct {
		name string
		body string
		want int
	}{
		{"argument assigned after", "x := 1; defer println(x); x = 2", 1},
		{"receiver assigned after", "c := &T{}; defer c.Close(); c = &T{}", 1},
		{"field argument assigned after", "c := &T{}; defer println(c.n); c.n = 2", 1},
		{"incremented after", "x := 1; defer println(x); x++", 1},
		{"in a loop", "for i := 0; i < 2; i++ { defer println(i) }", 1},
		{"function variable assigned after", "f := func() {}; defer f(); f = nil", 1},
		{"unchanged", "c := &T{}; defer c.Close(); c.n = 2", 0},
		{"assigned before", "x := 1; x = 2; defer println(x)", 0},
		{"closure", "x := 1; defer func() { println(x) }(); x = 2", 0},
		{"in a closure in a loop", "for i := 0; i < 2; i++ { func() { c := &T{}; defer c.Close() }() }", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "package p\n\ntype T struct{ n int }\n\nfunc (t *T) Close() {}\n\nfunc f() {\n\t" + tt.body + "\n}\n"
			if got := lintSource(t, src); got != tt.want {
				t.Errorf("%d problems, want %d", got, tt.want)
			}
		})
	}
}
