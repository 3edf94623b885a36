module github.com/stepup-auth/traefikstepup/tests/bench

go 1.21
