module github.com/stepup-auth/traefikstepup/tests/interop

go 1.24.0

require (
	github.com/go-jose/go-jose/v4 v4.1.9
	github.com/golang-jwt/jwt/v5 v5.3.1
	github.com/stepup-auth/traefikstepup v0.0.0
)

replace github.com/stepup-auth/traefikstepup => ../..
