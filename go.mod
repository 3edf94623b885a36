module github.com/stepup-auth/traefikstepup

go 1.21
