package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/stepup-auth/traefikstepup/tests/e2e/realparts"
)

// The demo's fixed names and settings.
const (
	clientID     = "stepup-demo"
	clientSecret = "stepup-demo-secret"
	// adminMaxAge is the freshness /admin demands; the leeway is 5s, so a
	// person trying it sees the window close after about two minutes.
	adminMaxAge = "2m"
	// adminMaxAgeText is adminMaxAge for people.
	adminMaxAgeText = "2 minutes"
)

// demoClient registers the plugin at the provider, reached as localhost or
// 127.0.0.1 on Traefik's port.
func demoClient(traefikPort int) realparts.IdPClient {
	c := realparts.IdPClient{ClientID: clientID, ClientSecret: clientSecret}
	for _, host := range []string{"localhost", "127.0.0.1"} {
		base := fmt.Sprintf("http://%s:%d", host, traefikPort)
		c.RedirectURIs = append(c.RedirectURIs, base+"/_stepup/callback")
		c.PostLogoutRedirectURIs = append(c.PostLogoutRedirectURIs, base+"/")
	}

	return c
}

// demoDynamic is Traefik's dynamic configuration: every path through the
// plugin to the app.
func demoDynamic(issuer, appURL, sessionSecret string) string {
	return fmt.Sprintf(`http:
  routers:
    demo:
      entryPoints: [web]
      rule: "PathPrefix(%s)"
      service: app
      middlewares: [stepup]
  services:
    app:
      loadBalancer:
        servers:
          - url: %q
  middlewares:
    stepup:%s`, "`/`", appURL, realparts.LoginPlugin{
		Issuer: issuer, ClientID: clientID, ClientSecret: clientSecret, SessionSecret: sessionSecret,
		AdminMaxAge: adminMaxAge, Leeway: "5s", Extra: []string{"providerLogout: true"},
	}.YAML())
}

// printGuide tells the person what runs and what to try; quiet: the
// plugin's decisions are not printed.
func printGuide(traefikPort int, idp *realparts.IdP, tr *realparts.Traefik, quiet bool) {
	url := fmt.Sprintf("http://localhost:%d", traefikPort)
	decisionsNote := "The plugin's decisions are printed below as they happen.\n"
	if quiet {
		decisionsNote = ""
	}
	fmt.Printf(`
traefikstepup demo is running.

  Open      %[1]s/
  Users     alice / alice-password   (groups staff, admins)
            bob   / bob-password     (groups staff)
  2nd factor code: %[2]s   (a fixed development code standing in for a TOTP)

  Traefik   %[1]s  (plugin from this checkout; log: %[3]s)
  IdP       %[4]s  (tests/idp, development only)

Rules: /public is open; / and everything else needs a sign-in (urn:stepup:loa:1);
/admin needs urn:stepup:loa:2 (password + second factor) within the last %[5]s,
and the group admins; /api/admin needs urn:stepup:loa:2.

What to try:
  1. Open %[1]s/ and sign in as alice with her password. The page lists the
     identity headers Traefik added: X-Stepup-Acr urn:stepup:loa:1, X-Stepup-Amr pwd.
  2. Press the fetch button (a POST to /api/admin/x): the API answers 401 with
     WWW-Authenticate: Bearer realm="stepup@file", error="insufficient_user_authentication",
     error_description="authentication level is too low", acr_values="urn:stepup:loa:2"
     (an API call is challenged, never redirected).
  3. Open /admin: you are sent to the IdP to step up with the second factor
     (%[2]s), then back on /admin at urn:stepup:loa:2 with amr pwd,otp,mfa.
     The fetch button now gets 200.
  4. Wait until the %[5]s freshness window has passed and reload /admin: the IdP
     asks again (prompt=login, max_age): user name, password and code.
  5. Open /public: no sign-in, no identity headers.
  6. Log out (/_stepup/logout): the session and the IdP session end; / asks
     you to sign in again.
  7. Open /admin as bob: he steps up like alice, then gets 403 Access denied,
     because he is not in the group admins (a stronger sign-in cannot fix that).

%[6]sStop with Ctrl-C.

`, url, idp.OTPCode, tr.LogPath, idp.Issuer, adminMaxAgeText, decisionsNote)
}

// printNewLines prints the plugin's complete lines of the file at path after
// offset and returns the offset after the last complete line.
func printNewLines(path string, offset int64) int64 {
	f, err := os.Open(path)
	if err != nil {
		return offset
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return offset
	}
	data, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return offset
	}
	end := bytes.LastIndexByte(data, '\n')
	if end < 0 {
		return offset
	}
	for _, line := range strings.Split(string(data[:end]), "\n") {
		if !strings.Contains(line, "plugin=stepup") {
			continue
		}
		if i := strings.Index(line, " middlewareName="); i >= 0 {
			line = line[:i]
		}
		fmt.Println("plugin:", line)
	}

	return offset + int64(end) + 1
}
