package stepup

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxProviderBody bounds a discovery document or token response, in bytes.
const maxProviderBody = 1 << 20

// maxCodeSize bounds the authorization code taken from the callback query.
const maxCodeSize = 4096

// discoveryRetry is how long a failed discovery is remembered: meanwhile
// callers get the same error at once instead of each waiting for a timeout
// against a provider that is down.
const discoveryRetry = 5 * time.Second

// discoveryDocument holds the fields of OIDC Discovery §3 the relying party
// uses.
type discoveryDocument struct {
	Issuer                string `json:"issuer"`
	AuthorizationEndpoint string `json:"authorization_endpoint"`
	TokenEndpoint         string `json:"token_endpoint"`
	EndSessionEndpoint    string `json:"end_session_endpoint"`
}

// tokenResponse holds the fields of a token endpoint response (OIDC Core
// §3.1.3.3, RFC 6749 §5.2) the relying party uses.
type tokenResponse struct {
	TokenType        string `json:"token_type"`
	IDToken          string `json:"id_token"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// endpoints returns the provider endpoints, running discovery on first use
// when some are not configured. A success is kept for the life of the
// relying party; a failure is remembered for a few seconds. Concurrent
// callers wait for the one discovery in flight.
func (rp *RelyingParty) endpoints(ctx context.Context) (*providerEndpoints, error) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if rp.resolved != nil {
		return rp.resolved, nil
	}
	if rp.lastErr != nil && rp.opts.Now().Sub(rp.lastTry) < discoveryRetry {
		return nil, rp.lastErr
	}

	ep, err := rp.discover(ctx)
	if err != nil {
		// A caller that gave up (client gone) says nothing about the
		// provider: do not make others pay for it.
		if ctx.Err() == nil {
			rp.lastErr = err
			rp.lastTry = rp.opts.Now()
		}
		return nil, err
	}
	rp.resolved = ep
	rp.lastErr = nil

	return ep, nil
}

// explicitEndpoints returns the configured endpoints.
func (rp *RelyingParty) explicitEndpoints() *providerEndpoints {
	return &providerEndpoints{
		authorization: rp.opts.AuthorizationURL,
		token:         rp.opts.TokenURL,
		endSession:    rp.opts.EndSessionURL,
	}
}

// discover fetches the provider's configuration (OIDC Discovery §4) and
// merges it under the explicit endpoints. The document must name exactly
// the configured issuer (§4.3): otherwise another provider could be
// impersonated through a compromised or misconfigured document.
func (rp *RelyingParty) discover(ctx context.Context) (*providerEndpoints, error) {
	body, status, err := rp.do(ctx, http.MethodGet, discoveryURL(rp.opts.Issuer), nil, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: discovery: %v", ErrProviderUnavailable, err)
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("%w: discovery: status %d", ErrProviderUnavailable, status)
	}
	var doc discoveryDocument
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("%w: discovery: %v", ErrProviderUnavailable, err)
	}
	if doc.Issuer != rp.opts.Issuer {
		return nil, fmt.Errorf("%w: discovery: issuer %q is not the configured one",
			ErrProviderUnavailable, sanitizeProviderText(doc.Issuer))
	}

	ep := rp.explicitEndpoints()
	ep.authorization = firstNonEmpty(ep.authorization, doc.AuthorizationEndpoint)
	ep.token = firstNonEmpty(ep.token, doc.TokenEndpoint)
	ep.endSession = firstNonEmpty(ep.endSession, doc.EndSessionEndpoint)
	if !IsHTTPURL(ep.authorization) || !IsHTTPURL(ep.token) ||
		(ep.endSession != "" && !IsHTTPURL(ep.endSession)) {
		return nil, fmt.Errorf("%w: discovery: missing or invalid endpoints", ErrProviderUnavailable)
	}

	return ep, nil
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// do sends one request to the provider under Timeout and returns the body,
// read up to maxProviderBody bytes (a larger body is an error).
func (rp *RelyingParty) do(
	ctx context.Context,
	method, rawURL string,
	body io.Reader,
	header http.Header,
) ([]byte, int, error) {
	ctx, cancel := context.WithTimeout(ctx, rp.opts.Timeout)
	defer cancel()

	req, err := http.NewRequestWithContext(ctx, method, rawURL, body)
	if err != nil {
		return nil, 0, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "application/json")
	resp, err := rp.opts.Client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()

	b, err := io.ReadAll(io.LimitReader(resp.Body, maxProviderBody+1))
	if err != nil {
		return nil, 0, err
	}
	if len(b) > maxProviderBody {
		return nil, 0, errors.New("response body too large")
	}

	return b, resp.StatusCode, nil
}

// Exchange redeems an authorization code at the token endpoint (OIDC Core
// §3.1.3.1) with the flow's PKCE verifier and returns the raw ID token,
// which the caller must then pass to VerifyIDToken. redirectURI must be the
// one of the authorization request.
//
// Errors: ErrProviderRejected when the provider answers with an OAuth error
// (its error code is in the message; never the code or the secret);
// ErrProviderUnavailable when it cannot be reached, answers 5xx, times out,
// or answers 200 without an ID token or with a token_type other than Bearer.
func (rp *RelyingParty) Exchange(
	ctx context.Context,
	code, codeVerifier, redirectURI string,
) (string, error) {
	if code == "" || len(code) > maxCodeSize {
		return "", fmt.Errorf("%w: missing or oversized code", ErrProviderRejected)
	}
	ep, err := rp.endpoints(ctx)
	if err != nil {
		return "", err
	}

	form := url.Values{}
	form.Set("grant_type", "authorization_code")
	form.Set("code", code)
	form.Set("redirect_uri", redirectURI)
	form.Set("code_verifier", codeVerifier)
	header := http.Header{}
	header.Set("Content-Type", "application/x-www-form-urlencoded")
	rp.authenticateClient(form, header)

	body, status, err := rp.do(ctx, http.MethodPost, ep.token,
		strings.NewReader(form.Encode()), header)
	if err != nil {
		return "", fmt.Errorf("%w: token endpoint: %v", ErrProviderUnavailable, err)
	}

	return idTokenFromResponse(body, status)
}

// authenticateClient adds the client credentials (OIDC Core §9). For HTTP
// Basic, RFC 6749 §2.3.1 requires form-urlencoding the client ID and secret
// before base64: a secret with ":" or "%" would otherwise be misread.
func (rp *RelyingParty) authenticateClient(form url.Values, header http.Header) {
	switch rp.authMethod {
	case ClientSecretBasic:
		cred := url.QueryEscape(rp.opts.ClientID) + ":" + url.QueryEscape(rp.opts.ClientSecret)
		header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(cred)))
	case ClientSecretPost:
		form.Set("client_id", rp.opts.ClientID)
		form.Set("client_secret", rp.opts.ClientSecret)
	default:
		form.Set("client_id", rp.opts.ClientID)
	}
}

// idTokenFromResponse reads a token endpoint response (OIDC Core §3.1.3.3,
// §3.1.3.4; RFC 6749 §5.2).
func idTokenFromResponse(body []byte, status int) (string, error) {
	var tr tokenResponse
	jsonErr := json.Unmarshal(body, &tr)
	if status >= 500 {
		return "", fmt.Errorf("%w: token endpoint: status %d", ErrProviderUnavailable, status)
	}
	if status != http.StatusOK || tr.Error != "" {
		return "", fmt.Errorf("%w: token endpoint: status %d: %s", ErrProviderRejected, status,
			oauthErrorText(tr.Error, tr.ErrorDescription))
	}
	if jsonErr != nil {
		return "", fmt.Errorf("%w: token endpoint: %v", ErrProviderUnavailable, jsonErr)
	}
	if tr.TokenType != "" && !strings.EqualFold(tr.TokenType, "Bearer") {
		return "", fmt.Errorf("%w: token endpoint: token_type %q is not Bearer",
			ErrProviderUnavailable, sanitizeProviderText(tr.TokenType))
	}
	if tr.IDToken == "" {
		return "", fmt.Errorf("%w: token endpoint: no id_token", ErrProviderUnavailable)
	}

	return tr.IDToken, nil
}

// maxProviderText bounds provider-supplied text kept in an error message.
const maxProviderText = 200

// CallbackError returns nil when the callback query carries no "error"
// parameter, else an error for it (OIDC Core §3.1.2.6, RFC 6749 §4.1.2.1)
// whose message holds the error code and description, sanitised and
// bounded: safe to log and, HTML-escaped, to show.
//
// Every such error wraps ErrProviderRejected. When the provider could not
// meet the requested ACRs ("unmet_authentication_requirements", OpenID
// Connect Core Unmet Authentication Requirements 1.0) it also wraps
// ErrACRInsufficient, so the adapter can answer 403 with what the route
// requires instead of redirecting again. Other codes: access_denied (the
// user refused or cancelled), login_required, interaction_required, ...
//
// The query is attacker-controlled until the flow's state has been checked:
// call FlowCookies.Take first, and do not show the description on a page
// otherwise.
func CallbackError(query url.Values) error {
	code := query.Get("error")
	if code == "" {
		return nil
	}
	text := oauthErrorText(code, query.Get("error_description"))
	if code == "unmet_authentication_requirements" {
		return fmt.Errorf("%w: %w: %s", ErrProviderRejected, ErrACRInsufficient, text)
	}

	return fmt.Errorf("%w: %s", ErrProviderRejected, text)
}

// oauthErrorText formats an OAuth error code and description for a message.
func oauthErrorText(code, description string) string {
	if code == "" {
		return "no error code"
	}
	text := sanitizeProviderText(code)
	if description != "" {
		text += ": " + sanitizeProviderText(description)
	}

	return text
}

// sanitizeProviderText keeps the characters RFC 6749 §4.1.2.1 allows in
// error and error_description (%x20-21 / %x23-5B / %x5D-7E), dropping
// quotes, backslashes, control and non-ASCII bytes, and truncates to 200
// bytes: provider text must not forge log lines or grow without bound.
func sanitizeProviderText(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s) && len(b) < maxProviderText; i++ {
		c := s[i]
		if c >= 0x20 && c <= 0x7e && c != '"' && c != '\\' {
			b = append(b, c)
		}
	}

	return string(b)
}
