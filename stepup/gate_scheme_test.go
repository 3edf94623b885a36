package stepup

import "testing"

// A verdict recorded for a cookie is keyed by the bare token: an
// Authorization header carrying the bare token (no Bearer scheme, so no
// token at all for TokenFromRequest) must not find it.
func TestAdmitRawAuthorizationValueIsNoBearer(t *testing.T) {
	g, v, _ := newTestGate(t, GateOptions{})
	token := signHS256(t, hs256, validClaims(), hsSecret)
	cacheToken(t, v, token)
	if !admits(g, gateRequest("GET", "/orders", "Cookie", "session="+token)) {
		t.Fatal("cookie not admitted")
	}
	if admits(g, gateRequest("GET", "/orders", "Authorization", token)) {
		t.Error("Authorization without the Bearer scheme admitted")
	}
}
