package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// freshScript makes wrk send a different token on every request: each
// thread takes every n-th line of the token file (args[1]) from its own
// offset and reports, through done, how often it had to start over.
const freshScript = `
local next_id = 0
local threads = {}

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  local n = tonumber(args[2])
  tokens = {}
  local i = 0
  for line in io.lines(args[1]) do
    if i % n == id then
      tokens[#tokens + 1] = "Bearer " .. line
    end
    i = i + 1
  end
  idx = 0
  wrapped = 0
end

function request()
  idx = idx + 1
  if idx > #tokens then
    idx = 1
    wrapped = wrapped + 1
  end
  return wrk.format(nil, nil, { ["Authorization"] = tokens[idx] })
end

function done(summary, latency, requests)
  local w = 0
  for _, t in ipairs(threads) do
    w = w + t:get("wrapped")
  end
  io.write(string.format("TOKENS_WRAPPED %d\n", w))
end
`

// wrkResult is one wrk run.
type wrkResult struct {
	rps      float64
	requests float64
	non2xx   int
	errors   int
	wrapped  int
}

var (
	rpsLine     = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	totalLine   = regexp.MustCompile(`(\d+) requests in`)
	non2xxLine  = regexp.MustCompile(`Non-2xx or 3xx responses:\s+(\d+)`)
	socketLine  = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	wrappedLine = regexp.MustCompile(`TOKENS_WRAPPED (\d+)`)
)

// wrkRunner runs wrk with fixed threads, connections and duration.
type wrkRunner struct {
	binary   string
	threads  int
	conns    int
	duration string
	dir      string // holds the Lua script and token files
}

// run loads url; token is sent on every request unless tokenFile is set,
// in which case every request takes the next token of that file.
func (w *wrkRunner) run(url, token, tokenFile, duration string) (wrkResult, error) {
	args := []string{
		"-t" + strconv.Itoa(w.threads), "-c" + strconv.Itoa(w.conns), "-d" + duration, "--latency",
	}
	if tokenFile != "" {
		script := filepath.Join(w.dir, "fresh.lua")
		if err := os.WriteFile(script, []byte(freshScript), 0o644); err != nil {
			return wrkResult{}, err
		}
		args = append(args, "-s", script, url, "--", tokenFile, strconv.Itoa(w.threads))
	} else {
		if token != "" {
			args = append(args, "-H", "Authorization: Bearer "+token)
		}
		args = append(args, url)
	}

	out, err := exec.Command(w.binary, args...).CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk %s: %w\n%s", url, err, out)
	}

	return parseWrk(string(out))
}

func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	m := rpsLine.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("no Requests/sec in wrk output:\n%s", out)
	}
	r.rps, _ = strconv.ParseFloat(m[1], 64)
	if m := totalLine.FindStringSubmatch(out); m != nil {
		r.requests, _ = strconv.ParseFloat(m[1], 64)
	}
	if m := non2xxLine.FindStringSubmatch(out); m != nil {
		r.non2xx, _ = strconv.Atoi(m[1])
	}
	if m := socketLine.FindStringSubmatch(out); m != nil {
		for _, s := range m[1:] {
			n, _ := strconv.Atoi(s)
			r.errors += n
		}
	}
	if m := wrappedLine.FindStringSubmatch(out); m != nil {
		r.wrapped, _ = strconv.Atoi(m[1])
	}

	return r, nil
}

// writeTokens writes one token per line.
func writeTokens(path string, tokens []string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	bw.WriteString(strings.Join(tokens, "\n"))
	bw.WriteString("\n")
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}

	return f.Close()
}
