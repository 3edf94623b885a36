package stepup

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// DefaultACRClaim is the claim that carries the authentication context class
// (OIDC Core §2) unless an issuer names another one.
const DefaultACRClaim = "acr"

// maxNumericDate bounds NumericDate values (seconds). Beyond it the float to
// int64 conversion is undefined; no real token is dated 290 billion years out.
const maxNumericDate = 9e18

// Claims are the registered and step-up claims of a token, normalised once
// right after decoding so that validation and the policy never type-switch.
//
// Claims returned by a Verifier may be shared between requests through its
// cache: callers must treat them, Raw included, as read-only.
type Claims struct {
	Issuer   string   // iss
	Subject  string   // sub
	Audience []string // aud, a single string becomes one element

	// NumericDates (RFC 7519 §2); the zero time.Time means absent.
	ExpiresAt time.Time // exp
	NotBefore time.Time // nbf
	IssuedAt  time.Time // iat
	AuthTime  time.Time // auth_time (OIDC Core §2)

	// ACR is the token's "acr" claim or, when the issuer names another ACR
	// claim holding a single string, that string.
	ACR string
	// ACRs is every ACR the token asserts through the issuer's ACR claim:
	// [ACR] for a string claim, the members of an array claim such as
	// Entra ID's "acrs". Empty when the claim is absent or empty.
	ACRs []string
	// AMR lists the authentication methods (RFC 8176).
	AMR []string

	Nonce           string // nonce (ID tokens)
	AuthorizedParty string // azp (ID tokens)

	// Raw holds every claim as decoded, numbers as json.Number, for claim
	// rules and claim headers. Read it through Values.
	Raw map[string]interface{}

	// unix holds exp, nbf, iat and auth_time as nanoseconds since the epoch
	// (0 when absent), for checks without time.Time method calls, each a
	// native call under Yaegi; inexact is set when one of them is not a
	// whole number of seconds within ±unixSecondsBound, and only the
	// time.Time fields may then be read.
	unix    [4]int64
	inexact bool
}

// unixSecondsBound bounds the NumericDates kept in Claims.unix: their
// nanoseconds fit an int64 (about year 2255).
const unixSecondsBound = 9e9

// ParseClaims decodes a JWT claims set (RFC 7519 §4) and normalises it.
// acrClaim names the claim holding the ACR ("" means "acr"); it may be a
// string or an array of strings. Claims of the wrong JSON type are an
// ErrTokenMalformed: aud must be a string or an array of strings, exp, nbf,
// iat and auth_time numbers (fractions allowed), acr a string, amr an array
// of strings, iss, sub, nonce and azp strings. ParseClaims validates no
// value: that is the Verifier's job.
func ParseClaims(payload []byte, acrClaim string) (*Claims, error) {
	c, err := decodeClaims(payload)
	if err != nil {
		return nil, err
	}

	err = c.applyACRClaim(acrClaim)
	if err != nil {
		return nil, err
	}

	return c, nil
}

// decodeClaims decodes payload and normalises the registered claims and the
// standard acr. The issuer-specific ACR claim is applied later, once the
// issuer is known.
//
// Each claim is read with one map lookup and one type assertion in a loop
// over a table, and helpers run only on errors and arrays: under Yaegi
// every call allocates a frame, and this runs for every new token.
func decodeClaims(payload []byte) (*Claims, error) {
	// decodeObject, inline.
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var raw map[string]interface{}
	err := dec.Decode(&raw)
	_, end := dec.Token() // io.EOF: nothing but white space follows
	if err != nil || raw == nil || end != io.EOF {
		return nil, objectError(err == nil && raw != nil)
	}

	c := &Claims{Raw: raw}
	strs := [5]*string{&c.Issuer, &c.Subject, &c.ACR, &c.Nonce, &c.AuthorizedParty}
	for i := 0; i < len(stringClaims); i++ {
		if v, present := raw[stringClaims[i]]; present {
			s, isString := v.(string)
			if !isString {
				return nil, claimTypeError(stringClaims[i], "a string")
			}
			*strs[i] = s
		}
	}

	if v, present := raw["aud"]; present {
		if s, isString := v.(string); isString {
			c.Audience = []string{s} // RFC 7519 §4.1.3: one audience may be a string
		} else if c.Audience, err = stringArray("aud", v); err != nil {
			return nil, err
		}
	}
	if v, present := raw["amr"]; present {
		if c.AMR, err = stringArray("amr", v); err != nil {
			return nil, err
		}
	}

	if c.ACR != "" {
		c.ACRs = []string{c.ACR}
	}

	dates := [4]*time.Time{&c.ExpiresAt, &c.NotBefore, &c.IssuedAt, &c.AuthTime}
	for i := 0; i < len(dateClaims); i++ {
		// The usual whole seconds, inline; fractions, far dates and errors
		// in inexactDates. isNumber must be read: under Yaegi a failed
		// assertion in a loop leaves n as the previous iteration set it.
		if v, present := raw[dateClaims[i]]; present {
			n, isNumber := v.(json.Number)
			sec, err := strconv.ParseInt(string(n), 10, 64)
			if !isNumber || err != nil || sec <= -unixSecondsBound || sec >= unixSecondsBound {
				return inexactDates(c, dates)
			}
			*dates[i] = time.Unix(sec, 0)
			c.unix[i] = sec * 1e9
		}
	}

	return c, nil
}

// inexactDates reads every NumericDate of c with numericDate, for claims
// where one is not whole seconds within ±unixSecondsBound.
func inexactDates(c *Claims, dates [4]*time.Time) (*Claims, error) {
	c.inexact = true
	for i := 0; i < len(dateClaims); i++ {
		d, err := numericDate(c.Raw, dateClaims[i])
		if err != nil {
			return nil, err
		}
		*dates[i] = d
	}

	return c, nil
}

// stringClaims are the claims that must be strings, in the order
// decodeClaims stores them: iss, sub, acr, nonce, azp.
var stringClaims = [5]string{"iss", "sub", "acr", "nonce", "azp"}

// dateClaims are the NumericDate claims (RFC 7519 §2), in the order
// decodeClaims stores them.
var dateClaims = [4]string{"exp", "nbf", "iat", "auth_time"}

// claimTypeError reports a claim of the wrong JSON type.
func claimTypeError(name, want string) error {
	return fmt.Errorf("claim %q is not %s: %w", name, want, ErrTokenMalformed)
}

// stringArray returns v, the value of claim name, as an array of strings.
func stringArray(name string, v interface{}) ([]string, error) {
	arr, ok := v.([]interface{})
	if !ok {
		return nil, claimTypeError(name, "an array of strings")
	}

	out := make([]string, 0, len(arr))
	for i := 0; i < len(arr); i++ {
		s, isString := arr[i].(string)
		if !isString {
			return nil, claimTypeError(name, "an array of strings")
		}
		out = append(out, s)
	}

	return out, nil
}

// objectError reports claims that are not one JSON object: trailing when
// an object decoded, followed by more than white space.
func objectError(trailing bool) error {
	if trailing {
		return fmt.Errorf("claims have trailing data: %w", ErrTokenMalformed)
	}

	return fmt.Errorf("claims are not a JSON object: %w", ErrTokenMalformed)
}

// applyACRClaim takes ACR and ACRs from the named claim when it is not the
// standard "acr", which decodeClaims has already applied.
func (c *Claims) applyACRClaim(name string) error {
	if name == "" || name == DefaultACRClaim {
		return nil
	}

	v, ok := c.Raw[name]
	if !ok {
		c.ACRs = nil
		return nil
	}

	if s, isString := v.(string); isString {
		c.ACR = s
		c.ACRs = nil
		if s != "" {
			c.ACRs = []string{s}
		}
		return nil
	}

	list, err := stringArray(name, v)
	if err != nil {
		return err
	}
	c.ACRs = list

	return nil
}

// numericDate returns the named NumericDate claim: seconds since the epoch,
// an integer or a fraction. Strings, booleans and arrays are malformed.
func numericDate(raw map[string]interface{}, name string) (time.Time, error) {
	v, ok := raw[name]
	if !ok {
		return time.Time{}, nil
	}

	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, fmt.Errorf("claim %q is not a number: %w", name, ErrTokenMalformed)
	}

	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil && i > -maxNumericDate && i < maxNumericDate {
		return time.Unix(i, 0), nil
	}

	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || f <= -maxNumericDate || f >= maxNumericDate {
		return time.Time{}, fmt.Errorf("claim %q is out of range: %w", name, ErrTokenMalformed)
	}

	sec := math.Floor(f)

	return time.Unix(int64(sec), int64((f-sec)*1e9)), nil
}

// HeaderValue returns the named claim as one request header value: its
// Values joined with ",". It reports false when the claim has no value, or
// when the value holds a control character other than tab: Go's transport
// would refuse to send such a header upstream and fail the whole request.
// c must come from ParseClaims or a Verifier: "amr" is read from its AMR.
func HeaderValue(c *Claims, name string) (string, bool) {
	// A string claim (sub, acr) is its own value, inline: under Yaegi each
	// call of claimValues and Join allocates.
	s, ok := c.Raw[name].(string)
	if !ok {
		// amr was decoded into AMR, an array of strings: its Values.
		v := c.AMR
		if name != "amr" || v == nil {
			v = claimValues(c, name)
		}
		ok = len(v) > 0
		s = strings.Join(v, ",")
	}

	return s, ok && !strings.ContainsAny(s, headerControlChars)
}

// headerControlChars are refused in header values (RFC 9110 §5.5): C0
// controls but tab, and DEL.
const headerControlChars = "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0a\x0b\x0c\x0d\x0e\x0f" +
	"\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x7f"

// Values returns the named claim as strings: a string, number or boolean as
// one value, an array as its string, number and boolean members. Objects and
// null give nothing. A name with dots that is not itself a claim walks into
// nested objects, so "realm_access.roles" reads Keycloak's realm roles.
func (c *Claims) Values(name string) []string {
	return claimValues(c, name)
}

// claimValues is Values (a function: under Yaegi a method call costs
// about twice as much).
func claimValues(c *Claims, name string) []string {
	v, ok := c.Raw[name]
	if !ok && strings.IndexByte(name, '.') >= 0 {
		v, ok = nestedClaim(c.Raw, name)
	}
	if !ok {
		return nil
	}

	if arr, isArray := v.([]interface{}); isArray {
		out := make([]string, 0, len(arr))
		for i := 0; i < len(arr); i++ {
			// Strings (amr, groups) inline; scalarString for the others.
			s, isScalar := arr[i].(string)
			if !isScalar {
				s, isScalar = scalarString(arr[i])
			}
			if isScalar {
				out = append(out, s)
			}
		}
		return out
	}

	if s, isScalar := scalarString(v); isScalar {
		return []string{s}
	}

	return nil
}

// nestedClaim follows a dotted path through nested JSON objects.
func nestedClaim(raw map[string]interface{}, path string) (interface{}, bool) {
	parts := strings.Split(path, ".")
	obj := raw
	for i := 0; i < len(parts)-1; i++ {
		next, ok := obj[parts[i]].(map[string]interface{})
		if !ok {
			return nil, false
		}
		obj = next
	}

	v, ok := obj[parts[len(parts)-1]]

	return v, ok
}

// scalarString renders a JSON string, number or boolean as a string.
func scalarString(v interface{}) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return string(x), true
	case bool:
		return strconv.FormatBool(x), true
	}

	return "", false
}
