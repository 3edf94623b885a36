// Package noop is a Traefik middleware plugin that does nothing: loaded
// through Yaegi like traefikstepup, it is the baseline the harness benchmarks
// and make bench compare the step-up middleware with.
package noop

import (
	"context"
	"net/http"
)

// Config is empty; the plugin has no options.
type Config struct{}

// CreateConfig returns the empty configuration.
func CreateConfig() *Config {
	return &Config{}
}

type noop struct {
	next http.Handler
}

// New returns a handler that calls next unchanged.
func New(ctx context.Context, next http.Handler, config *Config, name string) (http.Handler, error) {
	return &noop{next: next}, nil
}

func (n *noop) ServeHTTP(rw http.ResponseWriter, req *http.Request) {
	n.next.ServeHTTP(rw, req)
}
