package traefikstepup

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/stepup-auth/traefikstepup/stepup"
)

// deny answers a request that may not pass: a redirect to sign in for browser
// navigations, otherwise the RFC 6750 / RFC 9470 challenge or 403. In audit
// mode it only logs; the caller lets the request through.
func (m *stepUpMiddleware) deny(
	rw http.ResponseWriter,
	req *http.Request,
	rule *stepup.Rule,
	claims *stepup.Claims,
	err error,
) {
	switch {
	case errors.Is(err, stepup.ErrTokenMissing):
		m.challenge(rw, req, rule, claims, err, "")
	case errors.Is(err, stepup.ErrTokenAmbiguous) || errors.Is(err, stepup.ErrTokenTooLarge):
		// One condition per case: Yaegi v0.16.1 evaluates only the first
		// expression of a multi-expression case in a tagless switch.
		m.refuse(rw, req, rule, http.StatusBadRequest, err)
	case errors.Is(err, stepup.ErrKeysUnavailable):
		m.log.errorf("keys unavailable: method=%s path=%q: %v", req.Method, req.URL.Path, err)
		m.refuse(rw, req, rule, http.StatusServiceUnavailable, err)
	case stepup.IsAssuranceError(err):
		m.challenge(rw, req, rule, claims, err, "insufficient_user_authentication")
	case errors.Is(err, stepup.ErrClaimMismatch):
		m.refuse(rw, req, rule, http.StatusForbidden, err)
	default:
		m.challenge(rw, req, rule, claims, err, "invalid_token")
	}
}

// challenge steps the caller up: browsers are sent to sign in, everything else
// gets 401 with WWW-Authenticate. acr_values and max_age are disclosed only
// for a verified token (RFC 9470 §3) or in a browser redirect to the IdP.
func (m *stepUpMiddleware) challenge(
	rw http.ResponseWriter,
	req *http.Request,
	rule *stepup.Rule,
	claims *stepup.Claims,
	err error,
	code string,
) {
	m.logDecision(req, rule, claims, "challenge", err)
	if m.audit {
		return
	}
	maxAge := -1
	if age, ok := rule.MaxAge(); ok {
		maxAge = int(age / time.Second)
	}
	if m.login != nil && stepup.IsNavigation(req) {
		m.startLogin(rw, req, rule, err)
		return
	}
	if m.signIn != nil && stepup.IsNavigation(req) {
		returnTo := stepup.RequestURL(req, m.trustProxy).String()
		target := stepup.SignInRedirect(m.signIn, m.returnParam, returnTo, rule.ACRValues(), maxAge)
		rw.Header().Set("Cache-Control", "no-store")
		http.Redirect(rw, req, target, http.StatusFound)
		return
	}

	var header string
	switch code {
	case "":
		header = stepup.Challenge(m.realm, "", "", nil, -1)
	case "insufficient_user_authentication":
		header = stepup.Challenge(m.realm, code, describe(err), rule.ACRValues(), maxAge)
	default:
		header = stepup.Challenge(m.realm, code, describe(err), nil, -1)
	}
	rw.Header().Set("WWW-Authenticate", header)
	rw.Header().Set("Cache-Control", "no-store")
	http.Error(rw, http.StatusText(http.StatusUnauthorized), http.StatusUnauthorized)
}

// refuse answers 400, 403 or 503 (nothing a sign-in can fix).
func (m *stepUpMiddleware) refuse(
	rw http.ResponseWriter,
	req *http.Request,
	rule *stepup.Rule,
	status int,
	err error,
) {
	m.logDecision(req, rule, nil, "refuse "+strconv.Itoa(status), err)
	if m.audit {
		return
	}
	switch status {
	case http.StatusBadRequest:
		rw.Header().Set("WWW-Authenticate", stepup.Challenge(m.realm, "invalid_request", describe(err), nil, -1))
	case http.StatusForbidden:
		rw.Header().Set("WWW-Authenticate", stepup.Challenge(m.realm, "insufficient_scope", describe(err), nil, -1))
		if stepup.IsNavigation(req) {
			// A person, not a program: a page that says why, and that
			// signing in again will not help.
			writePage(rw, status, "Access denied",
				"Your account is signed in strongly enough, but it lacks what this page requires ("+
					describe(err)+"). Signing in again will not change that.", "")
			return
		}
	}
	rw.Header().Set("Cache-Control", "no-store")
	http.Error(rw, http.StatusText(status), status)
}

// describe returns the short, fixed description of an error's category for
// error_description: never the token, never details an attacker could probe.
func describe(err error) string {
	if err == nil {
		return ""
	}
	for i := 0; i < len(describedErrors); i++ {
		if errors.Is(err, describedErrors[i]) {
			return describedErrors[i].Error()
		}
	}

	return "token is invalid"
}

// describedErrors are the categories shown to clients, most specific first.
var describedErrors = []error{
	stepup.ErrTokenMissing, stepup.ErrTokenAmbiguous, stepup.ErrTokenTooLarge, stepup.ErrTokenMalformed,
	stepup.ErrAlgorithmNotAllowed, stepup.ErrCriticalHeader, stepup.ErrKeyNotFound,
	stepup.ErrSignatureInvalid, stepup.ErrIssuerInvalid, stepup.ErrAudienceInvalid,
	stepup.ErrTypeInvalid, stepup.ErrExpired, stepup.ErrNotYetValid, stepup.ErrIssuedInFuture,
	stepup.ErrKeysUnavailable, stepup.ErrACRInsufficient, stepup.ErrAMRInsufficient,
	stepup.ErrAuthTooOld, stepup.ErrClaimMismatch, stepup.ErrPathInvalid,
}

// logDecision writes one debug line per challenged or refused request (one
// info line in audit mode). It names the rule, the reason, the issuer and
// subject; never the token.
func (m *stepUpMiddleware) logDecision(
	req *http.Request,
	rule *stepup.Rule,
	claims *stepup.Claims,
	decision string,
	err error,
) {
	if !m.audit && !m.log.enabled(levelDebug) {
		return
	}
	ruleID := "none"
	if rule != nil {
		ruleID = rule.ID()
	}
	who := ""
	if claims != nil {
		who = fmt.Sprintf(" iss=%q sub=%q", claims.Issuer, claims.Subject)
	}
	line := fmt.Sprintf("decision=%q rule=%s method=%s path=%q reason=%q%s",
		decision, ruleID, req.Method, req.URL.Path, describe(err), who)
	if m.audit {
		m.log.audit(line)
		return
	}
	m.log.debug(line)
}
