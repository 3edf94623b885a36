package stepup

import (
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"
)

// controlChars are the bytes refused in a path: C0 controls and DEL.
const controlChars = "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f" +
	"\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x7f"

// slowPathChars send a path to the full canonicalisation: escapes, the
// backslash some servers take for "/", the ";" of path parameters, controls.
const slowPathChars = "%\\;" + controlChars

// CanonicalPath returns the path a backend will act on for the escaped
// request path (url.URL.EscapedPath), so that a request cannot escape its rule
// by spelling the path differently. It percent-decodes once, treats "\" as
// "/", drops ";parameters" from every segment (as Tomcat does, so "/admin;x"
// and "/public/..;/admin" land on "/admin"), resolves "." and ".." without
// climbing above the root (RFC 3986 §5.2.4), collapses "//" and keeps a
// trailing slash. It fails with ErrPathInvalid on bad escapes, control
// characters or NUL, invalid UTF-8, and on anything still percent-encoded
// after one decoding ("%252e" is "%2e" after one decoding): a backend that
// decodes twice would see another path, so such requests are refused rather
// than guessed at.
//
// Case is kept: "/ADMIN" does not match a rule for "/admin". A backend that
// folds case needs rules for every spelling, or a router that rejects them.
//
// A path without "%", "\", ";", "//", "/." or controls is already canonical
// and returned as is: that is the common case and costs three native calls.
func CanonicalPath(escapedPath string) (string, error) {
	if escapedPath == "" {
		return "/", nil
	}
	if escapedPath[0] == '/' && !strings.ContainsAny(escapedPath, slowPathChars) &&
		!strings.Contains(escapedPath, "//") && !strings.Contains(escapedPath, "/.") {
		return escapedPath, nil
	}

	return canonicalSlow(escapedPath)
}

// canonicalSlow decodes, checks and normalises a path off the fast path.
func canonicalSlow(escapedPath string) (string, error) {
	decoded, err := url.PathUnescape(escapedPath)
	if err != nil {
		return "", fmt.Errorf("bad escape: %w", ErrPathInvalid)
	}

	if strings.ContainsAny(decoded, controlChars) || !utf8.ValidString(decoded) {
		return "", fmt.Errorf("control character or invalid UTF-8: %w", ErrPathInvalid)
	}

	if hasEscape(decoded) {
		return "", fmt.Errorf("encoded twice: %w", ErrPathInvalid)
	}

	decoded = strings.ReplaceAll(decoded, "\\", "/")
	if decoded[0] != '/' {
		return "", fmt.Errorf("not absolute: %w", ErrPathInvalid)
	}

	return resolveSegments(decoded), nil
}

// hasEscape reports whether s still contains a percent-escape ("%" and two
// hex digits).
func hasEscape(s string) bool {
	for {
		i := strings.IndexByte(s, '%')
		if i < 0 || i+2 >= len(s) {
			return false
		}
		if isHex(s[i+1]) && isHex(s[i+2]) {
			return true
		}
		s = s[i+1:]
	}
}

// isHex reports whether b is a hexadecimal digit.
func isHex(b byte) bool {
	return b >= '0' && b <= '9' || b >= 'a' && b <= 'f' || b >= 'A' && b <= 'F'
}

// resolveSegments drops ";parameters", empty and "." segments and resolves
// "..", keeping a trailing slash. p starts with "/".
func resolveSegments(p string) string {
	segments := strings.Split(p[1:], "/")
	for i := 0; i < len(segments); i++ {
		if j := strings.IndexByte(segments[i], ';'); j >= 0 {
			segments[i] = segments[i][:j]
		}
	}

	return resolveDots(segments, segments)
}

// resolveDots joins path segments into an absolute path, resolving "." and
// ".." (never above the root, RFC 3986 §5.2.4) and dropping empty segments,
// with a trailing slash when the last segment was empty or a dot. names[i]
// decides what segment i is; kept[i] is what the result holds for it.
func resolveDots(names, kept []string) string {
	out := make([]string, 0, len(kept))
	trailing := false
	for i := 0; i < len(names); i++ {
		last := i == len(names)-1
		switch names[i] {
		case "", ".":
			trailing = last
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
			trailing = last
		default:
			out = append(out, kept[i])
			trailing = false
		}
	}

	if len(out) == 0 {
		return "/"
	}
	if trailing {
		return "/" + strings.Join(out, "/") + "/"
	}

	return "/" + strings.Join(out, "/")
}
