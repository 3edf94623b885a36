module github.com/stepup-auth/noop

go 1.21
