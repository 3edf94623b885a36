package realparts

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// IdPClient is one relying party registered at the test OpenID provider
// (tests/idp, IDP_CLIENTS). Empty optional fields are left out.
type IdPClient struct {
	ClientID                string   `json:"client_id"`
	ClientSecret            string   `json:"client_secret"`
	RedirectURIs            []string `json:"redirect_uris"`
	PostLogoutRedirectURIs  []string `json:"post_logout_redirect_uris,omitempty"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method,omitempty"`
}

// IdPOptions configures StartIdP. The zero value starts the provider on a
// free port of 127.0.0.1 with its default demo client.
type IdPOptions struct {
	// Root is the checkout root holding tests/idp. Default: CheckoutRoot.
	Root string
	// Port is the TCP port; 0 lets the provider pick a free one.
	Port int
	// Clients are registered instead of the provider's demo client.
	Clients []IdPClient
	// OTPCode is the accepted second-factor code. Default "123456".
	OTPCode string
	// RefuseACR is an ACR the provider never grants (IDP_REFUSE_ACR).
	RefuseACR string
	// RefuseMode is "downgrade" (default) or "error" (IDP_REFUSE_MODE).
	RefuseMode string
	// Env holds further IDP_* variables, "NAME=value".
	Env []string
	// Output receives the provider's stderr (its request log). Default:
	// kept in memory, see IdP.Log.
	Output io.Writer
	// ReadyTimeout bounds the wait for the "idp ready" line. Default 30 s.
	ReadyTimeout time.Duration
}

// IdP is a running test OpenID provider (node tests/idp/idp.js).
type IdP struct {
	// Issuer is the provider's issuer, http://127.0.0.1:<port>.
	Issuer string
	// OTPCode is the second-factor code it accepts.
	OTPCode string

	cmd     *exec.Cmd
	exited  chan struct{}
	exitErr error
	log     *lockedBuffer
	stop    sync.Once
}

// idpReadyPrefix starts the one line the provider prints once it listens.
const idpReadyPrefix = "idp ready "

// InstallIdP runs `scripts/idp.sh install` in root: npm ci when the
// provider's lock file changed since the last install, else nothing.
func InstallIdP(ctx context.Context, root string) error {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, filepath.Join(root, "scripts", "idp.sh"), "install")
	cmd.Dir = root
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("scripts/idp.sh install: %w: %s", err, out.String())
	}

	return nil
}

// StartIdP starts the provider and waits for its ready line. Its npm packages
// must be installed (InstallIdP). On error nothing is left running.
func StartIdP(ctx context.Context, opts IdPOptions) (*IdP, error) {
	if opts.Root == "" {
		root, err := CheckoutRoot("")
		if err != nil {
			return nil, err
		}
		opts.Root = root
	}
	if _, err := os.Stat(filepath.Join(opts.Root, "tests", "idp", "node_modules", "oidc-provider")); err != nil {
		return nil, fmt.Errorf("the IdP's npm packages are missing (run scripts/idp.sh install): %w", err)
	}
	if opts.OTPCode == "" {
		opts.OTPCode = "123456"
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 30 * time.Second
	}
	env, err := opts.environ()
	if err != nil {
		return nil, err
	}

	idp := &IdP{OTPCode: opts.OTPCode, exited: make(chan struct{}), log: &lockedBuffer{}}
	idp.cmd = exec.Command("node", filepath.Join("tests", "idp", "idp.js"))
	idp.cmd.Dir = opts.Root
	idp.cmd.Env = env
	var stderr io.Writer = idp.log
	if opts.Output != nil {
		stderr = io.MultiWriter(idp.log, opts.Output)
	}
	idp.cmd.Stderr = stderr
	// A pipe of our own: exec copies stdout into it, and Wait returns once
	// the copy is done, so reading it never races with Wait.
	pr, pw := io.Pipe()
	idp.cmd.Stdout = pw
	if err := idp.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting node tests/idp/idp.js: %w", err)
	}

	ready := make(chan string, 1)
	go idp.readStdout(pr, ready)
	go func() {
		idp.exitErr = idp.cmd.Wait()
		pw.Close()
		close(idp.exited)
	}()

	timer := time.NewTimer(opts.ReadyTimeout)
	defer timer.Stop()
	select {
	case issuer := <-ready:
		idp.Issuer = issuer
		return idp, nil
	case <-idp.exited:
		return nil, fmt.Errorf("IdP exited before it was ready: %v\n%s", idp.exitErr, idp.Log())
	case <-timer.C:
		idp.Stop()
		return nil, fmt.Errorf("IdP not ready after %s\n%s", opts.ReadyTimeout, idp.Log())
	case <-ctx.Done():
		idp.Stop()
		return nil, fmt.Errorf("waiting for the IdP: %w", ctx.Err())
	}
}

// StartIdPT starts the provider for a test, stopping it at cleanup and
// logging its request log when the test failed.
func StartIdPT(t TB, opts IdPOptions) *IdP {
	t.Helper()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	idp, err := StartIdP(ctx, opts)
	if err != nil {
		t.Fatalf("starting the IdP: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- IdP log (%s) ---\n%s", idp.Issuer, idp.Log())
		}
		idp.Stop()
	})

	return idp
}

// environ builds the provider's environment from the options.
func (o IdPOptions) environ() ([]string, error) {
	env := append(os.Environ(),
		"IDP_HOST=127.0.0.1",
		"IDP_PORT="+strconv.Itoa(o.Port),
		"IDP_OTP_CODE="+o.OTPCode,
	)
	if len(o.Clients) > 0 {
		b, err := json.Marshal(o.Clients)
		if err != nil {
			return nil, fmt.Errorf("encoding IDP_CLIENTS: %w", err)
		}
		env = append(env, "IDP_CLIENTS="+string(b))
	}
	if o.RefuseACR != "" {
		env = append(env, "IDP_REFUSE_ACR="+o.RefuseACR)
	}
	if o.RefuseMode != "" {
		env = append(env, "IDP_REFUSE_MODE="+o.RefuseMode)
	}

	return append(env, o.Env...), nil
}

// readStdout sends the issuer of the ready line, then drains the pipe.
func (idp *IdP) readStdout(r io.Reader, ready chan<- string) {
	sc := bufio.NewScanner(r)
	sent := false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !sent && strings.HasPrefix(line, idpReadyPrefix) {
			ready <- strings.TrimSpace(strings.TrimPrefix(line, idpReadyPrefix))
			sent = true
			continue
		}
		_, _ = idp.log.Write([]byte(line + "\n"))
	}
}

// Exited is closed when the process has exited.
func (idp *IdP) Exited() <-chan struct{} { return idp.exited }

// Log returns what the provider wrote so far (its request log on stderr).
func (idp *IdP) Log() string { return idp.log.String() }

// Stop sends SIGTERM and waits for the exit, killing the process after five
// seconds. Safe to call more than once.
func (idp *IdP) Stop() {
	idp.stop.Do(func() {
		if idp.cmd == nil || idp.cmd.Process == nil {
			return
		}
		select {
		case <-idp.exited:
			return
		default:
		}
		_ = idp.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-idp.exited:
		case <-time.After(5 * time.Second):
			_ = idp.cmd.Process.Kill()
			<-idp.exited
		}
	})
}

// lockedBuffer is a bytes.Buffer safe for concurrent writers and readers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()

	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()

	return b.buf.String()
}
