package realparts

import "fmt"

// LoginPlugin describes the plugin configuration of the browser journeys and
// of the demo: the built-in login at an OpenID provider, the ladder
// urn:stepup:loa:1 < urn:stepup:loa:2, /public open, /admin and /api/admin
// at level 2 (/admin also within AdminMaxAge and for the group admins only),
// every other path at level 1, and the identity headers the demo's app
// shows. One definition, so that the
// browser journeys prove the configuration the demo runs.
type LoginPlugin struct {
	Issuer        string
	ClientID      string
	ClientSecret  string
	SessionSecret string
	AdminMaxAge   string // e.g. "2m"
	Leeway        string // e.g. "5s"
	// Extra holds more oidc options, one "key: value" per element.
	Extra []string
}

// YAML returns the middleware's "plugin:" block, indented to stand under
// http.middlewares.<name>: in a file-provider configuration.
func (p LoginPlugin) YAML() string {
	s := fmt.Sprintf(`
      plugin:
        stepup:
          acrLevels: [urn:stepup:loa:1, urn:stepup:loa:2]
          leeway: %s
          logLevel: debug
          rules:
            - pathPrefix: /
              minACR: urn:stepup:loa:1
            - pathPrefix: /public
              public: true
            - pathPrefix: /admin
              minACR: urn:stepup:loa:2
              maxAge: %s
              claims:
                - name: groups
                  values: [admins]
            - pathPrefix: /api/admin
              minACR: urn:stepup:loa:2
          claimHeaders:
            sub: X-Stepup-Subject
            acr: X-Stepup-ACR
            amr: X-Stepup-AMR
            email: X-Stepup-Email
            groups: X-Stepup-Groups
          oidc:
            issuer: %q
            clientID: %s
            clientSecret: %s
            sessionSecret: %q
            sessionClaims: [email, groups]`,
		p.Leeway, p.AdminMaxAge, p.Issuer, p.ClientID, p.ClientSecret, p.SessionSecret)
	for i := 0; i < len(p.Extra); i++ {
		s += "\n            " + p.Extra[i]
	}

	return s + "\n"
}
