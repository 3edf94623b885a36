package stepup

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Error codes of a Bearer challenge.
const (
	// ChallengeInvalidToken: the token is malformed, badly signed, expired or
	// not for us (RFC 6750 §3.1).
	ChallengeInvalidToken = "invalid_token"
	// ChallengeInsufficientAuthentication: the token is valid but its
	// authentication is too weak or too old (RFC 9470 §3).
	ChallengeInsufficientAuthentication = "insufficient_user_authentication"
	// ChallengeInsufficientScope: the token lacks a privilege (RFC 6750 §3.1).
	ChallengeInsufficientScope = "insufficient_scope"
)

// Challenge builds the one-line value of a WWW-Authenticate header for the
// Bearer scheme (RFC 6750 §3, RFC 9470 §3):
//
//	Bearer realm="api"
//	Bearer realm="api", error="invalid_token", error_description="token is expired"
//	Bearer realm="api", error="insufficient_user_authentication",
//	    error_description="...", acr_values="loa2 loa3", max_age=300
//
// Empty realm, errCode, description and acrValues are left out, and so is
// max_age when maxAge is negative. acr_values is always quoted (values may
// be URIs). Realm, description and ACR values are reduced to the characters
// RFC 6750 §3 allows in quoted values (%x20-21 / %x23-5B / %x5D-7E): quotes,
// backslashes, controls and non-ASCII are dropped, never escaped, so no
// input can break out of its parameter or split the header.
func Challenge(realm, errCode, description string, acrValues []string, maxAge int) string {
	var b strings.Builder
	b.WriteString("Bearer")
	sep := " "
	if v := sanitizeChallenge(realm); v != "" {
		b.WriteString(sep + `realm="` + v + `"`)
		sep = ", "
	}
	if v := sanitizeChallenge(errCode); v != "" {
		b.WriteString(sep + `error="` + v + `"`)
		sep = ", "
	}
	if v := sanitizeChallenge(description); v != "" {
		b.WriteString(sep + `error_description="` + v + `"`)
		sep = ", "
	}
	if v := acrValuesParam(acrValues); v != "" {
		b.WriteString(sep + `acr_values="` + v + `"`)
		sep = ", "
	}
	if maxAge >= 0 {
		b.WriteString(sep + "max_age=" + strconv.Itoa(maxAge))
	}

	return b.String()
}

// acrValuesParam joins the sanitised, non-empty ACR values with spaces. A
// space inside a value would split it, so spaces are dropped too.
func acrValuesParam(acrValues []string) string {
	parts := make([]string, 0, len(acrValues))
	for i := 0; i < len(acrValues); i++ {
		v := strings.ReplaceAll(sanitizeChallenge(acrValues[i]), " ", "")
		if v != "" {
			parts = append(parts, v)
		}
	}

	return strings.Join(parts, " ")
}

// sanitizeChallenge keeps only %x20-21 / %x23-5B / %x5D-7E of s.
func sanitizeChallenge(s string) string {
	if !needsSanitizing(s) {
		return s
	}

	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c <= 0x7e && c != '"' && c != '\\' {
			b.WriteByte(c)
		}
	}

	return b.String()
}

// needsSanitizing reports whether s holds a byte sanitizeChallenge drops,
// with native calls only: valid UTF-8 with one byte per rune is ASCII.
func needsSanitizing(s string) bool {
	return !utf8.ValidString(s) || utf8.RuneCountInString(s) != len(s) ||
		strings.ContainsAny(s, "\"\\"+controlChars)
}
