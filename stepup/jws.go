package stepup

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// defaultJWSSize bounds a token's length when ParseJWS is given no
// positive bound: 16 KiB, far above any real access or ID token.
const defaultJWSSize = 16384

// segmentEncoding decodes JWS segments: base64url without padding (RFC 7515
// §2), strict about trailing bits so one token has one encoding. The strict
// decoder refuses every byte outside the base64url alphabet except CR and
// LF, which it skips: ParseJWS refuses those first, so a token has exactly
// one spelling. (Native calls only: a byte loop would cost hundreds of
// microseconds under Yaegi.)
var segmentEncoding = base64.RawURLEncoding.Strict()

// Header is the protected header of a compact JWS, decoded once.
type Header struct {
	Alg  string   // alg (RFC 7515 §4.1.1), never empty or "none" after ParseJWS
	Kid  string   // kid (§4.1.4), may be empty
	Typ  string   // typ (§4.1.9), as sent: compare it case-insensitively
	Crit []string // crit (§4.1.11); ParseJWS refuses every token that has one
}

// JWS is a parsed compact JWS whose signature has not been checked yet.
type JWS struct {
	Header       Header
	Payload      []byte // decoded claims JSON
	SigningInput []byte // ASCII(BASE64URL(header) || '.' || BASE64URL(payload))
	Signature    []byte
}

// ParseJWS splits and decodes a compact JWS of at most maxSize bytes
// (defaultJWSSize when maxSize <= 0). It rejects alg "none", any crit
// header and malformed input; it checks no signature, and it does not decode
// the payload, which it returns as bytes. The header's jku, x5u, jwk and x5c
// are never read: keys come from configuration only (RFC 8725 §3.10).
func ParseJWS(token string, maxSize int) (*JWS, error) {
	jws, err := parseJWS(token, maxSize, new(headerCache))
	if err != nil {
		return nil, err
	}

	return jws, nil
}

// parseJWS is ParseJWS with a cache of decoded headers.
//
// The well-formed token is checked and decoded inline, with few
// expressions: under Yaegi every call allocates one slot per expression of
// the callee, executed or not, and this runs for every new token. Anything
// unusual goes to jwsError, which finds the first problem in the order the
// checks are documented.
func parseJWS(token string, maxSize int, headers *headerCache) (*JWS, error) {
	if maxSize <= 0 {
		maxSize = defaultJWSSize
	}
	// At most 4 parts: the split is bounded before the size is known to be
	// fine, and a fourth part is as wrong as a fifth.
	parts := strings.SplitN(token, ".", 4)
	if len(token) > maxSize || len(parts) != 3 || strings.ContainsAny(token, "\r\n") {
		return nil, jwsError(token, maxSize)
	}

	// Tokens of one issuer share a few headers: each is decoded once.
	var err error
	x, _ := headers.entries.Load(parts[0])
	h, _ := x.(*Header)
	if h == nil {
		if h, err = decodeHeader(parts[0]); err != nil {
			return nil, err
		}
		headers.put(parts[0], h)
	}
	payload, err := segmentEncoding.DecodeString(parts[1])
	sig, sigErr := segmentEncoding.DecodeString(parts[2])
	if err != nil || sigErr != nil || len(sig) == 0 {
		return nil, bodyError(err, sigErr)
	}

	jws := &JWS{
		Header:       *h,
		Payload:      payload,
		SigningInput: []byte(token[:len(parts[0])+1+len(parts[1])]),
		Signature:    sig,
	}

	return jws, nil
}

// jwsError reports why a token is not three segments within maxSize bytes,
// without CR or LF: the first failing check of size, shape and then each
// segment in order, as if every check ran one after the other.
func jwsError(token string, maxSize int) error {
	// Bound the work before decoding anything.
	if len(token) > maxSize {
		return fmt.Errorf("%d bytes, limit %d: %w", len(token), maxSize, ErrTokenTooLarge)
	}
	parts := strings.Split(token, ".")
	if len(parts) == 5 {
		return fmt.Errorf("encrypted JWT (JWE) is not supported: %w", ErrTokenMalformed)
	}
	if len(parts) != 3 {
		return fmt.Errorf("%d segments, want 3: %w", len(parts), ErrTokenMalformed)
	}
	// CR and LF are the only bytes outside base64url that the strict
	// decoder skips, so they are refused first: one token, one spelling.
	if strings.ContainsAny(parts[0], "\r\n") {
		return segmentError("header")
	}
	if _, err := decodeHeader(parts[0]); err != nil {
		return err
	}
	if strings.ContainsAny(parts[1], "\r\n") {
		return segmentError("payload")
	}
	if _, err := segmentEncoding.DecodeString(parts[1]); err != nil {
		return segmentError("payload")
	}

	return segmentError("signature")
}

// bodyError reports a payload or signature segment that does not decode,
// or an empty signature.
func bodyError(payloadErr, sigErr error) error {
	if payloadErr != nil {
		return segmentError("payload")
	}
	if sigErr != nil {
		return segmentError("signature")
	}

	return fmt.Errorf("empty signature: %w", ErrTokenMalformed)
}

// decodeHeader decodes and checks a header segment.
func decodeHeader(segment string) (*Header, error) {
	headerJSON, err := segmentEncoding.DecodeString(segment)
	if err != nil {
		return nil, segmentError("header")
	}
	h, err := parseHeader(headerJSON)
	if err != nil {
		return nil, err
	}

	return &h, nil
}

// segmentError reports a segment that is not base64url.
func segmentError(what string) error {
	return fmt.Errorf("%s is not base64url: %w", what, ErrTokenMalformed)
}

// parseHeader decodes the JOSE header into a map and normalises the members
// this package reads into a Header.
func parseHeader(data []byte) (Header, error) {
	var raw map[string]interface{}
	if err := json.Unmarshal(data, &raw); err != nil || raw == nil {
		return Header{}, fmt.Errorf("header is not a JSON object: %w", ErrTokenMalformed)
	}

	// alg, kid and typ from a table: one lookup and assertion each, and no
	// helper call (every call allocates a frame under Yaegi).
	var h Header
	members := [3]*string{&h.Alg, &h.Kid, &h.Typ}
	for i := 0; i < len(headerStrings); i++ {
		if v, present := raw[headerStrings[i]]; present {
			s, isString := v.(string)
			if !isString {
				return Header{}, fmt.Errorf("header %s is not a string: %w", headerStrings[i], ErrTokenMalformed)
			}
			*members[i] = s
		}
	}
	// RFC 7515 §4.1.1: alg is required; "none" is an unsecured JWS (RFC 7518
	// §3.6), which a verifier must never accept (RFC 8725 §3.2).
	if h.Alg == "" || len(h.Alg) == len("none") && strings.EqualFold(h.Alg, "none") {
		return Header{}, fmt.Errorf("alg %q: %w", h.Alg, ErrAlgorithmNotAllowed)
	}
	var err error
	if crit, ok := raw["crit"]; ok {
		h.Crit, err = checkCrit(crit, raw)
		if err != nil {
			return Header{}, err
		}
	}

	return h, nil
}

// headerStrings are the header members read as strings, in the order
// parseHeader stores them.
var headerStrings = [3]string{"alg", "kid", "typ"}

// checkCrit applies RFC 7515 §4.1.11 to a crit header. This package
// understands no extension, so any well-formed crit is refused as well: its
// entries name extensions the recipient must understand, and it does not.
// The list is returned only to name it in the error.
func checkCrit(v interface{}, raw map[string]interface{}) ([]string, error) {
	list, ok := v.([]interface{})
	if !ok {
		return nil, fmt.Errorf("crit is not an array: %w", ErrCriticalHeader)
	}
	// §4.1.11: producers MUST NOT use the empty list.
	if len(list) == 0 {
		return nil, fmt.Errorf("crit is empty: %w", ErrCriticalHeader)
	}

	names := make([]string, 0, len(list))
	for i := 0; i < len(list); i++ {
		name, ok := list[i].(string)
		if !ok || name == "" {
			return nil, fmt.Errorf("crit entry %d is not a name: %w", i, ErrCriticalHeader)
		}
		// §4.1.11: crit MUST NOT name a header defined by the JWS or JWA specs.
		if isStandardHeader(name) {
			return nil, fmt.Errorf("crit names standard header %q: %w", name, ErrCriticalHeader)
		}
		// §4.1.11: every listed extension MUST be present in the header.
		if _, present := raw[name]; !present {
			return nil, fmt.Errorf("crit names absent header %q: %w", name, ErrCriticalHeader)
		}
		names = append(names, name)
	}

	return names, fmt.Errorf("crit extensions %s not understood: %w",
		strings.Join(names, ","), ErrCriticalHeader)
}

// isStandardHeader reports whether name is a header parameter registered by
// RFC 7515 §4.1 or RFC 7518 §4.1 (the latter are JWE key-management headers,
// which crit may not name either).
func isStandardHeader(name string) bool {
	switch name {
	case "alg", "jku", "jwk", "kid", "x5u", "x5c", "x5t", "x5t#S256", "typ", "cty", "crit",
		"enc", "zip", "epk", "apu", "apv", "iv", "tag", "p2s", "p2c":
		return true
	}

	return false
}
