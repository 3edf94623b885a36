module stepup.test/noop

go 1.21
