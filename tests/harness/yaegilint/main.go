// Command yaegilint reports Go constructs that compile natively but break or
// misbehave under Yaegi v0.16.1, the interpreter Traefik v3.6 runs plugins
// with. It checks the plugin's runtime files (not tests) and exits 1 when it
// finds one. See ../../../readme.md ("Yaegi") for why each one matters.
//
// Usage: go run ./yaegilint DIR...
package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	found := 0
	for _, dir := range os.Args[1:] {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			found += lintFile(f)
		}
	}
	if found > 0 {
		fmt.Fprintf(os.Stderr, "yaegilint: %d problem(s)\n", found)
		os.Exit(1)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "yaegilint:", err)
	os.Exit(2)
}

// bannedCalls are package functions missing from, or broken in, Yaegi's
// Go 1.22 symbol tables.
var bannedCalls = map[string]string{
	"errors.As":       "panics with the plugin's own error types; use sentinels and errors.Is",
	"sync.OnceValue":  "absent",
	"sync.OnceValues": "absent",
	"sync.OnceFunc":   "absent",
}

var bannedImports = map[string]string{
	"slices":  "generic functions fail under Yaegi",
	"maps":    "generic functions fail under Yaegi",
	"iter":    "absent (Go 1.23)",
	"unsafe":  "not in Traefik's restricted symbols",
	"os/exec": "not in Traefik's restricted symbols",
	"syscall": "not in Traefik's restricted symbols",
}

func lintFile(path string) int {
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
	if err != nil {
		fatal(err)
	}
	n := 0
	report := func(pos token.Pos, format string, args ...interface{}) {
		fmt.Printf("%s: %s\n", fset.Position(pos), fmt.Sprintf(format, args...))
		n++
	}
	for _, c := range file.Comments {
		for _, l := range c.List {
			if strings.HasPrefix(l.Text, "//go:build") {
				report(l.Pos(), "//go:build: Yaegi honours only // +build lines")
			}
		}
	}
	for _, imp := range file.Imports {
		p := strings.Trim(imp.Path.Value, `"`)
		if why, ok := bannedImports[p]; ok {
			report(imp.Pos(), "import %q: %s", p, why)
		}
	}
	ast.Inspect(file, func(node ast.Node) bool {
		switch x := node.(type) {
		case *ast.SwitchStmt:
			if x.Tag != nil {
				break
			}
			for _, s := range x.Body.List {
				if cc, ok := s.(*ast.CaseClause); ok && len(cc.List) > 1 {
					report(cc.Pos(), "tagless switch case with %d expressions: Yaegi evaluates only the first; use ||", len(cc.List))
				}
			}
		case *ast.RangeStmt:
			if lit, ok := x.X.(*ast.BasicLit); ok && lit.Kind == token.INT {
				report(x.Pos(), "range over an int: Yaegi panics loading the package")
			}
			if id, ok := x.X.(*ast.Ident); ok && x.Key != nil && x.Value == nil && isIntIdent(id) {
				report(x.Pos(), "range over an int: Yaegi panics loading the package")
			}
		case *ast.CallExpr:
			if id, ok := x.Fun.(*ast.Ident); ok && id.Obj == nil {
				switch id.Name {
				case "min", "max", "clear":
					report(x.Pos(), "builtin %s: absent in Yaegi", id.Name)
				}
			}
			if sel, ok := x.Fun.(*ast.SelectorExpr); ok {
				if pkg, ok := sel.X.(*ast.Ident); ok {
					if why, ok := bannedCalls[pkg.Name+"."+sel.Sel.Name]; ok {
						report(x.Pos(), "%s.%s: %s", pkg.Name, sel.Sel.Name, why)
					}
				}
			}
		case *ast.SelectorExpr:
			if p, ok := x.X.(*ast.ParenExpr); ok {
				if _, ok := p.X.(*ast.StarExpr); ok {
					report(x.Pos(), "method expression: panics under Yaegi")
				}
			}
			if pkg, ok := x.X.(*ast.Ident); ok && pkg.Name == "atomic" && x.Sel.Name == "Pointer" {
				report(x.Pos(), "atomic.Pointer: generic type fails under Yaegi")
			}
		}
		return true
	})

	return n
}

// isIntIdent reports whether id is declared as an int constant or variable in
// this file (a cheap stand-in for type checking: enough for `range n`).
func isIntIdent(id *ast.Ident) bool {
	if id.Obj == nil {
		return false
	}
	switch d := id.Obj.Decl.(type) {
	case *ast.ValueSpec:
		if t, ok := d.Type.(*ast.Ident); ok {
			return strings.HasPrefix(t.Name, "int") || strings.HasPrefix(t.Name, "uint")
		}
	case *ast.Field:
		if t, ok := d.Type.(*ast.Ident); ok {
			return strings.HasPrefix(t.Name, "int") || strings.HasPrefix(t.Name, "uint")
		}
	}

	return false
}
