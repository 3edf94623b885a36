package stepup

import (
	"errors"
	"fmt"
	"testing"
)

func TestIsAssuranceError(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{name: "acr", err: ErrACRInsufficient, want: true},
		{name: "wrapped age", err: wrapf("rule /admin: %w", ErrAuthTooOld), want: true},
		{name: "expired", err: ErrExpired, want: false},
		{name: "claim", err: ErrClaimMismatch, want: false},
	}
	for _, tt := range tests {
		if got := IsAssuranceError(tt.err); got != tt.want {
			t.Errorf("%s: IsAssuranceError = %v, want %v", tt.name, got, tt.want)
		}
	}
	if !errors.Is(wrapf("x: %w", ErrExpired), ErrExpired) {
		t.Fatal("wrapping lost identity")
	}
}

func wrapf(format string, err error) error { return fmt.Errorf(format, err) }
