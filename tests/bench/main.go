// Command bench measures the step-up middleware's throughput through a real
// Traefik (the binary scripts/tools.sh builds), against a no-op plugin that
// Traefik also interprets with Yaegi: same process, same router shape, same
// backend. Rounds are interleaved and every ratio compares runs of the same
// round, because the machines are shared and absolute figures drift.
//
// Workloads, each on its own router and middleware instance:
//
//	noop    the no-op plugin (the baseline)
//	cached  traefikstepup, the same valid token on every request
//	fresh   traefikstepup, a token never seen before on every request (each
//	        round has its own middleware instance, hence its own empty
//	        cache, so one set of tokens serves every round)
//	public  traefikstepup, a public route (no token)
//
// Besides throughput it reports Traefik's own CPU time (user + system, read
// from /proc) per request for each workload, and the plugin's part of it:
// the difference from the no-op plugin in the same round. That figure moves
// far less from run to run than throughput on a shared machine, where wrk
// and the backend compete with Traefik for the same cores.
//
// With -compare DIR, a second copy of the plugin (another checkout, for
// example a worktree of an older commit, renamed so both load) runs in the
// same Traefik on its own routers, and its rows follow, marked "(DIR)": an
// A/B comparison free of the drift between runs.
//
// With -floor, three more workloads run on tests/floor-plugin, the least
// work a correct check of these requests can do under Yaegi (one issuer, one
// key, one rule): "floor cached" and "floor fresh", and "floor lookup", a
// verdict lookup alone (no header removal, no path check: not a correct
// check). They show how much of the targets the interpreter itself allows.
//
// With -profile DIR, after the rounds each workload runs once more while
// Traefik records a CPU profile of it, written to DIR/<workload>.pprof (read
// them with go tool pprof); those runs are not in the results.
//
// Run from tests/bench: go run . [-rounds 5 -duration 5s -threads 2 -conns 16 -compare DIR -floor -profile DIR]
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// workload is one row of the results.
type workload struct {
	name   string
	path   string
	token  bool // send the cached token
	fresh  bool // send a new token per request
	target float64
	rps    []float64
	ratios []float64
	cpu    []float64 // Traefik's CPU time per request, µs, per round
	extra  []float64 // cpu minus the no-op plugin's in the same round
	notes  []string
}

func main() {
	rounds := flag.Int("rounds", 5, "interleaved rounds")
	duration := flag.Duration("duration", 5*time.Second, "wrk duration per workload and round")
	threads := flag.Int("threads", 2, "wrk threads")
	conns := flag.Int("conns", 16, "wrk connections")
	freshCount := flag.Int("fresh-tokens", 15000, "distinct tokens minted for the fresh workload (more than one round sends)")
	checkout := flag.String("checkout", "../..", "the plugin checkout")
	compare := flag.String("compare", "", "another checkout of the plugin to measure alongside, in the same Traefik")
	profile := flag.String("profile", "", "a directory for a CPU profile of Traefik per workload, taken after the rounds")
	floor := flag.Bool("floor", false, "also measure tests/floor-plugin, the least work a correct check can do under Yaegi")
	flag.Parse()

	if err := run(*rounds, *duration, *threads, *conns, *freshCount, *checkout, *compare, *profile, *floor); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(rounds int, duration time.Duration, threads, conns, freshCount int, checkout, compare, profile string, floor bool) error {
	checkout, err := filepath.Abs(checkout)
	if err != nil {
		return err
	}
	traefikBin, err := tool(checkout, "traefik", os.Getenv("STEPUP_TRAEFIK"))
	if err != nil {
		return err
	}
	wrkBin, err := tool(checkout, "wrk", "")
	if err != nil {
		return err
	}

	dir, err := os.MkdirTemp("", "stepup-bench-tokens-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	m, err := newMinter()
	if err != nil {
		return err
	}
	start := time.Now()
	cachedToken, err := m.mint(0)
	if err != nil {
		return err
	}
	tokens, err := m.mintMany(freshCount, 1)
	if err != nil {
		return err
	}
	tokenFile := filepath.Join(dir, "fresh.txt")
	if err := writeTokens(tokenFile, tokens); err != nil {
		return err
	}
	fmt.Printf("minted %d RS256 tokens (%d bytes each) in %s\n",
		1+freshCount, len(cachedToken), time.Since(start).Round(time.Millisecond))

	backendURL, stopBackend, err := startBackend()
	if err != nil {
		return err
	}
	defer stopBackend()

	pub, err := m.publicPEM()
	if err != nil {
		return err
	}
	ready := map[string]int{"/noop/orders": 200, "/public/status": 200, "/cached/orders": 401}
	routes := rounds // fresh routes, one per round (and one to profile)
	if profile != "" {
		routes++
	}
	for r := 1; r <= routes; r++ {
		ready[fmt.Sprintf("/fresh%d/orders", r)] = 401
		if floor {
			ready[fmt.Sprintf("/floorfresh%d/orders", r)] = 401
		}
	}
	if floor {
		ready["/floorcached/orders"] = 401
		ready["/floorlookup/orders"] = 401
	}
	variants := []string{""}
	baseline := ""
	if compare != "" {
		if baseline, err = baselineCopy(compare, dir); err != nil {
			return err
		}
		variants = append(variants, "b")
		extra := make(map[string]int)
		for path, code := range ready {
			if path != "/noop/orders" {
				extra["/b"+strings.TrimPrefix(path, "/")] = code
			}
		}
		for path, code := range extra {
			ready[path] = code
		}
	}
	tr, err := startTraefik(traefikBin, checkout, baseline, dynamicConfig(backendURL, pub, routes, variants, floor), ready, profile != "")
	if err != nil {
		return err
	}
	defer tr.stop()

	workloads := []*workload{
		{name: "noop", path: "/noop/orders", token: true},
		{name: "cached", path: "/cached/orders", token: true, target: 0.90},
		{name: "fresh", path: "/fresh%d/orders", fresh: true, target: 0.50},
		{name: "public", path: "/public/status"},
	}
	if compare != "" {
		label := " (" + filepath.Base(compare) + ")"
		workloads = append(workloads,
			&workload{name: "cached" + label, path: "/bcached/orders", token: true, target: 0.90},
			&workload{name: "fresh" + label, path: "/bfresh%d/orders", fresh: true, target: 0.50},
			&workload{name: "public" + label, path: "/bpublic/status"})
	}
	if floor {
		workloads = append(workloads,
			&workload{name: "floor cached", path: "/floorcached/orders", token: true, target: 0.90},
			&workload{name: "floor lookup", path: "/floorlookup/orders", token: true, target: 0.90},
			&workload{name: "floor fresh", path: "/floorfresh%d/orders", fresh: true, target: 0.50})
	}
	w := &wrkRunner{binary: wrkBin, threads: threads, conns: conns, dir: dir}

	// Warm up every route (the fresh ones with the cached token, which is
	// never sent there again).
	for _, wl := range workloads {
		for r := 1; r <= routes && (r == 1 || wl.fresh); r++ {
			if _, err := w.run(tr.url+routePath(wl, r), cachedToken, "", "1s"); err != nil {
				return err
			}
		}
	}

	fmt.Printf("wrk -t%d -c%d -d%s, %d interleaved rounds, Traefik %s\n",
		threads, conns, duration, rounds, filepath.Base(traefikBin))
	for r := 0; r < rounds; r++ {
		got := make(map[string]float64)
		cpu := make(map[string]float64)
		for k := 0; k < len(workloads); k++ {
			wl := workloads[(k+r)%len(workloads)] // rotate the order
			token, file := "", ""
			if wl.token {
				token = cachedToken
			}
			if wl.fresh {
				file = tokenFile
			}
			before, err := tr.cpuSeconds()
			if err != nil {
				return err
			}
			res, err := w.run(tr.url+routePath(wl, r+1), token, file, duration.String())
			if err != nil {
				return err
			}
			after, err := tr.cpuSeconds()
			if err != nil {
				return err
			}
			if res.requests > 0 {
				cpu[wl.name] = (after - before) / res.requests * 1e6
				wl.cpu = append(wl.cpu, cpu[wl.name])
			}
			if res.non2xx > 0 || res.errors > 0 {
				wl.notes = append(wl.notes, fmt.Sprintf("round %d: %d non-2xx, %d socket errors", r+1, res.non2xx, res.errors))
			}
			if res.wrapped > 0 {
				wl.notes = append(wl.notes, fmt.Sprintf("round %d: tokens reused %d times (raise -fresh-tokens)", r+1, res.wrapped))
			}
			wl.rps = append(wl.rps, res.rps)
			got[wl.name] = res.rps
		}
		for _, wl := range workloads {
			wl.ratios = append(wl.ratios, got[wl.name]/got["noop"])
			wl.extra = append(wl.extra, cpu[wl.name]-cpu["noop"])
		}
		var line []string
		for _, wl := range workloads {
			line = append(line, fmt.Sprintf("%s %.0f req/s %.0f µs", wl.name, got[wl.name], cpu[wl.name]))
		}
		fmt.Printf("round %d: %s\n", r+1, strings.Join(line, ", "))
	}

	printTable(workloads)

	if profile != "" {
		return profileWorkloads(tr, w, workloads, cachedToken, tokenFile, rounds+1, duration, profile)
	}

	return nil
}

// profileWorkloads runs each workload once more while Traefik records a
// CPU profile; a fresh workload on its own route (round), which has not
// seen the tokens.
func profileWorkloads(tr *traefik, w *wrkRunner, workloads []*workload, cachedToken, tokenFile string, round int, duration time.Duration, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, wl := range workloads {
		file := ""
		if wl.fresh {
			file = tokenFile
		}
		if err := profileOne(tr, w, wl, round, cachedToken, file, duration, dir); err != nil {
			return err
		}
	}
	fmt.Printf("CPU profiles in %s\n", dir)

	return nil
}

// profileOne profiles one wrk run of wl.
func profileOne(tr *traefik, w *wrkRunner, wl *workload, round int, token, file string, duration time.Duration, dir string) error {
	name := strings.NewReplacer(" ", "_", "(", "", ")", "", "/", "_").Replace(wl.name)
	errc := make(chan error, 1)
	go func() { errc <- tr.profile(duration, filepath.Join(dir, name+".pprof")) }()
	if !wl.token {
		token = ""
	}
	if _, err := w.run(tr.url+routePath(wl, round), token, file, (duration + time.Second).String()); err != nil {
		return err
	}

	return <-errc
}

// routePath is the workload's path in round r (from 1).
func routePath(wl *workload, r int) string {
	if wl.fresh {
		return fmt.Sprintf(wl.path, r)
	}

	return wl.path
}

// printTable writes the medians.
func printTable(workloads []*workload) {
	fmt.Println()
	fmt.Printf("%-18s %14s %16s %15s %-16s %12s %14s\n", "workload", "median req/s", "median vs noop", "min-max", "target",
		"Traefik CPU", "plugin's part")
	for _, wl := range workloads {
		target := "-"
		if wl.target > 0 {
			verdict := "met"
			if median(wl.ratios) < wl.target {
				verdict = "NOT met"
			}
			target = fmt.Sprintf(">= %.0f%% %s", wl.target*100, verdict)
		}
		lo, hi := minMax(wl.ratios)
		fmt.Printf("%-18s %14.0f %15.1f%% %6.1f-%5.1f%% %-16s %9.0f µs %11.0f µs\n",
			wl.name, median(wl.rps), 100*median(wl.ratios), 100*lo, 100*hi, target, median(wl.cpu), median(wl.extra))
	}
	fmt.Println("Traefik CPU: its user+system time per request, median of the rounds; plugin's part: minus the",
		"no-op plugin's in the same round (wrk and the backend share the machine and are not counted).")
	for _, wl := range workloads {
		for _, n := range wl.notes {
			fmt.Printf("note: %s: %s\n", wl.name, n)
		}
	}
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}

	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func minMax(xs []float64) (float64, float64) {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0, 0
	}

	return s[0], s[len(s)-1]
}

// tool returns override when set, else what scripts/tools.sh prints for name.
func tool(checkout, name, override string) (string, error) {
	if override != "" {
		return override, nil
	}
	out, err := exec.Command(filepath.Join(checkout, "scripts", "tools.sh"), name).Output()
	if err != nil {
		return "", fmt.Errorf("scripts/tools.sh %s: %w", name, err)
	}
	fields := strings.Fields(string(out))
	if len(fields) == 0 {
		return "", fmt.Errorf("scripts/tools.sh %s printed nothing", name)
	}

	return fields[len(fields)-1], nil
}

// startBackend serves a short 200 answer on 127.0.0.1.
func startBackend() (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	body := []byte("ok\n")
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write(body)
	})}
	go func() { _ = srv.Serve(l) }()

	return "http://" + l.Addr().String(), func() { _ = srv.Close() }, nil
}

// dynamicConfig routes each workload's prefix through its own middleware
// instance to the same backend. The step-up configuration resembles a real
// one: a rule table, claim headers, every other request needing MFA.
//
// Each variant ("" for the checkout, "b" for the -compare copy) gets its own
// routers and middlewares, named with the variant as prefix.
func dynamicConfig(backendURL, publicKeyPEM string, rounds int, variants []string, floor bool) string {
	stepup := fmt.Sprintf(`issuers:
  - issuer: %s
    audience: [%s]
    algorithms: [RS256]
    publicKeys: |
      %s
acrLevels: [urn:stepup:acr:pwd, urn:stepup:acr:mfa, urn:stepup:acr:phr]
rules:
  - pathPrefix: /public
    public: true
  - pathPrefix: /bpublic
    public: true
  - pathPrefix: /
    minACR: urn:stepup:acr:mfa
  - pathPrefix: /admin
    minACR: urn:stepup:acr:phr
    maxAge: 10m
  - pathPrefix: /payments
    methods: [POST, PUT]
    minACR: urn:stepup:acr:phr
    amr: [hwk]
    maxAge: 5m
  - pathPrefix: /reports
    amrAny: [otp, hwk]
logLevel: error`, issuer, audience, strings.ReplaceAll(strings.TrimSpace(publicKeyPEM), "\n", "\n      "))
	stepup = "          " + strings.ReplaceAll(stepup, "\n", "\n          ") + "\n"

	var names []string
	for _, v := range variants {
		names = append(names, v+"cached", v+"public")
		for r := 1; r <= rounds; r++ {
			names = append(names, fmt.Sprintf("%sfresh%d", v, r))
		}
	}

	var b strings.Builder
	b.WriteString("http:\n  routers:\n")
	b.WriteString("    noop:\n      entryPoints: [web]\n      rule: \"PathPrefix(`/noop`)\"\n      middlewares: [noop]\n      service: backend\n")
	for _, r := range names {
		fmt.Fprintf(&b, "    %s:\n      entryPoints: [web]\n      rule: \"PathPrefix(`/%s`)\"\n      middlewares: [stepup-%s]\n      service: backend\n", r, r, r)
	}
	var floors []string
	if floor {
		floors = append(floors, "floorcached", "floorlookup")
		for r := 1; r <= rounds; r++ {
			floors = append(floors, fmt.Sprintf("floorfresh%d", r))
		}
	}
	for _, r := range floors {
		fmt.Fprintf(&b, "    %s:\n      entryPoints: [web]\n      rule: \"PathPrefix(`/%s`)\"\n      middlewares: [%s]\n      service: backend\n", r, r, r)
	}
	b.WriteString("  middlewares:\n    noop:\n      plugin:\n        noop: {}\n")
	for _, r := range floors {
		lookup := ""
		if r == "floorlookup" {
			lookup = "          lookupOnly: true\n"
		}
		fmt.Fprintf(&b, "    %s:\n      plugin:\n        floor:\n%s          issuer: %s\n          audience: %s\n"+
			"          minACR: urn:stepup:acr:mfa\n          higherACR: urn:stepup:acr:phr\n          publicKey: |\n            %s\n",
			r, lookup, issuer, audience, strings.ReplaceAll(strings.TrimSpace(publicKeyPEM), "\n", "\n            "))
	}
	for _, r := range names {
		plugin := "stepup"
		if strings.HasPrefix(r, "b") {
			plugin = "baseline"
		}
		fmt.Fprintf(&b, "    stepup-%s:\n      plugin:\n        %s:\n%s", r, plugin, stepup)
	}
	fmt.Fprintf(&b, "  services:\n    backend:\n      loadBalancer:\n        servers:\n          - url: %s\n", backendURL)

	return b.String()
}
