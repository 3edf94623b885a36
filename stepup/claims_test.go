package stepup

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseClaims(t *testing.T) {
	tests := []struct {
		name     string
		payload  string
		acrClaim string
		want     *Claims // only the normalised fields are compared
		wantErr  error
	}{
		{
			name:    "registered claims",
			payload: `{"iss":"https://idp","sub":"alice","aud":"api","exp":1700000100,"nbf":1699999900,"iat":1699999950,"auth_time":1699999000}`,
			want: &Claims{
				Issuer: "https://idp", Subject: "alice", Audience: []string{"api"},
				ExpiresAt: time.Unix(1700000100, 0), NotBefore: time.Unix(1699999900, 0),
				IssuedAt: time.Unix(1699999950, 0), AuthTime: time.Unix(1699999000, 0),
			},
		},
		{
			name:    "aud array and step-up claims",
			payload: `{"aud":["a","b"],"acr":"loa2","amr":["pwd","otp"],"nonce":"n","azp":"client"}`,
			want: &Claims{
				Audience: []string{"a", "b"}, ACR: "loa2", ACRs: []string{"loa2"},
				AMR: []string{"pwd", "otp"}, Nonce: "n", AuthorizedParty: "client",
			},
		},
		{
			name:    "fractional dates",
			payload: `{"exp":1700000100.25,"iat":1.7e9}`,
			want: &Claims{
				ExpiresAt: time.Unix(1700000100, 250000000), IssuedAt: time.Unix(1700000000, 0),
			},
		},
		{
			name:     "array ACR claim",
			payload:  `{"acr":"1","acrs":["c1","c2"]}`,
			acrClaim: "acrs",
			want:     &Claims{ACR: "1", ACRs: []string{"c1", "c2"}},
		},
		{
			name:     "custom string ACR claim",
			payload:  `{"loa":"high"}`,
			acrClaim: "loa",
			want:     &Claims{ACR: "high", ACRs: []string{"high"}},
		},
		{name: "custom ACR claim absent", payload: `{"acr":"x"}`, acrClaim: "acrs", want: &Claims{ACR: "x"}},
		{name: "empty acr asserts nothing", payload: `{"acr":""}`, want: &Claims{}},
		{name: "exp string", payload: `{"exp":"1700000000"}`, wantErr: ErrTokenMalformed},
		{name: "exp bool", payload: `{"exp":true}`, wantErr: ErrTokenMalformed},
		{name: "iat array", payload: `{"iat":[1]}`, wantErr: ErrTokenMalformed},
		{name: "auth_time null", payload: `{"auth_time":null}`, wantErr: ErrTokenMalformed},
		{name: "exp out of range", payload: `{"exp":1e300}`, wantErr: ErrTokenMalformed},
		{name: "aud number", payload: `{"aud":1}`, wantErr: ErrTokenMalformed},
		{name: "aud mixed array", payload: `{"aud":["a",1]}`, wantErr: ErrTokenMalformed},
		{name: "acr array", payload: `{"acr":["loa2"]}`, wantErr: ErrTokenMalformed},
		{name: "amr string", payload: `{"amr":"pwd"}`, wantErr: ErrTokenMalformed},
		{name: "iss number", payload: `{"iss":1}`, wantErr: ErrTokenMalformed},
		{name: "sub object", payload: `{"sub":{}}`, wantErr: ErrTokenMalformed},
		{name: "custom ACR claim number", payload: `{"acrs":3}`, acrClaim: "acrs", wantErr: ErrTokenMalformed},
		{name: "not an object", payload: `["a"]`, wantErr: ErrTokenMalformed},
		{name: "null", payload: `null`, wantErr: ErrTokenMalformed},
		{name: "trailing data", payload: `{"sub":"a"}{"sub":"b"}`, wantErr: ErrTokenMalformed},
		{name: "truncated", payload: `{"sub":"a"`, wantErr: ErrTokenMalformed},
	}
	for _, tt := range tests {
		got, err := ParseClaims([]byte(tt.payload), tt.acrClaim)
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("%s: err = %v, want %v", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: unexpected error %v", tt.name, err)
			continue
		}
		if diff := claimsDiff(got, tt.want); diff != "" {
			t.Errorf("%s: %s", tt.name, diff)
		}
	}
}

// claimsDiff compares the normalised fields of two Claims.
func claimsDiff(got, want *Claims) string {
	var diffs []string
	pairs := [][3]string{
		{"iss", got.Issuer, want.Issuer},
		{"sub", got.Subject, want.Subject},
		{"acr", got.ACR, want.ACR},
		{"nonce", got.Nonce, want.Nonce},
		{"azp", got.AuthorizedParty, want.AuthorizedParty},
		{"aud", strings.Join(got.Audience, ","), strings.Join(want.Audience, ",")},
		{"acrs", strings.Join(got.ACRs, ","), strings.Join(want.ACRs, ",")},
		{"amr", strings.Join(got.AMR, ","), strings.Join(want.AMR, ",")},
	}
	for _, p := range pairs {
		if p[1] != p[2] {
			diffs = append(diffs, p[0]+" = "+p[1]+", want "+p[2])
		}
	}
	times := []struct {
		name      string
		got, want time.Time
	}{
		{"exp", got.ExpiresAt, want.ExpiresAt},
		{"nbf", got.NotBefore, want.NotBefore},
		{"iat", got.IssuedAt, want.IssuedAt},
		{"auth_time", got.AuthTime, want.AuthTime},
	}
	for _, tm := range times {
		if !tm.got.Equal(tm.want) {
			diffs = append(diffs, tm.name+" = "+tm.got.String()+", want "+tm.want.String())
		}
	}

	return strings.Join(diffs, "; ")
}

func TestClaimsValues(t *testing.T) {
	c, err := ParseClaims([]byte(`{
		"groups": ["admins", 7, true, {"x": 1}, null],
		"role": "ops",
		"level": 3,
		"verified": false,
		"profile": {"team": "blue"},
		"realm_access": {"roles": ["auditor"]},
		"dotted.name": "flat",
		"nothing": null
	}`), "")
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		claim string
		want  string
	}{
		{name: "array of mixed scalars", claim: "groups", want: "admins,7,true"},
		{name: "string", claim: "role", want: "ops"},
		{name: "number", claim: "level", want: "3"},
		{name: "bool", claim: "verified", want: "false"},
		{name: "object gives nothing", claim: "profile", want: ""},
		{name: "nested path", claim: "realm_access.roles", want: "auditor"},
		{name: "nested string", claim: "profile.team", want: "blue"},
		{name: "flat dotted name first", claim: "dotted.name", want: "flat"},
		{name: "nested missing", claim: "profile.x.y", want: ""},
		{name: "null", claim: "nothing", want: ""},
		{name: "absent", claim: "absent", want: ""},
	}
	for _, tt := range tests {
		if got := strings.Join(c.Values(tt.claim), ","); got != tt.want {
			t.Errorf("%s: Values(%q) = %q, want %q", tt.name, tt.claim, got, tt.want)
		}
	}
}
