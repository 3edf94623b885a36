// Package e2e runs the plugin inside a real Traefik v3.6.12 process and
// checks what clients and the backend see. One Traefik, one backend and two
// fake issuers serve every test; see TestMain.
package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stepup-auth/traefikstepup/tests/e2e/realparts"
)

// Hosts select the routers of the dynamic configuration.
const (
	hostApp      = "app.localhost"      // stepup: the main policy
	hostAudit    = "audit.localhost"    // stepup-audit: same policy, auditMode
	hostBroken   = "broken.localhost"   // stepup-broken: minACR off the ladder
	hostRotation = "rotation.localhost" // stepup-rotation: own issuer, discovery
	hostPlain    = "plain.localhost"    // no middleware
)

// realm is the default realm: the qualified middleware name.
const realm = "stepup@file"

// ACR ladder of the configuration.
const (
	loa1 = "urn:stepup:loa:1"
	loa2 = "urn:stepup:loa:2"
)

// suite holds the parts shared by every test.
type suite struct {
	traefik   *realparts.Traefik
	backend   *realparts.Backend
	issuer    *realparts.Issuer // trusted by stepup, stepup-audit, stepup-broken
	rsaKey    *realparts.SigningKey
	ecKey     *realparts.SigningKey
	rotIssuer *realparts.Issuer // trusted by stepup-rotation only
	rotOld    *realparts.SigningKey
	rotNew    *realparts.SigningKey
	signInURL string
}

// env is set up by TestMain before any test runs.
var env *suite

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

// runMain starts the parts, runs the tests and prints Traefik's log tail
// when something failed.
func runMain(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	s, err := startSuite(ctx)
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	env = s
	defer s.close()

	code := m.Run()
	if code != 0 {
		s.traefik.Keep()
		fmt.Fprintf(os.Stderr, "--- traefik: notable log lines (full log kept in %s) ---\n%s\n",
			s.traefik.LogPath, s.traefik.NotableLog(60))
	}

	return code
}

// startSuite generates keys, starts the backend, the issuers and Traefik.
func startSuite(ctx context.Context) (*suite, error) {
	s := &suite{
		rsaKey: realparts.MustKey(realparts.NewRSAKey("rsa-1")),
		ecKey:  realparts.MustKey(realparts.NewECKey("ec-1")),
		rotOld: realparts.MustKey(realparts.NewRSAKey("rot-old")),
		rotNew: realparts.MustKey(realparts.NewRSAKey("rot-new")),
	}
	s.backend = realparts.NewBackend()
	s.issuer = realparts.NewIssuer(s.rsaKey, s.ecKey)
	s.rotIssuer = realparts.NewIssuer(s.rotOld)

	signInPort, err := realparts.FreePort()
	if err != nil {
		s.close()
		return nil, err
	}
	s.signInURL = fmt.Sprintf("http://127.0.0.1:%d/signin", signInPort)

	s.traefik, err = realparts.StartTraefik(ctx, realparts.TraefikOptions{
		Dynamic:   s.dynamicConfig(),
		AccessLog: true,
	})
	if err != nil {
		s.close()
		return nil, err
	}

	return s, nil
}

// close stops everything that was started.
func (s *suite) close() {
	if s.traefik != nil {
		s.traefik.Stop()
	}
	s.backend.Close()
	s.issuer.Close()
	s.rotIssuer.Close()
}

// dynamicConfig renders the file provider configuration: five routers on
// the same backend, told apart by Host.
func (s *suite) dynamicConfig() string {
	policy := fmt.Sprintf(`
          issuers:
            - issuer: %q
              audience: [api]
              algorithms: [RS256, ES256]
              jwksURL: %q
          acrLevels: [%q, %q]
          rules:
            - pathPrefix: /public
              public: true
            - pathPrefix: /admin
              minACR: %q
              amr: [otp]
              maxAge: 10m
            - pathPrefix: /reports
              claims:
                - name: groups
                  values: [finance]
            - pathPrefix: /api/accounts
              methods: [DELETE]
              minACR: %q
          signInURL: %q
          claimHeaders:
            sub: X-Stepup-Subject
            acr: X-Stepup-ACR
            amr: X-Stepup-AMR
            email: X-Stepup-Email`,
		s.issuer.URL, s.issuer.JWKSURL(), loa1, loa2, loa2, loa2, s.signInURL)

	router := func(name, host, middleware string) string {
		mw := ""
		if middleware != "" {
			mw = fmt.Sprintf("\n      middlewares: [%s]", middleware)
		}
		return fmt.Sprintf(`
    %s:
      entryPoints: [web]
      rule: "Host(%s)"
      service: backend%s`, name, "`"+host+"`", mw)
	}

	var b strings.Builder
	b.WriteString("http:\n  routers:")
	b.WriteString(router("app", hostApp, "stepup"))
	b.WriteString(router("audit", hostAudit, "stepup-audit"))
	b.WriteString(router("broken", hostBroken, "stepup-broken"))
	b.WriteString(router("rotation", hostRotation, "stepup-rotation"))
	b.WriteString(router("plain", hostPlain, ""))
	fmt.Fprintf(&b, `
  services:
    backend:
      loadBalancer:
        servers:
          - url: %q
  middlewares:
    stepup:
      plugin:
        stepup:%s
    stepup-audit:
      plugin:
        stepup:%s
          auditMode: true
    stepup-broken:
      plugin:
        stepup:
          issuers:
            - issuer: %q
              audience: [api]
              algorithms: [RS256]
              jwksURL: %q
          acrLevels: [%q, %q]
          rules:
            - pathPrefix: /admin
              minACR: urn:stepup:loa:9
    stepup-rotation:
      plugin:
        stepup:
          issuers:
            - issuer: %q
              audience: [api]
              algorithms: [RS256]
              discovery: true
`, s.backend.URL, policy, policy,
		s.issuer.URL, s.issuer.JWKSURL(), loa1, loa2, s.rotIssuer.URL)

	return b.String()
}
