module github.com/stepup-auth/benchnoop

go 1.21
