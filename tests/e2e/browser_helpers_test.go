package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/stepup-auth/traefikstepup/tests/e2e/realparts"
)

// Page kinds the browser can be on, recognised by their stable element ids
// (tests/idp/README.md, login.go, realparts.App).
const (
	pageLogin   = "idp-login"   // the IdP's sign-in form
	pageOTP     = "idp-otp"     // the IdP's second-factor form
	pageIdPErr  = "idp-error"   // an IdP error that cannot go back to the client
	pageSignOut = "idp-signout" // the IdP's sign-out confirmation / signed-out page
	pageApp     = "app"         // the backend's page
	pageStepup  = "stepup-page" // the plugin's own page (403, sign-in failed, ...)
	pageOther   = "other"       // anything else (a bare 401, a browser error page)
)

// classifyJS names the page the tab shows, or "" while it is still loading.
const classifyJS = `(() => {
  if (document.readyState !== 'complete') return '';
  const kinds = [
    ['` + pageOTP + `', '#otp-form'], ['` + pageLogin + `', '#login-form'],
    ['` + pageStepup + `', '#stepup-title'], ['` + pageApp + `', '#headers'],
    ['` + pageIdPErr + `', '#error-code'], ['` + pageSignOut + `', '#signed-out, #logout-submit'],
  ];
  for (const [kind, sel] of kinds) { if (document.querySelector(sel)) return kind; }
  return '` + pageOther + `';
})()`

// hop is one document response the tab received: a redirect or a page.
type hop struct {
	URL    string
	Status int64
}

func (h hop) String() string { return fmt.Sprintf("%d %s", h.Status, h.URL) }

// recorder keeps the document responses of a tab, redirects included, in
// the order the browser reported them.
type recorder struct {
	mu   sync.Mutex
	hops []hop
}

// listen is the chromedp listener: it must return fast.
func (r *recorder) listen(ev any) {
	switch e := ev.(type) {
	case *network.EventRequestWillBeSent:
		if e.Type == network.ResourceTypeDocument && e.RedirectResponse != nil {
			r.add(hop{URL: e.RedirectResponse.URL, Status: e.RedirectResponse.Status})
		}
	case *network.EventResponseReceived:
		if e.Type == network.ResourceTypeDocument {
			r.add(hop{URL: e.Response.URL, Status: e.Response.Status})
		}
	}
}

func (r *recorder) add(h hop) {
	r.mu.Lock()
	r.hops = append(r.hops, h)
	r.mu.Unlock()
}

// mark returns the number of hops so far, for since.
func (r *recorder) mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()

	return len(r.hops)
}

// since returns the hops recorded after mark m.
func (r *recorder) since(m int) []hop {
	r.mu.Lock()
	defer r.mu.Unlock()

	return append([]hop(nil), r.hops[m:]...)
}

// tab is one browser tab in its own browser context (own cookies), with the
// hops it made and a directory for screenshots.
type tab struct {
	t     *testing.T
	ctx   context.Context
	rec   *recorder
	shots string
}

// newTab opens a tab in a fresh browser context of b, closed at cleanup of t.
func newTab(t *testing.T, b *realparts.Browser, shots string) *tab {
	t.Helper()

	ctx, cancel := b.NewSession()
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("opening a tab: %v", err)
	}
	rec := &recorder{}
	if err := chromedp.Listen(ctx, rec.listen); err != nil {
		t.Fatalf("listening to the tab: %v", err)
	}

	return &tab{t: t, ctx: ctx, rec: rec, shots: shots}
}

// use returns the tab bound to subtest t (for t.Fatalf and the logs).
func (tb *tab) use(t *testing.T) *tab {
	c := *tb
	c.t = t

	return &c
}

// do runs chromedp actions, failing the test on error.
func (tb *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()

	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.t.Fatalf("%s: %v\nhops so far:\n%s", what, err, formatHops(tb.rec.since(0)))
	}
}

// open navigates to u and waits for the resulting page to settle.
func (tb *tab) open(u string) string {
	tb.t.Helper()
	tb.do("open "+u, chromedp.Navigate(u))

	return tb.settle()
}

// click clicks the element with id and waits for the page to settle.
func (tb *tab) click(id string) string {
	tb.t.Helper()
	tb.do("click #"+id, chromedp.Click(chromedp.ID(id)))

	return tb.settle()
}

// settle waits until the tab shows a loaded page and has made no document
// request for a moment (redirect chains and auto-submitted forms done), and
// returns the page's kind.
func (tb *tab) settle() string {
	tb.t.Helper()

	deadline := time.Now().Add(20 * time.Second)
	lastCount, stableSince, kind := -1, time.Now(), ""
	for time.Now().Before(deadline) {
		n := tb.rec.mark()
		if n != lastCount {
			lastCount, stableSince = n, time.Now()
		}
		k, err := tb.kind()
		if err == nil && k != "" && time.Since(stableSince) >= 400*time.Millisecond {
			return k
		}
		kind = k
		time.Sleep(100 * time.Millisecond)
	}
	tb.t.Fatalf("the page did not settle in 20s (last kind %q)\nhops:\n%s", kind, formatHops(tb.rec.since(0)))

	return ""
}

// kind classifies the current page ("" while loading).
func (tb *tab) kind() (string, error) {
	ctx, cancel := context.WithTimeout(tb.ctx, 3*time.Second)
	defer cancel()

	return chromedp.Run(ctx, chromedp.Evaluate[string](classifyJS))
}

// waitText waits until the element with id has text, and returns it.
func (tb *tab) waitText(id string) string {
	tb.t.Helper()

	ctx, cancel := context.WithTimeout(tb.ctx, 15*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Poll[string](
		"document.getElementById('"+id+"').textContent || null",
		chromedp.WithPollingInterval(50*time.Millisecond)))
	if err != nil {
		tb.t.Fatalf("waiting for #%s on %s: %v", id, tb.location(), err)
	}

	return s
}

// location returns the tab's URL.
func (tb *tab) location() string {
	tb.t.Helper()

	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	u, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		tb.t.Fatalf("reading the location: %v", err)
	}

	return u
}

// text returns the text of the element with id.
func (tb *tab) text(id string) string {
	tb.t.Helper()

	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.ID(id)))
	if err != nil {
		tb.t.Fatalf("reading #%s on %s: %v", id, tb.location(), err)
	}

	return s
}

// expect fails the test unless the settled page is of kind want, showing
// the hops since mark m.
func (tb *tab) expect(got, want string, m int, what string) {
	tb.t.Helper()
	if got == want {
		return
	}
	detail := ""
	if got == pageStepup {
		detail = fmt.Sprintf("\nplugin page: %q: %q", tb.text("stepup-title"), tb.text("stepup-message"))
	}
	tb.t.Fatalf("%s: on %s page %s, want the %s page%s\nhops:\n%s",
		what, got, tb.location(), want, detail, formatHops(tb.rec.since(m)))
}

// signIn fills the IdP's sign-in form and submits it.
func (tb *tab) signIn(user, password string) string {
	tb.t.Helper()
	tb.do("filling the sign-in form",
		chromedp.SetValue(chromedp.ID("username"), user),
		chromedp.SetValue(chromedp.ID("password"), password))

	return tb.click("login-submit")
}

// enterOTP fills the IdP's second-factor form and submits it.
func (tb *tab) enterOTP(code string) string {
	tb.t.Helper()
	tb.do("filling the second-factor form", chromedp.SetValue(chromedp.ID("otp"), code))

	return tb.click("otp-submit")
}

// identity parses the app's #headers: identity header name (lower case) to value.
func (tb *tab) identity() map[string]string {
	tb.t.Helper()

	out := map[string]string{}
	for _, line := range strings.Split(tb.text("headers"), "\n") {
		name, value, ok := strings.Cut(line, ": ")
		if ok {
			out[strings.ToLower(name)] = value
		}
	}

	return out
}

// checkIdentity fails the test unless the app received these identity headers.
func (tb *tab) checkIdentity(want map[string]string) {
	tb.t.Helper()

	got := tb.identity()
	for name, value := range want {
		if got[strings.ToLower(name)] != value {
			tb.t.Errorf("backend saw %s = %q, want %q (all identity headers: %v)",
				name, got[strings.ToLower(name)], value, got)
		}
	}
}

// screenshot saves the viewport as <shots>/<name>.png and logs the path.
func (tb *tab) screenshot(name string) {
	tb.t.Helper()

	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		tb.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(tb.shots, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		tb.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	tb.t.Logf("screenshot: %s", path)
}

// cookieNames lists the names of the cookies the tab would send to u.
func (tb *tab) cookieNames(u string) []string {
	tb.t.Helper()

	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{u}})
	if err != nil {
		tb.t.Fatalf("reading cookies: %v", err)
	}
	var names []string
	for _, c := range res.Cookies {
		names = append(names, c.Name)
	}

	return names
}

// formatHops renders hops one per line.
func formatHops(hops []hop) string {
	if len(hops) == 0 {
		return "  (none)"
	}
	var b strings.Builder
	for i, h := range hops {
		fmt.Fprintf(&b, "  %2d. %s\n", i+1, h)
	}

	return strings.TrimRight(b.String(), "\n")
}

// hopURLs returns "status URL" (without query) for each hop, for compact assertions.
func hopURLs(hops []hop) []string {
	out := make([]string, len(hops))
	for i, h := range hops {
		u := h.URL
		if j := strings.IndexByte(u, '?'); j >= 0 {
			u = u[:j]
		}
		out[i] = fmt.Sprintf("%d %s", h.Status, u)
	}

	return out
}

// artifactsDir returns tests/e2e/artifacts/<name>, emptied.
func artifactsDir(t *testing.T, name string) string {
	t.Helper()

	dir, err := filepath.Abs(filepath.Join("artifacts", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}

	return dir
}
