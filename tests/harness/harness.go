// Package harness loads a Traefik middleware plugin the way Traefik v3.6.12
// does: a Yaegi v0.16.1 interpreter over a GOPATH holding the plugin's
// source, the restricted standard-library symbols, the manifest's import,
// CreateConfig and New evaluated and called through reflect, and the dynamic
// configuration decoded with the mapstructure settings Traefik uses.
//
// It exists so the plugin's tests exercise the interpreted code path that
// production runs, without starting a Traefik process. The equivalents in
// Traefik are pkg/plugins/builder.go (newMiddlewareBuilder),
// pkg/plugins/middlewareyaegi.go (newInterpreter, newYaegiMiddlewareBuilder,
// createConfig, newHandler) and pkg/plugins/manager.go (ReadManifest).
package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"

	"github.com/traefik/yaegi/interp"
	"github.com/traefik/yaegi/stdlib"
)

// Options says which plugin to load and from where.
type Options struct {
	// ModuleName is the plugin's module path, the localPlugins moduleName of
	// Traefik's static configuration. Required.
	ModuleName string
	// Dir is the plugin's source directory (the module root holding
	// .traefik.yml). It is linked into a temporary GOPATH. Required.
	Dir string
	// Stdout and Stderr receive what the plugin prints with the print and
	// println builtins. Traefik routes them to its log at DEBUG and ERROR
	// level. The plugin's os.Stdout and os.Stderr take them only when they
	// are *os.File (Yaegi v0.16.1, interp/use.go); otherwise, as in Traefik,
	// they stay the process's own. Default: discarded.
	Stdout, Stderr io.Writer
	// Env is the interpreter's environment. Default: os.Environ(), as Traefik.
	Env []string
}

// Plugin is a loaded plugin: one interpreter, as Traefik keeps one per
// plugin, from which any number of middleware instances are built.
type Plugin struct {
	// Manifest is the plugin's .traefik.yml.
	Manifest *Manifest
	// GoPath is the temporary GOPATH the interpreter reads the source from.
	GoPath string

	fnNew          reflect.Value
	fnCreateConfig reflect.Value
}

// Load builds a GOPATH linking opts.Dir at src/<ModuleName>, reads and checks
// the manifest, interprets the plugin's import and evaluates its CreateConfig
// and New. The GOPATH is removed by Close.
func Load(opts Options) (*Plugin, error) {
	if opts.ModuleName == "" || opts.Dir == "" {
		return nil, errors.New("harness: ModuleName and Dir are required")
	}

	goPath, err := linkGoPath(opts.ModuleName, opts.Dir)
	if err != nil {
		return nil, err
	}

	p, err := load(goPath, opts)
	if err != nil {
		os.RemoveAll(goPath)
		return nil, err
	}

	return p, nil
}

func load(goPath string, opts Options) (*Plugin, error) {
	m, err := ReadManifest(goPath, opts.ModuleName)
	if err != nil {
		return nil, err
	}

	if err := m.Check(opts.ModuleName); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}

	i, err := newInterpreter(goPath, m.Import, opts)
	if err != nil {
		return nil, err
	}

	pkg := m.PackageName()

	fnNew, err := i.Eval(pkg + ".New")
	if err != nil {
		return nil, fmt.Errorf("evaluating New: %w", err)
	}

	fnCreateConfig, err := i.Eval(pkg + ".CreateConfig")
	if err != nil {
		return nil, fmt.Errorf("evaluating CreateConfig: %w", err)
	}

	return &Plugin{
		Manifest:       m,
		GoPath:         goPath,
		fnNew:          fnNew,
		fnCreateConfig: fnCreateConfig,
	}, nil
}

// newInterpreter mirrors Traefik's newInterpreter: GoPath and the process
// environment, the standard library through yaegi's stdlib.Symbols (the
// restricted set: no os/exec, os.Exit and log.Fatal panic instead of exiting;
// unsafe and syscall are never added because the manifest may not ask for
// useUnsafe), then the plugin's import. Traefik also registers a symbol
// package for provider plugins, which a middleware never imports.
func newInterpreter(goPath, importPath string, opts Options) (*interp.Interpreter, error) {
	env := opts.Env
	if env == nil {
		env = os.Environ()
	}

	i := interp.New(interp.Options{
		GoPath: goPath,
		Env:    env,
		Stdout: orDiscard(opts.Stdout),
		Stderr: orDiscard(opts.Stderr),
	})

	if err := i.Use(stdlib.Symbols); err != nil {
		return nil, fmt.Errorf("loading stdlib symbols: %w", err)
	}

	if _, err := i.Eval(fmt.Sprintf("import %q", importPath)); err != nil {
		return nil, fmt.Errorf("importing plugin %q: %w", importPath, err)
	}

	return i, nil
}

// CreateConfig calls the plugin's CreateConfig and decodes config into its
// result with Traefik's mapstructure settings. The returned value is the
// plugin's *Config, as an interpreted reflect.Value.
func (p *Plugin) CreateConfig(config map[string]any) (reflect.Value, error) {
	out := p.fnCreateConfig.Call(nil)
	if len(out) != 1 {
		return reflect.Value{}, fmt.Errorf("CreateConfig returned %d values, want 1", len(out))
	}

	cfg := out[0]
	if err := DecodeConfig(config, cfg.Interface()); err != nil {
		return reflect.Value{}, err
	}

	return cfg, nil
}

// New builds one middleware instance: CreateConfig, decode, then New(ctx,
// next, cfg, name) through reflect, checking the results as Traefik's
// newHandler does. name is the qualified middleware name ("stepup@file").
func (p *Plugin) New(
	ctx context.Context,
	next http.Handler,
	config map[string]any,
	name string,
) (http.Handler, error) {
	cfg, err := p.CreateConfig(config)
	if err != nil {
		return nil, err
	}

	return p.NewWithConfig(ctx, next, cfg, name)
}

// NewWithConfig calls the plugin's New with an already decoded config value.
func (p *Plugin) NewWithConfig(
	ctx context.Context,
	next http.Handler,
	cfg reflect.Value,
	name string,
) (http.Handler, error) {
	args := []reflect.Value{
		reflect.ValueOf(ctx), reflect.ValueOf(next), cfg, reflect.ValueOf(name),
	}
	out := p.fnNew.Call(args)

	if len(out) > 1 && out[1].Interface() != nil {
		err, ok := out[1].Interface().(error)
		if !ok {
			return nil, fmt.Errorf("New returned a non-error %T", out[1].Interface())
		}

		return nil, err
	}

	h, ok := out[0].Interface().(http.Handler)
	if !ok {
		return nil, fmt.Errorf("New returned %T, not an http.Handler", out[0].Interface())
	}

	return h, nil
}

// Close removes the temporary GOPATH (the link, never the linked source).
func (p *Plugin) Close() error {
	return os.RemoveAll(p.GoPath)
}

// linkGoPath makes a temporary GOPATH with src/<moduleName> linked to dir, the
// layout of Traefik's plugins-local directory.
func linkGoPath(moduleName, dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("resolving %s: %w", dir, err)
	}

	goPath, err := os.MkdirTemp("", "harness-gopath-*")
	if err != nil {
		return "", fmt.Errorf("creating GOPATH: %w", err)
	}

	link := filepath.Join(goPath, "src", filepath.FromSlash(moduleName))
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		os.RemoveAll(goPath)
		return "", fmt.Errorf("creating GOPATH: %w", err)
	}

	if err := os.Symlink(abs, link); err != nil {
		os.RemoveAll(goPath)
		return "", fmt.Errorf("linking plugin source: %w", err)
	}

	return goPath, nil
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}

	return w
}
