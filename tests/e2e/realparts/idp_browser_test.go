package realparts

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestIdPAndBrowser starts the test OpenID provider and a headless
// Chromium, and opens the provider's discovery document and health check
// in the browser, by its issuer and through a *.localhost name.
func TestIdPAndBrowser(t *testing.T) {
	idp := StartIdPT(t, IdPOptions{})
	if !strings.HasPrefix(idp.Issuer, "http://127.0.0.1:") {
		t.Fatalf("issuer %q", idp.Issuer)
	}
	b := StartBrowserT(t, BrowserOptions{})

	ctx, cancel := context.WithTimeout(b.Context(), 30*time.Second)
	defer cancel()

	tests := []struct {
		name string
		url  string
		want string
	}{
		{name: "health by issuer", url: idp.Issuer + "/healthz", want: "ok"},
		{name: "discovery", url: idp.Issuer + "/.well-known/openid-configuration", want: `"acr_values_supported"`},
		{name: "localhost subdomain resolves to loopback",
			url: strings.Replace(idp.Issuer, "127.0.0.1", "sub.localhost", 1) + "/healthz", want: "ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := chromedp.Do(ctx, chromedp.Navigate(tt.url)); err != nil {
				t.Fatalf("navigate %s: %v", tt.url, err)
			}
			got, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(got, tt.want) {
				t.Errorf("%s: body %q, want it to contain %q", tt.url, got, tt.want)
			}
		})
	}
}
