package e2e

import (
	"os"
	"testing"

	"github.com/stepup-auth/traefikstepup/tests/e2e/realparts"
)

// TestBrowserDemo drives one journey against a running `make demo`: sign in,
// step up on /admin, log out. It runs only when STEPUP_DEMO_URL names the
// demo, e.g. STEPUP_DEMO_URL=http://localhost:8000 go test -run BrowserDemo.
func TestBrowserDemo(t *testing.T) {
	base := os.Getenv("STEPUP_DEMO_URL")
	if base == "" {
		t.Skip("STEPUP_DEMO_URL is not set (start make demo and point it there)")
	}
	b := realparts.StartBrowserT(t, realparts.BrowserOptions{})
	tb := newTab(t, b, artifactsDir(t, "TestBrowserDemo"))

	m := tb.rec.mark()
	tb.expect(tb.open(base+"/"), pageLogin, m, "opening /")
	tb.expect(tb.signIn("alice", "alice-password"), pageApp, m, "after the password")
	tb.checkIdentity(map[string]string{"X-Stepup-ACR": "urn:stepup:loa:1", "X-Stepup-AMR": "pwd"})

	m = tb.rec.mark()
	kind := tb.open(base + "/admin")
	if kind == pageLogin {
		t.Logf("the demo asked for the password again before the second factor")
		kind = tb.signIn("alice", "alice-password")
	}
	tb.expect(kind, pageOTP, m, "opening /admin")
	tb.screenshot("stepup-otp")
	tb.expect(tb.enterOTP("123456"), pageApp, m, "after the second factor")
	tb.checkIdentity(map[string]string{"X-Stepup-ACR": "urn:stepup:loa:2", "X-Stepup-AMR": "pwd,otp,mfa"})
	tb.screenshot("final-admin")

	m = tb.rec.mark()
	tb.expect(tb.open(base+"/_stepup/logout"), pageLogin, m, "after logging out")
	t.Logf("hops of the logout:\n%s", formatHops(tb.rec.since(m)))
}
