package realparts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
)

// EnvChromium names the environment variable holding the Chromium binary path.
const EnvChromium = "STEPUP_CHROMIUM"

// debianChromium is where Debian's chromium package installs the browser.
const debianChromium = "/usr/bin/chromium"

// ChromiumBinary returns the browser to drive: $STEPUP_CHROMIUM when set,
// /usr/bin/chromium when present, otherwise whatever `scripts/tools.sh
// chromium` prints (it installs Debian's chromium with apt-get).
func ChromiumBinary(ctx context.Context, root string) (string, error) {
	if p := os.Getenv(EnvChromium); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s: %w", EnvChromium, err)
		}
		return p, nil
	}
	if _, err := os.Stat(debianChromium); err == nil {
		return debianChromium, nil
	}

	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, filepath.Join(root, "scripts", "tools.sh"), "chromium")
	cmd.Dir = root
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("scripts/tools.sh chromium: %w: %s", err, stderr.String())
	}
	lines := strings.Fields(stdout.String())
	if len(lines) == 0 {
		return "", errors.New("scripts/tools.sh chromium printed no path")
	}

	return lines[len(lines)-1], nil
}

// BrowserOptions configures StartBrowser.
type BrowserOptions struct {
	// Binary is the Chromium executable. Default: ChromiumBinary.
	Binary string
	// Root is the checkout root, for scripts/tools.sh. Default: CheckoutRoot.
	Root string
	// Width and Height are the window size. Default 1100×800.
	Width, Height int
	// Output receives the browser's stdout and stderr. Default: discarded.
	Output io.Writer
}

// Browser is a headless Chromium driven through the DevTools protocol, with
// a fresh profile directory removed by Close.
type Browser struct {
	ctx     context.Context
	cancel  context.CancelFunc
	cancels []context.CancelFunc
	dir     string
}

// StartBrowser starts a headless Chromium. The flags keep it quiet on a
// closed network (no background networking, component updates or sync),
// and NoSandbox lets it run as root. ctx bounds the start only; the browser
// lives until Close.
func StartBrowser(ctx context.Context, opts BrowserOptions) (*Browser, error) {
	if opts.Binary == "" {
		root := opts.Root
		if root == "" {
			r, err := CheckoutRoot("")
			if err != nil {
				return nil, err
			}
			root = r
		}
		bin, err := ChromiumBinary(ctx, root)
		if err != nil {
			return nil, err
		}
		opts.Binary = bin
	}
	if opts.Width == 0 || opts.Height == 0 {
		opts.Width, opts.Height = 1100, 800
	}
	if opts.Output == nil {
		opts.Output = io.Discard
	}

	dir, err := os.MkdirTemp("", "realparts-chromium-")
	if err != nil {
		return nil, fmt.Errorf("creating the browser profile: %w", err)
	}

	flags := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(opts.Binary),
		chromedp.UserDataDir(dir),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("no-pings", true),
		chromedp.WindowSize(opts.Width, opts.Height),
		chromedp.CombinedOutput(opts.Output),
	}
	// The defaults already hold headless, disable-background-networking and
	// disable-sync; they are repeated so that a change there cannot drop them.
	all := append(chromedp.DefaultExecAllocatorOptions[:], flags...)
	all = append(all, chromedp.Headless,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-sync", true))

	allocCtx, allocCancel := chromedp.NewExecAllocator(context.Background(), all...)
	browserCtx, browserCancel := chromedp.NewContext(allocCtx)
	b := &Browser{
		ctx:     browserCtx,
		cancel:  func() { browserCancel(); allocCancel() },
		dir:     dir,
		cancels: nil,
	}

	started := make(chan error, 1)
	go func() { started <- chromedp.Do(browserCtx) }() // starts the process
	select {
	case err := <-started:
		if err != nil {
			b.Close()
			return nil, fmt.Errorf("starting %s: %w", opts.Binary, err)
		}
	case <-ctx.Done():
		b.Close()
		return nil, fmt.Errorf("starting %s: %w", opts.Binary, ctx.Err())
	}

	return b, nil
}

// StartBrowserT starts a browser for a test and closes it at cleanup.
func StartBrowserT(t TB, opts BrowserOptions) *Browser {
	t.Helper()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b, err := StartBrowser(ctx, opts)
	if err != nil {
		t.Fatalf("starting the browser: %v", err)
	}
	t.Cleanup(b.Close)

	return b
}

// Context is the browser's first tab.
func (b *Browser) Context() context.Context { return b.ctx }

// NewSession opens a tab in a new browser context: its own cookies and
// storage, as a fresh incognito window. Cancel closes the tab and disposes
// of its context; Close cancels what is left.
func (b *Browser) NewSession() (context.Context, context.CancelFunc) {
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	b.cancels = append(b.cancels, cancel)

	return ctx, cancel
}

// Close stops the browser and removes its profile directory. Safe to call
// twice.
func (b *Browser) Close() {
	for i := len(b.cancels) - 1; i >= 0; i-- {
		b.cancels[i]()
	}
	b.cancels = nil
	if b.cancel != nil {
		b.cancel()
		b.cancel = nil
	}
	if b.dir != "" {
		_ = os.RemoveAll(b.dir)
		b.dir = ""
	}
}
