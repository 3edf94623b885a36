package stepup

import "testing"

func TestChallenge(t *testing.T) {
	tests := []struct {
		name        string
		realm       string
		errCode     string
		description string
		acrValues   []string
		maxAge      int
		want        string
	}{
		{
			name: "no token", realm: "api", maxAge: -1,
			want: `Bearer realm="api"`,
		},
		{
			name: "no realm", maxAge: -1,
			want: `Bearer`,
		},
		{
			name: "invalid token", realm: "api", errCode: ChallengeInvalidToken,
			description: "token is expired", maxAge: -1,
			want: `Bearer realm="api", error="invalid_token", error_description="token is expired"`,
		},
		{
			name: "step-up", realm: "api", errCode: ChallengeInsufficientAuthentication,
			description: "authentication level is too low", acrValues: []string{"loa2", "loa3"}, maxAge: 300,
			want: `Bearer realm="api", error="insufficient_user_authentication", ` +
				`error_description="authentication level is too low", acr_values="loa2 loa3", max_age=300`,
		},
		{
			name: "max age zero", realm: "api", errCode: ChallengeInsufficientAuthentication, maxAge: 0,
			want: `Bearer realm="api", error="insufficient_user_authentication", max_age=0`,
		},
		{
			name: "single uri acr quoted", errCode: ChallengeInsufficientAuthentication,
			acrValues: []string{"http://schemas.openid.net/pape/policies/2007/06/multi-factor"}, maxAge: -1,
			want: `Bearer error="insufficient_user_authentication", acr_values="http://schemas.openid.net/pape/policies/2007/06/multi-factor"`,
		},
		{
			name: "sanitised", realm: "a\"b\\c\r\nd", errCode: ChallengeInvalidToken,
			description: "bad \"thing\"\x00 café\x7f", acrValues: []string{"", "a b", "c\""}, maxAge: -1,
			want: `Bearer realm="abcd", error="invalid_token", error_description="bad thing caf", acr_values="ab c"`,
		},
		{
			name: "invalid utf-8 dropped", realm: "x\xffy", maxAge: -1,
			want: `Bearer realm="xy"`,
		},
	}
	for _, tt := range tests {
		got := Challenge(tt.realm, tt.errCode, tt.description, tt.acrValues, tt.maxAge)
		if got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
	}
}
