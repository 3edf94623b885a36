package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/shirou/gopsutil/v4/process"
)

// Module paths of the two local plugins Traefik loads.
const (
	stepupModule = "github.com/stepup-auth/traefikstepup"
	noopModule   = "github.com/stepup-auth/noop"
	// baselineModule is the -compare copy, renamed so that both load.
	baselineModule = "github.com/stepup-auth/traefikstepupbaseline"
	// floorModule is the -floor plugin (tests/floor-plugin).
	floorModule = "github.com/stepup-auth/floor"
)

// traefik is a running Traefik process with both plugins.
type traefik struct {
	url   string
	debug string // the API entry point with /debug/pprof, or "" (see -profile)
	dir   string
	cmd   *exec.Cmd
}

// startTraefik lays out a working directory (plugins-local links to the
// checkout and to the no-op plugin, static and dynamic files), starts the
// binary and waits until every route answers as expected.
func startTraefik(binary, checkout, baseline, dynamic string, ready map[string]int, debug bool) (*traefik, error) {
	dir, err := os.MkdirTemp("", "stepup-bench-")
	if err != nil {
		return nil, err
	}
	tr := &traefik{dir: dir}
	if err := tr.layout(checkout, baseline, dynamic, debug); err != nil {
		tr.stop()
		return nil, err
	}

	log, err := os.Create(filepath.Join(dir, "traefik.out"))
	if err != nil {
		tr.stop()
		return nil, err
	}
	tr.cmd = exec.Command(binary, "--configFile="+filepath.Join(dir, "traefik.yml"))
	tr.cmd.Dir = dir
	tr.cmd.Stdout = log
	tr.cmd.Stderr = log
	if err := tr.cmd.Start(); err != nil {
		tr.stop()
		return nil, fmt.Errorf("starting %s: %w", binary, err)
	}

	if err := tr.waitReady(ready, 90*time.Second); err != nil {
		out, _ := os.ReadFile(filepath.Join(dir, "traefik.out"))
		logs, _ := os.ReadFile(filepath.Join(dir, "traefik.log"))
		tr.stop()
		return nil, fmt.Errorf("%w\n--- traefik output ---\n%s%s", err, tail(string(out)), tail(string(logs)))
	}

	return tr, nil
}

func (tr *traefik) layout(checkout, baseline, dynamic string, debug bool) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	tr.url = fmt.Sprintf("http://127.0.0.1:%d", port)
	api := ""
	if debug {
		// Traefik's API on its own loopback entry point, with Go's
		// /debug/pprof handlers.
		debugPort, err := freePort()
		if err != nil {
			return err
		}
		tr.debug = fmt.Sprintf("http://127.0.0.1:%d", debugPort)
		api = fmt.Sprintf("  traefik:\n    address: \"127.0.0.1:%d\"\napi:\n  insecure: true\n  debug: true\n", debugPort)
	}

	links := map[string]string{
		stepupModule: checkout,
		noopModule:   filepath.Join(checkout, "tests", "noop-plugin"),
		floorModule:  filepath.Join(checkout, "tests", "floor-plugin"),
	}
	baselinePlugin := ""
	if baseline != "" {
		links[baselineModule] = baseline
		baselinePlugin = fmt.Sprintf("\n    baseline:\n      moduleName: %s", baselineModule)
	}
	for module, src := range links {
		link := filepath.Join(tr.dir, "plugins-local", "src", filepath.FromSlash(module))
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			return err
		}
		if err := os.Symlink(src, link); err != nil {
			return err
		}
	}

	static := fmt.Sprintf(`global:
  checkNewVersion: false
  sendAnonymousUsage: false
entryPoints:
  web:
    address: "127.0.0.1:%d"
%slog:
  level: ERROR
  filePath: %q
experimental:
  abortOnPluginFailure: true
  localPlugins:
    stepup:
      moduleName: %s
    noop:
      moduleName: %s
    floor:
      moduleName: %s%s
providers:
  file:
    filename: %q
`, port, api, filepath.Join(tr.dir, "traefik.log"), stepupModule, noopModule, floorModule, baselinePlugin, filepath.Join(tr.dir, "dynamic.yml"))

	if err := os.WriteFile(filepath.Join(tr.dir, "traefik.yml"), []byte(static), 0o644); err != nil {
		return err
	}

	return os.WriteFile(filepath.Join(tr.dir, "dynamic.yml"), []byte(dynamic), 0o644)
}

// waitReady polls each path until it answers its status.
func (tr *traefik) waitReady(ready map[string]int, timeout time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	for path, want := range ready {
		for {
			resp, err := client.Get(tr.url + path)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == want {
					break
				}
			}
			if logs, _ := os.ReadFile(filepath.Join(tr.dir, "traefik.log")); strings.Contains(string(logs), " ERR ") {
				return fmt.Errorf("traefik logged an error")
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("traefik: %s did not answer %d within %s (last: %v)", path, want, timeout, describe(resp, err))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	return nil
}

func describe(resp *http.Response, err error) string {
	if err != nil {
		return err.Error()
	}

	return resp.Status
}

// stop terminates Traefik and removes its working directory.
func (tr *traefik) stop() {
	if tr.cmd != nil && tr.cmd.Process != nil {
		_ = tr.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = tr.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = tr.cmd.Process.Kill()
			<-done
		}
	}
	_ = os.RemoveAll(tr.dir)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()

	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}

	return strings.Join(lines, "\n") + "\n"
}

// profile records a CPU profile of Traefik for d into file.
func (tr *traefik) profile(d time.Duration, file string) error {
	client := &http.Client{Timeout: d + 30*time.Second}
	resp, err := client.Get(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", tr.debug, int(d.Seconds())))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pprof: %s", resp.Status)
	}
	out, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, resp.Body); err != nil {
		out.Close()
		return err
	}

	return out.Close()
}

// cpuSeconds returns the user and system CPU time Traefik has used so far.
func (tr *traefik) cpuSeconds() (float64, error) {
	p, err := process.NewProcess(int32(tr.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	t, err := p.Times()
	if err != nil {
		return 0, err
	}

	return t.User + t.System, nil
}

// baselineCopy copies the plugin's runtime files from checkout into a
// directory under dir, renamed to baselineModule (module, imports and
// manifest; the package keeps its name, given as basePkg), and returns it.
func baselineCopy(checkout, dir string) (string, error) {
	dst := filepath.Join(dir, "baseline")
	for _, sub := range []string{".", "stepup"} {
		if err := os.MkdirAll(filepath.Join(dst, sub), 0o755); err != nil {
			return "", err
		}
		entries, err := os.ReadDir(filepath.Join(checkout, sub))
		if err != nil {
			return "", err
		}
		for _, e := range entries {
			name := e.Name()
			keep := strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go") ||
				sub == "." && (name == "go.mod" || name == ".traefik.yml")
			if e.IsDir() || !keep {
				continue
			}
			data, err := os.ReadFile(filepath.Join(checkout, sub, name))
			if err != nil {
				return "", err
			}
			text := strings.ReplaceAll(string(data), stepupModule, baselineModule)
			if name == ".traefik.yml" {
				text += "\nbasePkg: traefikstepup\n"
			}
			if err := os.WriteFile(filepath.Join(dst, sub, name), []byte(text), 0o644); err != nil {
				return "", err
			}
		}
	}

	return dst, nil
}
