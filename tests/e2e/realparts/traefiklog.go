package realparts

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// logSize returns the current length of the log file.
func (tr *Traefik) logSize() int64 {
	fi, err := os.Stat(tr.LogPath)
	if err != nil {
		return 0
	}

	return fi.Size()
}

// providerError returns the first error line of the file provider logged
// after offset since, or "".
func (tr *Traefik) providerError(since int64) string {
	data, err := os.ReadFile(tr.LogPath)
	if err != nil || int64(len(data)) <= since {
		return ""
	}

	for _, line := range strings.Split(string(data[since:]), "\n") {
		if containsAll(line, []string{" ERR ", "providerName=file"}) {
			return line
		}
	}

	return ""
}

// Log returns Traefik's whole log so far.
func (tr *Traefik) Log() string {
	data, err := os.ReadFile(tr.LogPath)
	if err != nil {
		return fmt.Sprintf("(reading %s: %v)", tr.LogPath, err)
	}
	out, _ := os.ReadFile(filepath.Join(tr.WorkDir, "traefik.out"))

	return string(out) + string(data)
}

// LogTail returns the last n lines of Traefik's output and log.
func (tr *Traefik) LogTail(n int) string {
	lines := strings.Split(strings.TrimRight(tr.Log(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}

	return strings.Join(lines, "\n")
}

// NotableLog returns the last n lines of the log that are warnings, errors,
// panics or the plugin's own lines, skipping Traefik's debug chatter.
func (tr *Traefik) NotableLog(n int) string {
	var lines []string
	for _, line := range strings.Split(tr.Log(), "\n") {
		if strings.Contains(line, " WRN ") || strings.Contains(line, " ERR ") ||
			strings.Contains(line, "panic") || strings.Contains(line, "plugin=") {
			lines = append(lines, line)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}

	return strings.Join(lines, "\n")
}

// LogLines returns the log lines containing every one of the substrings.
func (tr *Traefik) LogLines(substrings ...string) []string {
	var found []string
	for _, line := range strings.Split(tr.Log(), "\n") {
		if containsAll(line, substrings) {
			found = append(found, line)
		}
	}

	return found
}

// WaitForLog polls the log until a line contains every substring.
func (tr *Traefik) WaitForLog(ctx context.Context, substrings ...string) (string, error) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()

	for {
		if lines := tr.LogLines(substrings...); len(lines) > 0 {
			return lines[0], nil
		}

		select {
		case <-ctx.Done():
			return "", fmt.Errorf("no log line with %q: %w", substrings, ctx.Err())
		case <-tick.C:
		}
	}
}

// containsAll reports whether s contains every one of subs.
func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}

	return true
}
