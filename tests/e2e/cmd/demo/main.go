// Command demo runs traefikstepup for a person to try: the test OpenID
// provider (tests/idp), an app that shows the identity headers it receives,
// and Traefik v3.6.12 loading the plugin from this checkout, all on
// loopback. It prints what to try and stops everything on Ctrl-C.
//
//	make demo                       # from the checkout root
//	cd tests/e2e && go run ./cmd/demo -traefik-port 8080 -idp-port 9090
//
// Ports can also be set with STEPUP_DEMO_TRAEFIK_PORT and STEPUP_DEMO_IDP_PORT.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/stepup-auth/traefikstepup/tests/e2e/realparts"
)

// options are the demo's settings.
type options struct {
	traefikPort int
	idpPort     int
	appPort     int
	quiet       bool
}

func main() {
	opts, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, orphaned := context.WithCancel(ctx)
	defer orphaned()
	go watchParent(ctx, orphaned)

	if err := run(ctx, opts); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

// watchParent calls stop when the demo's parent goes away. `go run` passes
// no signal on: a SIGTERM sent to it alone would otherwise leave the demo,
// Traefik and the IdP running.
func watchParent(ctx context.Context, stop context.CancelFunc) {
	parent := os.Getppid()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if os.Getppid() != parent {
			fmt.Println("\ndemo: the parent process is gone")
			stop()
			return
		}
	}
}

// parseFlags reads the flags, with defaults from the environment.
func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	traefikDefault, err := envPort("STEPUP_DEMO_TRAEFIK_PORT", 8000)
	if err != nil {
		return o, err
	}
	idpDefault, err := envPort("STEPUP_DEMO_IDP_PORT", 9000)
	if err != nil {
		return o, err
	}
	fs.IntVar(&o.traefikPort, "traefik-port", traefikDefault, "Traefik's port (env STEPUP_DEMO_TRAEFIK_PORT)")
	fs.IntVar(&o.idpPort, "idp-port", idpDefault, "the OpenID provider's port (env STEPUP_DEMO_IDP_PORT)")
	fs.IntVar(&o.appPort, "app-port", 0, "the backend app's port (0: any free port)")
	fs.BoolVar(&o.quiet, "quiet", false, "do not print the plugin's decisions as they happen")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.traefikPort == o.idpPort {
		return o, fmt.Errorf("traefik-port and idp-port are both %d", o.idpPort)
	}

	return o, nil
}

// envPort reads a port from the environment variable name, or def.
func envPort(name string, def int) (int, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	p, err := strconv.Atoi(v)
	if err != nil || p <= 0 || p > 65535 {
		return 0, fmt.Errorf("%s=%q is not a port", name, v)
	}

	return p, nil
}

// checkFree fails clearly when something already listens on 127.0.0.1:port.
func checkFree(what string, port int, flagName string) error {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("%s port %d is busy (another demo still running?): choose another with -%s: %w",
			what, port, flagName, err)
	}

	return ln.Close()
}

// run starts the parts, prints the guide and waits for a signal or for a
// part to exit; everything started is stopped before it returns.
func run(ctx context.Context, o options) error {
	if err := checkFree("Traefik", o.traefikPort, "traefik-port"); err != nil {
		return err
	}
	if err := checkFree("IdP", o.idpPort, "idp-port"); err != nil {
		return err
	}
	root, err := realparts.CheckoutRoot("")
	if err != nil {
		return err
	}
	if err := realparts.InstallIdP(ctx, root); err != nil {
		return err
	}
	secret, err := randomSecret()
	if err != nil {
		return err
	}

	fmt.Println("demo: starting the OpenID provider, the app and Traefik with the plugin…")
	idp, err := realparts.StartIdP(ctx, realparts.IdPOptions{
		Root: root, Port: o.idpPort, Clients: []realparts.IdPClient{demoClient(o.traefikPort)},
	})
	if err != nil {
		return err
	}
	defer idp.Stop()

	app, err := realparts.StartApp(net.JoinHostPort("127.0.0.1", strconv.Itoa(o.appPort)))
	if err != nil {
		return err
	}
	defer app.Close()
	app.Title = "traefikstepup demo app"
	app.Notes = "Everything below the title is what Traefik forwarded to this backend."

	tr, err := realparts.StartTraefik(ctx, realparts.TraefikOptions{
		PluginSource: root,
		Port:         o.traefikPort,
		LogLevel:     "INFO",
		Dynamic:      demoDynamic(idp.Issuer, app.URL, secret),
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil // interrupted while starting
		}
		return err
	}
	defer func() {
		tr.Stop()
		fmt.Println("demo: stopped Traefik, the OpenID provider and the app")
	}()

	printGuide(o.traefikPort, idp, tr, o.quiet)
	if !o.quiet {
		go followDecisions(ctx, tr)
	}

	select {
	case <-ctx.Done():
		fmt.Println("\ndemo: stopping…")
		return nil
	case <-tr.Exited():
		return errors.New("Traefik exited unexpectedly; its log:\n" + tr.LogTail(30))
	case <-idp.Exited():
		return errors.New("the OpenID provider exited unexpectedly; its log:\n" + idp.Log())
	}
}

// randomSecret returns a fresh session secret: sessions last one run.
func randomSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("session secret: %w", err)
	}

	return base64.RawURLEncoding.EncodeToString(b), nil
}

// followDecisions prints the plugin's lines from Traefik's output as they
// come (the plugin writes them to standard output at logLevel debug).
func followDecisions(ctx context.Context, tr *realparts.Traefik) {
	path := filepath.Join(tr.WorkDir, "traefik.out")
	var offset int64
	tick := time.NewTicker(300 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tr.Exited():
			return
		case <-tick.C:
		}
		offset = printNewLines(path, offset)
	}
}
