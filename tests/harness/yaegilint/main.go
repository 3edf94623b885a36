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
	"go/types"
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
		var runtime []string
		for _, f := range files {
			if !strings.HasSuffix(f, "_test.go") {
				runtime = append(runtime, f)
			}
		}
		results = resultTypes(runtime)
		for _, f := range runtime {
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
	var loops []ast.Node // the for and range statements, for staleCommaOK
	ast.Inspect(file, func(node ast.Node) bool {
		switch node.(type) {
		case *ast.ForStmt, *ast.RangeStmt:
			loops = append(loops, node)
		}
		return true
	})
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
		case *ast.AssignStmt:
			if why := staleCommaOK(x, loops); why != "" {
				report(x.Pos(), "%s", why)
			}
			if len(x.Rhs) > 1 {
				for _, r := range x.Rhs {
					if id, ok := r.(*ast.Ident); ok && id.Name == "nil" {
						report(x.Pos(), "multi-assignment with an untyped nil: Yaegi panics (reflect: New(nil)); assign nil separately")
						break
					}
				}
			}
		case *ast.ReturnStmt:
			if len(x.Results) == 1 {
				if call, ok := x.Results[0].(*ast.CallExpr); ok {
					outer := enclosingResults(file, x)
					inner, known := results[calleeName(call)]
					if known && strings.Contains(outer, ",") && outer != inner {
						report(x.Pos(), "return f(...) with results (%s) from a function of results (%s): Yaegi drops the error; assign, then return", inner, outer)
					}
				}
			}
		case *ast.FuncType:
			if x.Results != nil {
				for _, f := range x.Results.List {
					if len(f.Names) > 0 {
						report(x.Pos(), "named results: Yaegi does not reset them between calls from one call site (a call in a loop starts from the last call's values); use unnamed results")
						break
					}
				}
			}
		case *ast.FuncDecl, *ast.FuncLit:
			for _, d := range staleDefers(funcBody(x), loops) {
				report(d.Pos(), "defer whose arguments or receiver change later (or in a loop): Yaegi evaluates them when the deferred call runs, not at the defer; copy them first")
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

// results maps the package's function and method names to their result
// types as written, for the return check.
var results map[string]string

func resultTypes(files []string) map[string]string {
	m := map[string]string{}
	for _, f := range files {
		file, err := parser.ParseFile(token.NewFileSet(), f, nil, 0)
		if err != nil {
			fatal(err)
		}
		for _, d := range file.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok {
				m[fd.Name.Name] = fieldTypes(fd.Type.Results)
			}
		}
	}

	return m
}

func calleeName(call *ast.CallExpr) string {
	switch f := call.Fun.(type) {
	case *ast.Ident:
		return f.Name
	case *ast.SelectorExpr:
		return f.Sel.Name
	}

	return ""
}

// enclosingResults returns the result types of the innermost function
// (declaration or literal) around ret.
func enclosingResults(file *ast.File, ret *ast.ReturnStmt) string {
	results := ""
	ast.Inspect(file, func(n ast.Node) bool {
		if n == nil || ret.Pos() < n.Pos() || ret.Pos() > n.End() {
			return false // ret is not inside: skip the subtree
		}
		switch f := n.(type) {
		case *ast.FuncDecl:
			if f.Body != nil {
				results = fieldTypes(f.Type.Results)
			}
		case *ast.FuncLit:
			results = fieldTypes(f.Type.Results)
		}
		return true
	})

	return results
}

func fieldTypes(fl *ast.FieldList) string {
	if fl == nil {
		return ""
	}
	var parts []string
	for _, f := range fl.List {
		t := types.ExprString(f.Type)
		n := len(f.Names)
		if n == 0 {
			n = 1
		}
		for i := 0; i < n; i++ {
			parts = append(parts, t)
		}
	}

	return strings.Join(parts, ", ")
}

// staleCommaOK reports a comma-ok type assertion or map lookup whose ok is
// discarded (v, _ := x.(T); v, _ := m[k]) where v may already hold a value:
// in a loop, or assigned with =. Under Yaegi a failed assertion or a missing
// key leaves v as it was, where Go sets the zero value; code that relies on
// the zero value then reads a previous iteration's value. Keep ok and test it.
func staleCommaOK(x *ast.AssignStmt, loops []ast.Node) string {
	if len(x.Lhs) != 2 || len(x.Rhs) != 1 {
		return ""
	}
	if id, ok := x.Lhs[1].(*ast.Ident); !ok || id.Name != "_" {
		return ""
	}
	switch r := x.Rhs[0].(type) {
	case *ast.TypeAssertExpr:
		if r.Type == nil {
			return "" // a type switch guard
		}
	case *ast.IndexExpr:
	default:
		return ""
	}
	if x.Tok == token.ASSIGN {
		return "comma-ok with a discarded ok, assigned with =: under Yaegi a failure leaves the old value, not the zero value; test ok"
	}
	for _, l := range loops {
		if l.Pos() <= x.Pos() && x.End() <= l.End() {
			return "comma-ok with a discarded ok in a loop: under Yaegi a failure leaves the previous iteration's value, not the zero value; test ok"
		}
	}

	return ""
}

// funcBody returns the body of a function declaration or literal; nil for
// a declaration without one.
func funcBody(fn ast.Node) *ast.BlockStmt {
	if d, ok := fn.(*ast.FuncDecl); ok {
		return d.Body
	}

	return fn.(*ast.FuncLit).Body
}

// staleDefers returns the defer statements directly in body (not in nested
// function literals) whose deferred call reads a variable, or a field or
// element of one, that body assigns after the defer, or that sit in a loop
// of body. Yaegi evaluates a deferred call's function, receiver and
// arguments when the call runs, at the function's end, where Go evaluates
// them at the defer statement.
func staleDefers(body *ast.BlockStmt, loops []ast.Node) []*ast.DeferStmt {
	if body == nil {
		return nil
	}
	var defers []*ast.DeferStmt
	var assigned []assignment
	note := func(e ast.Expr, pos token.Pos) {
		assigned = append(assigned, assignment{types.ExprString(e), pos})
	}
	ast.Inspect(body, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.FuncLit:
			return false // its own defers, checked on their own
		case *ast.DeferStmt:
			defers = append(defers, x)
		case *ast.AssignStmt:
			for _, l := range x.Lhs {
				note(l, x.Pos())
			}
		case *ast.IncDecStmt:
			note(x.X, x.Pos())
		case *ast.RangeStmt:
			if x.Key != nil {
				note(x.Key, x.Pos())
			}
			if x.Value != nil {
				note(x.Value, x.Pos())
			}
		}
		return true
	})
	var stale []*ast.DeferStmt
	for _, d := range defers {
		if inAny(d, loops, body) {
			stale = append(stale, d)
			continue
		}
		// What the deferred call reads: its arguments, and its function or
		// receiver (for a method, the expression before the method name).
		reads := []ast.Expr{d.Call.Fun}
		if sel, ok := d.Call.Fun.(*ast.SelectorExpr); ok {
			reads[0] = sel.X
		}
		reads = append(reads, d.Call.Args...)
		if changedAfter(reads, assigned, d.Pos()) {
			stale = append(stale, d)
		}
	}

	return stale
}

// assignment is an assignment to target (as written) at pos.
type assignment struct {
	target string
	pos    token.Pos
}

// changedAfter reports whether one of the assignments after pos targets a
// variable, field or element that one of reads reads.
func changedAfter(reads []ast.Expr, assigned []assignment, pos token.Pos) bool {
	var names []string
	for _, r := range reads {
		ast.Inspect(r, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.FuncLit:
				return false // a closure reads its variables when it runs, natively too
			case *ast.SelectorExpr, *ast.Ident, *ast.IndexExpr:
				names = append(names, types.ExprString(x.(ast.Expr)))
			}
			return true
		})
	}
	for _, a := range assigned {
		if a.pos <= pos {
			continue
		}
		for _, name := range names {
			if name == a.target || strings.HasPrefix(name, a.target+".") || strings.HasPrefix(name, a.target+"[") {
				return true
			}
		}
	}

	return false
}

// inAny reports whether n lies in one of loops that is itself inside body.
func inAny(n ast.Node, loops []ast.Node, body *ast.BlockStmt) bool {
	for _, l := range loops {
		if body.Pos() <= l.Pos() && l.End() <= body.End() && l.Pos() <= n.Pos() && n.End() <= l.End() {
			return true
		}
	}

	return false
}
