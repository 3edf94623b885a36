package stepup

import (
	"fmt"
	"net/url"
	"strings"
)

// Backends do not agree on how to read a request path. CanonicalPath reads it
// the most generous way (decoded once, "\" as "/", ";parameters" dropped, as
// Tomcat and IIS do), which is right for those backends and wrong for the
// others: a Go, Node or Python backend keeps "..;" and "\" as plain
// characters, so "/admin/..;/public" is a page under /admin there, while the
// generous reading lands on /public. Many backends also fold case.
//
// MatchRequest therefore matches every plausible reading and fails closed
// when they select different rules: such a path is either an attack or too
// ambiguous to protect.

// StrictPath reads an escaped path the way most non-Java backends do:
// segments split on literal "/" only, each kept as sent (escapes, ";" and "\"
// are data), except that a segment whose decoded form is "." or ".." is a dot
// segment (RFC 3986 §2.3, §5.2.4), empty segments collapse, and other
// escapes are decoded unless the segment holds an escaped "/", "\" or ";".
func StrictPath(escapedPath string) (string, error) {
	if escapedPath == "" || escapedPath[0] != '/' {
		return "", fmt.Errorf("not absolute: %w", ErrPathInvalid)
	}
	segments := strings.Split(escapedPath[1:], "/")
	names := make([]string, len(segments))
	for i := 0; i < len(segments); i++ {
		decoded, err := url.PathUnescape(segments[i])
		if err != nil {
			return "", fmt.Errorf("bad escape: %w", ErrPathInvalid)
		}
		names[i] = decoded
		// Escaped unreserved characters mean the same decoded (RFC 3986
		// §6.2.2.2); an escaped separator stays escaped: it is data here.
		if !hasEscapedSeparator(segments[i]) {
			segments[i] = decoded
		}
	}

	return resolveDots(names, segments), nil
}

// MatchRequest returns the rule for a request whose path is escapedPath
// (url.URL.EscapedPath). It fails with ErrPathInvalid when the path cannot
// be read at all, or when its readings select different rules: the generous
// one of CanonicalPath, the strict one of StrictPath, and the case-folded
// one (for backends that ignore case). A path that is canonical already and
// has no upper-case letter has one reading and costs one Match.
func (p *Policy) MatchRequest(method, escapedPath string) (*Rule, error) {
	canonical, err := CanonicalPath(escapedPath)
	if err != nil {
		return nil, err
	}
	rule := p.Match(method, canonical)

	if canonical != escapedPath {
		strict, err := StrictPath(escapedPath)
		if err != nil {
			return nil, err
		}
		if p.Match(method, strict) != rule {
			return nil, fmt.Errorf("%q reads as another rule's path: %w", strict, ErrPathInvalid)
		}
	}
	if strings.ContainsAny(canonical, upperASCII) {
		if p.Match(method, strings.ToLower(canonical)) != rule {
			return nil, fmt.Errorf("case-folded path selects another rule: %w", ErrPathInvalid)
		}
	}

	return rule, nil
}

// upperASCII lists the letters case folding changes.
const upperASCII = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

// hasEscapedSeparator reports whether a raw segment holds %2F, %5C or %3B.
func hasEscapedSeparator(seg string) bool {
	if strings.IndexByte(seg, '%') < 0 {
		return false
	}
	upper := strings.ToUpper(seg)

	return strings.Contains(upper, "%2F") || strings.Contains(upper, "%5C") || strings.Contains(upper, "%3B")
}
