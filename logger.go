package traefikstepup

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Log levels, lowest first.
const (
	levelDebug = iota
	levelInfo
	levelWarn
	levelError
)

// logger writes Traefik-style lines (time, level, message, middleware name)
// to Traefik's standard output. Plugins have no access to Traefik's logger,
// so the level is the plugin's own setting.
type logger struct {
	out   io.Writer
	level int
	name  string
}

// newLogger returns a logger for level ("" means warn) and, for an unknown
// level, a configuration problem.
func newLogger(out io.Writer, level string, name string) (*logger, string) {
	l := &logger{out: out, level: levelWarn, name: name}
	switch strings.ToLower(level) {
	case "debug":
		l.level = levelDebug
	case "info":
		l.level = levelInfo
	case "", "warn", "warning":
		l.level = levelWarn
	case "error":
		l.level = levelError
	default:
		return l, fmt.Sprintf("unknown level %q (want debug, info, warn or error)", level)
	}

	return l, ""
}

func (l *logger) enabled(level int) bool { return level >= l.level }

func (l *logger) debug(msg string) { l.write(levelDebug, "DBG", msg) }
func (l *logger) info(msg string)  { l.write(levelInfo, "INF", msg) }
func (l *logger) warn(msg string)  { l.write(levelWarn, "WRN", msg) }

// audit writes an audit-mode decision whatever the level: in audit mode the
// log is the only output the middleware has.
func (l *logger) audit(msg string) { l.write(levelError, "INF", "audit: "+msg) }

func (l *logger) errorf(format string, args ...interface{}) {
	if l.enabled(levelError) {
		l.write(levelError, "ERR", fmt.Sprintf(format, args...))
	}
}

// write emits one line: the message never contains a token or secret; the
// callers pass categories, issuers and subjects only.
func (l *logger) write(level int, tag string, msg string) {
	if !l.enabled(level) {
		return
	}
	line := time.Now().UTC().Format(time.RFC3339) + " " + tag + " " + msg +
		" middlewareName=" + l.name + " plugin=stepup\n"
	_, _ = io.WriteString(l.out, line)
}
