// Package stepup is the engine of traefikstepup: JOSE signature verification,
// key sets, claims validation, the step-up policy and the OIDC relying party.
//
// It knows nothing about Traefik and never logs: every function returns errors
// built from the sentinels in errors.go, and callers classify them with
// errors.Is. The package uses the standard library only and obeys the rules
// for code interpreted by Yaegi v0.16.1 (no generics from slices/maps, no
// min/max builtins, no closures over loop variables, no custom error types).
package stepup
