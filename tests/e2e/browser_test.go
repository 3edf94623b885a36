package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/stepup-auth/traefikstepup/tests/e2e/realparts"
)

// The browser tests drive a headless Chromium through the built-in OIDC login
// with real parts only: two Traefik replicas (A and B, same configuration)
// loading the plugin, the Node test IdP (tests/idp) three times (two refuse
// urn:stepup:loa:2: one grants loa:1 instead, one answers an error), and the
// HTML app as backend.
//
// Hosts keep cookies apart (cookies ignore ports, not hosts): Traefik is
// browsed as localhost (middleware stepup), refuse.localhost
// (stepup-refuse, the downgrading IdP), refuse-error.localhost
// (stepup-refuse-error, the IdP answering unmet_authentication_requirements)
// and replica.localhost (stepup-replica,
// whose callback is always replica B's); the IdPs as 127.0.0.1. Chromium
// resolves every *.localhost name to loopback.
const (
	hostMain    = "localhost"
	hostRefuse  = "refuse.localhost"
	hostRefErr  = "refuse-error.localhost"
	hostReplica = "replica.localhost"

	browserClientID     = "stepup-browser"
	browserClientSecret = "stepup-browser-secret"
	browserSession      = "a-browser-test-session-secret-of-48-bytes-long!!"

	// adminMaxAge is the /admin rule's freshness; the leeway is 1s.
	adminMaxAge = 15 * time.Second
)

// browserStack is everything the browser journeys use.
type browserStack struct {
	idp, refuseIdP *realparts.IdP
	refuseErrIdP   *realparts.IdP
	app            *realparts.App
	a, b           *realparts.Traefik
	browser        *realparts.Browser
}

// origin returns http://host:port.
func origin(host string, port int) string { return fmt.Sprintf("http://%s:%d", host, port) }

// browserDynamic is the file-provider configuration both replicas load.
func browserDynamic(s *browserStack, portB int) string {
	middleware := func(issuer string, extra ...string) string {
		return realparts.LoginPlugin{
			Issuer: issuer, ClientID: browserClientID, ClientSecret: browserClientSecret,
			SessionSecret: browserSession, AdminMaxAge: adminMaxAge.String(), Leeway: "1s", Extra: extra,
		}.YAML()
	}
	router := func(name, host, mw string) string {
		return fmt.Sprintf(`
    %s:
      entryPoints: [web]
      rule: "Host(%s) && PathPrefix(%s)"
      service: app
      middlewares: [%s]`, name, "`"+host+"`", "`/`", mw)
	}

	var b strings.Builder
	b.WriteString("http:\n  routers:")
	b.WriteString(router("main", hostMain, "stepup"))
	b.WriteString(router("refuse", hostRefuse, "stepup-refuse"))
	b.WriteString(router("refuse-error", hostRefErr, "stepup-refuse-error"))
	b.WriteString(router("replica", hostReplica, "stepup-replica"))
	fmt.Fprintf(&b, `
  services:
    app:
      loadBalancer:
        servers:
          - url: %q
  middlewares:
    stepup:%s
    stepup-refuse:%s
    stepup-refuse-error:%s
    stepup-replica:%s
`, s.app.URL,
		middleware(s.idp.Issuer, "providerLogout: true"),
		middleware(s.refuseIdP.Issuer),
		middleware(s.refuseErrIdP.Issuer),
		middleware(s.idp.Issuer, fmt.Sprintf("redirectURL: %q", origin(hostReplica, portB)+"/_stepup/callback")))

	return b.String()
}

// startBrowserStack starts the parts: IdPs first (their clients name the
// Traefik ports), then both replicas and the browser in parallel.
func startBrowserStack(t *testing.T) *browserStack {
	t.Helper()

	root, err := realparts.CheckoutRoot("")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := realparts.InstallIdP(ctx, root); err != nil {
		t.Fatal(err)
	}
	portA, err := realparts.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	portB, err := realparts.FreePort()
	if err != nil {
		t.Fatal(err)
	}

	client := func(hosts ...string) realparts.IdPClient {
		c := realparts.IdPClient{ClientID: browserClientID, ClientSecret: browserClientSecret}
		for _, h := range hosts {
			for _, p := range []int{portA, portB} {
				c.RedirectURIs = append(c.RedirectURIs, origin(h, p)+"/_stepup/callback")
				c.PostLogoutRedirectURIs = append(c.PostLogoutRedirectURIs, origin(h, p)+"/")
			}
		}
		return c
	}
	s := &browserStack{}
	s.idp = realparts.StartIdPT(t, realparts.IdPOptions{Root: root,
		Clients: []realparts.IdPClient{client(hostMain, hostReplica)}})
	s.refuseIdP = realparts.StartIdPT(t, realparts.IdPOptions{Root: root, RefuseACR: "urn:stepup:loa:2",
		Clients: []realparts.IdPClient{client(hostRefuse)}})
	s.refuseErrIdP = realparts.StartIdPT(t, realparts.IdPOptions{Root: root, RefuseACR: "urn:stepup:loa:2",
		RefuseMode: "error", Clients: []realparts.IdPClient{client(hostRefErr)}})
	s.app = realparts.StartAppT(t)
	dynamic := browserDynamic(s, portB)

	var wg sync.WaitGroup
	var errA, errB, errBrowser error
	start := func(port int, tr **realparts.Traefik, errp *error) {
		defer wg.Done()
		*tr, *errp = realparts.StartTraefik(ctx, realparts.TraefikOptions{
			PluginSource: root, Dynamic: dynamic, Port: port, AccessLog: true, LogLevel: "INFO",
		})
	}
	wg.Add(3)
	go start(portA, &s.a, &errA)
	go start(portB, &s.b, &errB)
	go func() {
		defer wg.Done()
		s.browser, errBrowser = realparts.StartBrowser(ctx, realparts.BrowserOptions{Root: root})
	}()
	wg.Wait()

	for _, tr := range []*realparts.Traefik{s.a, s.b} {
		if tr == nil {
			continue
		}
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("--- traefik :%d: plugin decisions, warnings and errors (%s) ---\n%s",
					tr.Port, tr.LogPath, pluginLog(tr))
			}
			tr.Stop()
		})
	}
	if s.browser != nil {
		t.Cleanup(s.browser.Close)
	}
	for _, err := range []error{errA, errB, errBrowser} {
		if err != nil {
			t.Fatal(err)
		}
	}

	return s
}

// TestBrowserStepUp walks the step-up journeys in a real browser. The
// journeys of one session run in order and depend on each other.
func TestBrowserStepUp(t *testing.T) {
	started := time.Now()
	s := startBrowserStack(t)
	t.Logf("parts started in %s: traefik A :%d, B :%d, IdP %s, refusing IdP %s",
		time.Since(started).Round(time.Millisecond), s.a.Port, s.b.Port, s.idp.Issuer, s.refuseIdP.Issuer)
	shots := artifactsDir(t, "TestBrowserStepUp")

	a := origin(hostMain, s.a.Port)
	main := newTab(t, s.browser, shots)
	var steppedUpAt time.Time

	// step runs one journey as a subtest; once one stops half-way (Fatal),
	// the journeys of the same session that follow it are skipped. A journey
	// that completes with errors lets the next ones run.
	broken := false
	step := func(name string, f func(t *testing.T, tb *tab)) {
		t.Run(name, func(t *testing.T) {
			if broken {
				t.Skip("an earlier journey of this session stopped half-way")
			}
			completed := false
			defer func() { broken = broken || !completed }()
			f(t, main.use(t))
			completed = true
		})
	}

	step("1 sign in at level 1", func(t *testing.T, tb *tab) {
		m := tb.rec.mark()
		kind := tb.open(a + "/")
		tb.expect(kind, pageLogin, m, "opening / without a session")
		kind = tb.signIn("alice", "alice-password")
		tb.expect(kind, pageApp, m, "after the password")
		if u := tb.location(); u != a+"/" {
			t.Errorf("landed on %s, want %s/", u, a)
		}
		tb.checkIdentity(map[string]string{
			"X-Stepup-Subject": "alice", "X-Stepup-ACR": "urn:stepup:loa:1",
			"X-Stepup-AMR": "pwd", "X-Stepup-Email": "alice@example.test",
		})
		t.Logf("hops:\n%s", formatHops(tb.rec.since(m)))
		tb.screenshot("1-final-level1")
	})

	step("4 fetch to the API at level 1 gets the RFC 9470 challenge", func(t *testing.T, tb *tab) {
		m := tb.rec.mark()
		tb.do("click the fetch button", chromedp.Click(chromedp.ID("fetch-admin")))
		status := tb.waitText("fetch-status")
		challenge := tb.text("fetch-challenge")
		if status != "401" {
			t.Errorf("fetch POST /api/admin/x: status %q, want 401 (body %q)", status, tb.text("fetch-body"))
		}
		for _, want := range []string{`Bearer `, `error="insufficient_user_authentication"`,
			`acr_values="urn:stepup:loa:2"`} {
			if !strings.Contains(challenge, want) {
				t.Errorf("WWW-Authenticate %q lacks %s", challenge, want)
			}
		}
		if hops := tb.rec.since(m); len(hops) != 0 {
			t.Errorf("the fetch navigated the tab:\n%s", formatHops(hops))
		}
		if u := tb.location(); u != a+"/" {
			t.Errorf("the tab moved to %s", u)
		}
		tb.screenshot("4-final-fetch-401")
	})

	step("2 step up to level 2 with the second factor only", func(t *testing.T, tb *tab) {
		m := tb.rec.mark()
		kind := tb.open(a + "/admin")
		if kind == pageLogin {
			// Reported, then completed so the later journeys still run.
			t.Errorf("opening /admin with a fresh level-1 IdP session showed the PASSWORD page, want the "+
				"second-factor page only; authorization request: %s", authRequest(tb.rec.since(m)))
			tb.screenshot("2-password-page-instead-of-otp")
			kind = tb.signIn("alice", "alice-password")
		}
		tb.expect(kind, pageOTP, m, "opening /admin at level 1")
		tb.screenshot("2-stepup-otp")
		kind = tb.enterOTP(s.idp.OTPCode)
		steppedUpAt = time.Now()
		tb.expect(kind, pageApp, m, "after the second factor")
		if u := tb.location(); u != a+"/admin" {
			t.Errorf("landed on %s, want %s/admin", u, a)
		}
		tb.checkIdentity(map[string]string{
			"X-Stepup-Subject": "alice", "X-Stepup-ACR": "urn:stepup:loa:2", "X-Stepup-AMR": "pwd,otp,mfa",
		})
		t.Logf("hops:\n%s", formatHops(tb.rec.since(m)))
		tb.screenshot("2-final-level2")

		// The API now lets the same fetch through.
		tb.do("click the fetch button", chromedp.Click(chromedp.ID("fetch-admin")))
		if status := tb.waitText("fetch-status"); status != "200" {
			t.Errorf("fetch POST /api/admin/x at level 2: status %q, want 200 (WWW-Authenticate %q)",
				status, tb.text("fetch-challenge"))
		}
	})

	step("3 after the max age, /admin asks again", func(t *testing.T, tb *tab) {
		wait := time.Until(steppedUpAt.Add(adminMaxAge + time.Second + 1500*time.Millisecond))
		t.Logf("waiting %s for the %s freshness window (plus 1s leeway) to pass", wait.Round(time.Millisecond), adminMaxAge)
		time.Sleep(wait)
		m := tb.rec.mark()
		tb.do("reload /admin", chromedp.Reload())
		kind := tb.settle()
		tb.expect(kind, pageLogin, m, "reloading /admin after the max age")
		kind = tb.signIn("alice", "alice-password")
		tb.expect(kind, pageOTP, m, "after the password (level 2 asked with prompt=login)")
		tb.screenshot("3-stepup-otp-again")
		kind = tb.enterOTP(s.idp.OTPCode)
		tb.expect(kind, pageApp, m, "after the second factor")
		if u := tb.location(); u != a+"/admin" {
			t.Errorf("landed on %s, want %s/admin", u, a)
		}
		tb.checkIdentity(map[string]string{"X-Stepup-ACR": "urn:stepup:loa:2", "X-Stepup-AMR": "pwd,otp,mfa"})
		req := authRequest(tb.rec.since(m))
		for _, want := range []string{"max_age=", "prompt=login", "acr_values=urn"} {
			if !strings.Contains(req, want) {
				t.Errorf("authorization request lacks %s: %s", want, req)
			}
		}
		t.Logf("hops:\n%s", formatHops(tb.rec.since(m)))
		tb.screenshot("3-final-level2-again")
	})

	step("6 logout ends the session", func(t *testing.T, tb *tab) {
		m := tb.rec.mark()
		kind := tb.open(a + "/_stepup/logout")
		tb.expect(kind, pageLogin, m, "logging out, then back at /")
		if names := tb.cookieNames(a + "/"); contains(names, "stepup_session") {
			t.Errorf("the session cookie survived the logout: cookies %v", names)
		}
		urls := hopURLs(tb.rec.since(m))
		if len(urls) == 0 || !strings.HasSuffix(urls[0], "/_stepup/logout") {
			t.Errorf("first hop %v, want the logout", urls)
		}
		t.Logf("hops:\n%s", formatHops(tb.rec.since(m)))
		tb.screenshot("6-final-signin-again")

		// Opening / again asks to sign in too (no silent session).
		m = tb.rec.mark()
		tb.expect(tb.open(a+"/"), pageLogin, m, "opening / after the logout")
	})

	t.Run("5 an IdP that grants level 1 instead of 2 ends on the 403 page", func(t *testing.T) {
		refused(t, newTab(t, s.browser, shots), origin(hostRefuse, s.a.Port), "5-final-403-downgrade",
			"Stronger sign-in required", true)
	})

	t.Run("5b an IdP that answers unmet_authentication_requirements ends on the 403 page", func(t *testing.T) {
		refused(t, newTab(t, s.browser, shots), origin(hostRefErr, s.a.Port), "5b-final-403-error",
			"Stronger sign-in required", false)
	})

	t.Run("7 replicas share sessions and complete each other's logins", func(t *testing.T) {
		tb := newTab(t, s.browser, shots)
		a, b := origin(hostMain, s.a.Port), origin(hostMain, s.b.Port)
		m := tb.rec.mark()
		tb.expect(tb.open(a+"/"), pageLogin, m, "opening / on replica A")
		tb.expect(tb.signIn("bob", "bob-password"), pageApp, m, "after the password")
		if u := tb.location(); u != a+"/" {
			t.Errorf("landed on %s, want %s/", u, a)
		}

		// A session made by A is accepted by B: no redirect at all.
		m = tb.rec.mark()
		tb.expect(tb.open(b+"/"), pageApp, m, "opening / on replica B with A's session")
		if hops := tb.rec.since(m); len(hops) != 1 || hops[0].Status != 200 {
			t.Errorf("replica B did not accept A's session directly:\n%s", formatHops(hops))
		}
		tb.checkIdentity(map[string]string{"X-Stepup-Subject": "bob", "X-Stepup-ACR": "urn:stepup:loa:1"})

		// A login started on A (replica host) completes on B's callback;
		// then A accepts the session B made.
		ra, rb := origin(hostReplica, s.a.Port), origin(hostReplica, s.b.Port)
		m = tb.rec.mark()
		tb.expect(tb.open(ra+"/"), pageApp, m, "opening / on replica A (IdP session: silent)")
		urls := hopURLs(tb.rec.since(m))
		if len(urls) == 0 || urls[0] != "302 "+ra+"/" {
			t.Errorf("the login did not start on replica A: %v", urls)
		}
		if !contains(urls, "303 "+rb+"/_stepup/callback") {
			t.Errorf("the callback was not completed by replica B: %v", urls)
		}
		if u := tb.location(); u != rb+"/" {
			t.Errorf("landed on %s, want %s/", u, rb)
		}
		m = tb.rec.mark()
		tb.expect(tb.open(ra+"/"), pageApp, m, "opening / on replica A with B's session")
		if hops := tb.rec.since(m); len(hops) != 1 || hops[0].Status != 200 {
			t.Errorf("replica A did not accept B's session directly:\n%s", formatHops(hops))
		}
		tb.checkIdentity(map[string]string{"X-Stepup-Subject": "bob", "X-Stepup-ACR": "urn:stepup:loa:1"})
		tb.screenshot("7-final-replica")
	})
	t.Logf("browser suite: %s", time.Since(started).Round(time.Millisecond))
}

// refused opens /admin at base, whose IdP never grants urn:stepup:loa:2,
// and checks the journey ends on the plugin's 403 page titled title after a
// handful of hops, and stays there. With password, the IdP asks for it first.
func refused(t *testing.T, tb *tab, base, shot, title string, password bool) {
	t.Helper()

	m := tb.rec.mark()
	kind := tb.open(base + "/admin")
	if password {
		tb.expect(kind, pageLogin, m, "opening /admin without a session")
		kind = tb.signIn("alice", "alice-password")
	}
	tb.expect(kind, pageStepup, m, "at the refusing IdP")
	gotTitle, msg := tb.text("stepup-title"), tb.text("stepup-message")
	if gotTitle != title {
		t.Errorf("403 page titled %q, want %q", gotTitle, title)
	}
	if !strings.Contains(msg, "urn:stepup:loa:2") {
		t.Errorf("403 page %q does not name the required level", msg)
	}
	time.Sleep(1500 * time.Millisecond) // a loop would keep navigating
	hops := tb.rec.since(m)
	if last := hops[len(hops)-1]; last.Status != 403 || !strings.Contains(last.URL, "/_stepup/callback") {
		t.Errorf("last hop %s, want the callback answering 403", last)
	}
	if len(hops) > 10 {
		t.Errorf("%d document hops from /admin to the 403 page, want a handful (a loop?):\n%s",
			len(hops), formatHops(hops))
	}
	t.Logf("title %q, message %q\nhops (%d):\n%s", gotTitle, msg, len(hops), formatHops(hops))
	tb.screenshot(shot)
}

// pluginLog returns the plugin's decision lines and Traefik's warnings and
// errors, the last 60.
func pluginLog(tr *realparts.Traefik) string {
	var lines []string
	for _, line := range strings.Split(tr.Log(), "\n") {
		if strings.Contains(line, "decision=") || strings.Contains(line, " ERR ") || strings.Contains(line, " WRN ") {
			lines = append(lines, line)
		}
	}
	if len(lines) > 60 {
		lines = lines[len(lines)-60:]
	}

	return strings.Join(lines, "\n")
}

// authRequest returns the first authorization request URL among hops.
func authRequest(hops []hop) string {
	for _, h := range hops {
		if strings.Contains(h.URL, "/auth?") {
			return h.URL
		}
	}

	return "(none)"
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}

	return false
}
