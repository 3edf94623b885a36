module github.com/stepup-auth/floor

go 1.21
