package realparts

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ModulePath is the plugin's Go module path, also its local plugin moduleName.
const ModulePath = "github.com/stepup-auth/traefikstepup"

// EnvTraefik names the environment variable holding the Traefik binary path.
const EnvTraefik = "STEPUP_TRAEFIK"

// CheckoutRoot walks up from dir (the working directory when empty) to the
// directory whose go.mod declares ModulePath: the plugin's checkout root.
// Nested modules such as tests/e2e are skipped.
func CheckoutRoot(dir string) (string, error) {
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return "", fmt.Errorf("finding checkout root: %w", err)
		}
		dir = wd
	}

	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("finding checkout root: %w", err)
	}

	for {
		if declaresModule(filepath.Join(dir, "go.mod"), ModulePath) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod declaring %s above the working directory", ModulePath)
		}
		dir = parent
	}
}

// declaresModule reports whether the go.mod at path declares module mod.
func declaresModule(path, mod string) bool {
	data, err := os.ReadFile(path)
	if err != nil {
		return false
	}

	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 2 && fields[0] == "module" && strings.Trim(fields[1], `"`) == mod {
			return true
		}
	}

	return false
}

// TraefikBinary returns the Traefik binary to run: $STEPUP_TRAEFIK when set,
// otherwise whatever `scripts/tools.sh traefik` prints (which builds it into
// the cache the first time, about ten minutes).
func TraefikBinary(ctx context.Context, root string) (string, error) {
	if p := os.Getenv(EnvTraefik); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s: %w", EnvTraefik, err)
		}
		return p, nil
	}

	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, filepath.Join(root, "scripts", "tools.sh"), "traefik")
	cmd.Dir = root
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("scripts/tools.sh traefik: %w: %s", err, stderr.String())
	}

	lines := strings.Fields(stdout.String())
	if len(lines) == 0 {
		return "", errors.New("scripts/tools.sh traefik printed no path")
	}

	return lines[len(lines)-1], nil
}
