package realparts

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// markerPrefix is the path of the router realparts adds to every dynamic
// configuration it writes; it answers 418 (noop@internal) once applied.
const markerPrefix = "/__realparts/generation/"

// TraefikOptions configures StartTraefik. The zero value is usable once
// Dynamic is set.
type TraefikOptions struct {
	// Binary is the Traefik executable. Default: TraefikBinary.
	Binary string
	// PluginSource is the directory linked as the local plugin's source.
	// Default: CheckoutRoot of the working directory.
	PluginSource string
	// Alias is the local plugin's name in the static configuration, used in
	// dynamic configuration as plugin.<Alias>. Default "stepup".
	Alias string
	// Dynamic is the initial dynamic configuration (file provider, YAML).
	// Go template actions ({{ }}) in it are evaluated by Traefik.
	Dynamic string
	// Port is the web entry point's port on 127.0.0.1. Default: a free port.
	Port int
	// AccessLog writes Traefik's access log to AccessLogPath.
	AccessLog bool
	// LogLevel is Traefik's log level. Default "DEBUG".
	LogLevel string
	// WorkDir holds the static file, dynamic files, logs and the
	// plugins-local link. Default: a new temporary directory that Stop removes.
	WorkDir string
	// ReadyTimeout bounds the wait for the first configuration to apply
	// (Yaegi interprets the plugin at start-up). Default 90 s.
	ReadyTimeout time.Duration
}

// Traefik is a running Traefik process. Its methods are safe for concurrent use.
type Traefik struct {
	// URL is the web entry point, http://127.0.0.1:<Port>.
	URL string
	// Port is the web entry point's port.
	Port int
	// APIURL is the traefik entry point serving the API (/api/...) and /ping.
	APIURL string
	// WorkDir is Traefik's working directory.
	WorkDir string
	// LogPath is Traefik's log file (log.filePath).
	LogPath string
	// AccessLogPath is the access log, written when AccessLog was set.
	AccessLogPath string

	dynamicDir    string
	removeWorkDir bool
	cmd           *exec.Cmd
	exited        chan struct{}
	exitErr       error

	mu         sync.Mutex
	generation int
}

// StartTraefik prepares a working directory, starts Traefik as a child
// process and waits until opts.Dynamic has been applied. On error nothing is
// left running.
func StartTraefik(ctx context.Context, opts TraefikOptions) (*Traefik, error) {
	if err := opts.complete(ctx); err != nil {
		return nil, err
	}

	tr, err := prepareTraefik(opts)
	if err != nil {
		return nil, err
	}

	if err := tr.start(opts.Binary); err != nil {
		tr.cleanWorkDir()
		return nil, err
	}

	readyCtx, cancel := context.WithTimeout(ctx, opts.ReadyTimeout)
	defer cancel()
	if err := tr.waitGeneration(readyCtx, 1, 0); err != nil {
		tail := tr.LogTail(40)
		tr.Stop()
		return nil, fmt.Errorf("waiting for Traefik: %w\n--- traefik log tail ---\n%s", err, tail)
	}

	return tr, nil
}

// StartTraefikT starts Traefik for a test and stops it at cleanup, first
// logging the tail of its log when the test failed.
func StartTraefikT(t TB, opts TraefikOptions) *Traefik {
	t.Helper()

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	tr, err := StartTraefik(ctx, opts)
	if err != nil {
		t.Fatalf("starting Traefik: %v", err)
	}

	t.Cleanup(func() {
		if t.Failed() {
			tr.Keep()
			t.Logf("--- traefik: notable log lines (full log kept in %s) ---\n%s",
				tr.LogPath, tr.NotableLog(60))
		}
		tr.Stop()
	})

	return tr
}

// complete fills in defaults, finding the checkout and the binary.
func (o *TraefikOptions) complete(ctx context.Context) error {
	if o.PluginSource == "" {
		root, err := CheckoutRoot("")
		if err != nil {
			return err
		}
		o.PluginSource = root
	}

	if _, err := os.Stat(filepath.Join(o.PluginSource, ".traefik.yml")); err != nil {
		return fmt.Errorf("plugin source %s has no .traefik.yml manifest, Traefik cannot load it: %w",
			o.PluginSource, err)
	}

	if o.Binary == "" {
		bin, err := TraefikBinary(ctx, o.PluginSource)
		if err != nil {
			return err
		}
		o.Binary = bin
	}

	if o.Alias == "" {
		o.Alias = "stepup"
	}
	if o.LogLevel == "" {
		o.LogLevel = "DEBUG"
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 90 * time.Second
	}

	return nil
}

// prepareTraefik lays out the working directory: plugins-local link, static
// file, dynamic directory with the initial configuration.
func prepareTraefik(opts TraefikOptions) (*Traefik, error) {
	tr := &Traefik{exited: make(chan struct{})}

	tr.WorkDir = opts.WorkDir
	if tr.WorkDir == "" {
		dir, err := os.MkdirTemp("", "realparts-traefik-")
		if err != nil {
			return nil, fmt.Errorf("creating work dir: %w", err)
		}
		tr.WorkDir = dir
		tr.removeWorkDir = true
	}

	if err := tr.layout(opts); err != nil {
		tr.cleanWorkDir()
		return nil, err
	}

	return tr, nil
}

// layout writes everything Traefik reads from its working directory.
func (tr *Traefik) layout(opts TraefikOptions) error {
	src, err := filepath.Abs(opts.PluginSource)
	if err != nil {
		return fmt.Errorf("plugin source: %w", err)
	}

	link := filepath.Join(tr.WorkDir, "plugins-local", "src", filepath.FromSlash(ModulePath))
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		return fmt.Errorf("plugins-local: %w", err)
	}
	if err := os.Symlink(src, link); err != nil {
		return fmt.Errorf("plugins-local link: %w", err)
	}

	tr.Port = opts.Port
	if tr.Port == 0 {
		if tr.Port, err = FreePort(); err != nil {
			return err
		}
	}
	apiPort, err := FreePort()
	if err != nil {
		return err
	}
	tr.URL = fmt.Sprintf("http://127.0.0.1:%d", tr.Port)
	tr.APIURL = fmt.Sprintf("http://127.0.0.1:%d", apiPort)
	tr.LogPath = filepath.Join(tr.WorkDir, "traefik.log")
	tr.AccessLogPath = filepath.Join(tr.WorkDir, "access.log")
	tr.dynamicDir = filepath.Join(tr.WorkDir, "dynamic")

	static := staticConfig(opts, tr, apiPort)
	if err := os.WriteFile(filepath.Join(tr.WorkDir, "traefik.yml"), []byte(static), 0o644); err != nil {
		return fmt.Errorf("static config: %w", err)
	}

	if err := os.MkdirAll(tr.dynamicDir, 0o755); err != nil {
		return fmt.Errorf("dynamic dir: %w", err)
	}

	return tr.writeDynamic(opts.Dynamic)
}

// staticConfig renders Traefik's static configuration.
func staticConfig(opts TraefikOptions, tr *Traefik, apiPort int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `global:
  checkNewVersion: false
  sendAnonymousUsage: false
entryPoints:
  web:
    address: "127.0.0.1:%d"
    transport:
      lifeCycle:
        graceTimeOut: 1s
  traefik:
    address: "127.0.0.1:%d"
api:
  insecure: true
  dashboard: false
ping:
  entryPoint: traefik
log:
  level: %s
  filePath: %q
  noColor: true
`, tr.Port, apiPort, opts.LogLevel, tr.LogPath)

	if opts.AccessLog {
		fmt.Fprintf(&b, "accessLog:\n  filePath: %q\n", tr.AccessLogPath)
	}

	fmt.Fprintf(&b, `experimental:
  abortOnPluginFailure: true
  localPlugins:
    %s:
      moduleName: %s
providers:
  providersThrottleDuration: 200ms
  file:
    directory: %q
    watch: true
`, opts.Alias, ModulePath, tr.dynamicDir)

	return b.String()
}

// start runs the binary and watches for its exit.
func (tr *Traefik) start(binary string) error {
	out, err := os.Create(filepath.Join(tr.WorkDir, "traefik.out"))
	if err != nil {
		return fmt.Errorf("traefik output file: %w", err)
	}

	tr.cmd = exec.Command(binary, "--configFile="+filepath.Join(tr.WorkDir, "traefik.yml"))
	tr.cmd.Dir = tr.WorkDir
	tr.cmd.Stdout = out
	tr.cmd.Stderr = out
	if err := tr.cmd.Start(); err != nil {
		out.Close()
		return fmt.Errorf("starting %s: %w", binary, err)
	}

	go func() {
		tr.exitErr = tr.cmd.Wait()
		out.Close()
		close(tr.exited)
	}()

	return nil
}

// SetDynamic replaces the dynamic configuration and waits until Traefik has
// applied it (the file provider watches the directory).
func (tr *Traefik) SetDynamic(ctx context.Context, dynamic string) error {
	tr.mu.Lock()
	defer tr.mu.Unlock()

	since := tr.logSize()
	if err := tr.writeDynamic(dynamic); err != nil {
		return err
	}

	return tr.waitGeneration(ctx, tr.generation, since)
}

// writeDynamic writes the user's file, then a marker router naming the next
// generation. On every change the provider reads the whole directory in name
// order, marker file first: a read that sees the new marker opens the user's
// file after it was replaced, so a configuration carrying the marker carries
// the new user file too. (With the marker read last, a read started by an
// earlier event could pair the new marker with the old user file.)
func (tr *Traefik) writeDynamic(dynamic string) error {
	if err := writeAtomic(filepath.Join(tr.dynamicDir, "user.yml"), dynamic); err != nil {
		return err
	}

	tr.generation++
	marker := fmt.Sprintf(`http:
  routers:
    realparts-generation:
      entryPoints: [web]
      rule: "Path(%s%s%d%s)"
      priority: 1000000000
      service: noop@internal
`, "`", markerPrefix, tr.generation, "`")

	return writeAtomic(filepath.Join(tr.dynamicDir, "00-realparts-generation.yml"), marker)
}

// writeAtomic writes through a temporary name the provider ignores.
func writeAtomic(path, content string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", filepath.Base(path), err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing %s: %w", filepath.Base(path), err)
	}

	return nil
}

// waitGeneration polls the marker router of generation gen until it answers
// 418, the process exits, the file provider logs an error after offset since
// of the log (the configuration does not parse) or ctx ends.
func (tr *Traefik) waitGeneration(ctx context.Context, gen int, since int64) error {
	url := fmt.Sprintf("%s%s%d", tr.URL, markerPrefix, gen)
	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()

	for {
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusTeapot {
				return nil
			}
		}

		if line := tr.providerError(since); line != "" {
			return fmt.Errorf("file provider rejected the dynamic configuration: %s", line)
		}

		select {
		case <-tr.exited:
			return fmt.Errorf("traefik exited: %v", tr.exitErr)
		case <-ctx.Done():
			return fmt.Errorf("configuration generation %d not applied: %w", gen, ctx.Err())
		case <-tick.C:
		}
	}
}

// Exited is closed when the process has exited.
func (tr *Traefik) Exited() <-chan struct{} { return tr.exited }

// Stop sends SIGTERM, kills the process if it is still running after five
// seconds, and removes a temporary working directory. Safe to call twice.
func (tr *Traefik) Stop() {
	if tr.cmd != nil && tr.cmd.Process != nil {
		select {
		case <-tr.exited:
		default:
			_ = tr.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-tr.exited:
			case <-time.After(5 * time.Second):
				_ = tr.cmd.Process.Kill()
				<-tr.exited
			}
		}
	}

	tr.cleanWorkDir()
}

// Keep stops Stop from removing a temporary working directory, so the logs
// survive for a post-mortem.
func (tr *Traefik) Keep() { tr.removeWorkDir = false }

// cleanWorkDir removes the working directory when StartTraefik created it.
func (tr *Traefik) cleanWorkDir() {
	if tr.removeWorkDir {
		_ = os.RemoveAll(tr.WorkDir)
		tr.removeWorkDir = false
	}
}
