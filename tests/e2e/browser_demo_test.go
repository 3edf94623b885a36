package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stepup-auth/traefikstepup/tests/e2e/realparts"
)

// TestBrowserDemo walks the readme's demo steps in Chromium against the
// demo program of `make demo` (tests/e2e/cmd/demo), which it builds and
// starts on free loopback ports and stops with Ctrl-C's signal, as a person
// would: alice signs in, steps up on /admin with the second factor and logs
// out; bob, who is not in the group admins, steps up on /admin too and is
// refused with 403. With STEPUP_DEMO_URL set (e.g. http://localhost:8000) it
// walks an already running demo instead.
func TestBrowserDemo(t *testing.T) {
	base := os.Getenv("STEPUP_DEMO_URL")
	if base == "" {
		base = startDemo(t)
	}
	b := realparts.StartBrowserT(t, realparts.BrowserOptions{})
	tb := newTab(t, b, artifactsDir(t, "TestBrowserDemo"))

	// Step 1: sign in at level 1.
	m := tb.rec.mark()
	tb.expect(tb.open(base+"/"), pageLogin, m, "opening /")
	tb.expect(tb.signIn("alice", "alice-password"), pageApp, m, "after the password")
	tb.checkIdentity(map[string]string{"X-Stepup-ACR": "urn:stepup:loa:1", "X-Stepup-AMR": "pwd"})

	// Step 3: step up on /admin with the second factor only.
	m = tb.rec.mark()
	tb.expect(tb.open(base+"/admin"), pageOTP, m, "opening /admin")
	tb.screenshot("stepup-otp")
	tb.expect(tb.enterOTP("123456"), pageApp, m, "after the second factor")
	tb.checkIdentity(map[string]string{"X-Stepup-ACR": "urn:stepup:loa:2", "X-Stepup-AMR": "pwd,otp,mfa"})
	tb.screenshot("final-admin")

	// Step 6: log out, here and at the provider.
	m = tb.rec.mark()
	tb.expect(tb.open(base+"/_stepup/logout"), pageLogin, m, "after logging out")
	t.Logf("hops of the logout:\n%s", formatHops(tb.rec.since(m)))

	// Step 7: bob steps up on /admin, then lacks the group: 403.
	m = tb.rec.mark()
	tb.expect(tb.open(base+"/admin"), pageLogin, m, "opening /admin signed out")
	tb.expect(tb.signIn("bob", "bob-password"), pageOTP, m, "bob after the password")
	tb.expect(tb.enterOTP("123456"), pageStepup, m, "bob after the second factor")
	if title := tb.text("stepup-title"); title != "Access denied" {
		t.Errorf("bob's page is titled %q, want %q", title, "Access denied")
	}
	hops := tb.rec.since(m)
	if last := hops[len(hops)-1]; last.Status != 403 || !strings.HasSuffix(last.URL, "/admin") {
		t.Errorf("bob ended on %s, want 403 on /admin\nhops:\n%s", last, formatHops(hops))
	}
	tb.screenshot("bob-403")
}

// startDemo builds the demo program, starts it on free ports with -quiet,
// waits until it prints its guide and returns the URL to open. Cleanup
// interrupts it and checks that it stops everything it started.
func startDemo(t *testing.T) string {
	t.Helper()

	bin := filepath.Join(t.TempDir(), "stepup-demo")
	build := exec.Command("go", "build", "-o", bin, "./cmd/demo")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the demo: %v\n%s", err, out)
	}
	traefikPort, err := realparts.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	idpPort, err := realparts.FreePort()
	if err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(bin, "-quiet",
		fmt.Sprintf("-traefik-port=%d", traefikPort), fmt.Sprintf("-idp-port=%d", idpPort))
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the demo: %v", err)
	}

	// The demo's output, line by line, until it ends.
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var printed []string
	wait := func(what string, timeout time.Duration) bool {
		deadline := time.After(timeout)
		for {
			select {
			case line, ok := <-lines:
				if !ok {
					return false
				}
				printed = append(printed, line)
				if strings.Contains(line, what) {
					return true
				}
			case <-deadline:
				return false
			}
		}
	}

	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		stopped := wait("demo: stopped Traefik, the OpenID provider and the app", 30*time.Second)
		go func() { // the rest, so that the demo never blocks on its output
			for range lines {
			}
		}()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("the demo ended with %v", err)
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("the demo did not exit after SIGINT")
		}
		if !stopped {
			t.Errorf("the demo did not say it stopped everything; it printed:\n%s", strings.Join(printed, "\n"))
		}
	})

	if !wait("traefikstepup demo is running.", 3*time.Minute) {
		t.Fatalf("the demo did not start; it printed:\n%s", strings.Join(printed, "\n"))
	}

	return fmt.Sprintf("http://localhost:%d", traefikPort)
}
