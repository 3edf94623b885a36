package stepup

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func sealerSecret(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func TestNewSealer(t *testing.T) {
	tests := []struct {
		name     string
		secret   []byte
		previous [][]byte
		purpose  string
		want     bool // constructed
	}{
		{name: "valid", secret: sealerSecret(1), purpose: "flow", want: true},
		{name: "with previous", secret: sealerSecret(1), previous: [][]byte{sealerSecret(2)}, purpose: "flow", want: true},
		{name: "short secret", secret: []byte("short"), purpose: "flow", want: false},
		{name: "nil secret", purpose: "flow", want: false},
		{name: "short previous", secret: sealerSecret(1), previous: [][]byte{[]byte("x")}, purpose: "flow", want: false},
		{name: "empty purpose", secret: sealerSecret(1), want: false},
	}
	for _, tt := range tests {
		s, err := NewSealer(tt.secret, tt.previous, tt.purpose)
		if got := err == nil && s != nil; got != tt.want {
			t.Errorf("%s: constructed = %v (err %v), want %v", tt.name, got, err, tt.want)
		}
	}
}

func TestSealerRoundTrip(t *testing.T) {
	s := mustSealer(t, sealerSecret(1), nil, "flow")
	plain := []byte(`{"state":"abc"}`)
	a, err := s.Seal(plain)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Seal(plain)
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Error("two seals of the same value are equal: nonce reused")
	}
	if strings.ContainsAny(a, "+/=") {
		t.Errorf("sealed value is not unpadded base64url: %q", a)
	}
	got, err := s.Open(a)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	empty, err := s.Seal(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Open(empty); err != nil || len(got) != 0 {
		t.Errorf("Open(empty) = %q, %v", got, err)
	}
}

func TestSealerOpen(t *testing.T) {
	cur := mustSealer(t, sealerSecret(1), [][]byte{sealerSecret(2)}, "flow")
	old := mustSealer(t, sealerSecret(2), nil, "flow")
	unknown := mustSealer(t, sealerSecret(3), nil, "flow")
	otherPurpose := mustSealer(t, sealerSecret(1), nil, "session")
	plain := []byte("hello")

	raw, _ := base64.RawURLEncoding.DecodeString(mustSeal(t, cur, plain))
	raw[len(raw)-1] ^= 1
	tampered := base64.RawURLEncoding.EncodeToString(raw)
	short := base64.RawURLEncoding.EncodeToString(make([]byte, 27))

	tests := []struct {
		name   string
		sealed string
		want   bool // opens to plain
	}{
		{name: "current secret", sealed: mustSeal(t, cur, plain), want: true},
		{name: "previous secret", sealed: mustSeal(t, old, plain), want: true},
		{name: "unknown secret", sealed: mustSeal(t, unknown, plain), want: false},
		{name: "other purpose", sealed: mustSeal(t, otherPurpose, plain), want: false},
		{name: "tampered", sealed: tampered, want: false},
		{name: "truncated", sealed: mustSeal(t, cur, plain)[:30], want: false},
		{name: "too short", sealed: short, want: false},
		{name: "empty", sealed: "", want: false},
		{name: "bad encoding", sealed: "!!!!" + mustSeal(t, cur, plain), want: false},
		{name: "padded", sealed: mustSeal(t, cur, plain) + "=", want: false},
		{name: "oversized", sealed: strings.Repeat("A", maxSealedSize+1), want: false},
	}
	for _, tt := range tests {
		got, err := cur.Open(tt.sealed)
		if tt.want {
			if err != nil || !bytes.Equal(got, plain) {
				t.Errorf("%s: Open = %q, %v", tt.name, got, err)
			}
			continue
		}
		if !errors.Is(err, ErrSealedInvalid) {
			t.Errorf("%s: err = %v, want ErrSealedInvalid", tt.name, err)
		}
	}
}

func TestSealerSizeBound(t *testing.T) {
	s := mustSealer(t, sealerSecret(1), nil, "flow")
	// 3072 plaintext bytes + 28 of nonce and tag encode to 4134 characters.
	if _, err := s.Seal(make([]byte, 3072)); err == nil {
		t.Error("Seal accepted a value Open would refuse")
	}
	fits, err := s.Seal(make([]byte, 3000))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(fits); err != nil {
		t.Errorf("Open(largest) = %v", err)
	}
}

func mustSealer(t *testing.T, secret []byte, previous [][]byte, purpose string) *Sealer {
	t.Helper()
	s, err := NewSealer(secret, previous, purpose)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustSeal(t *testing.T, s *Sealer, plain []byte) string {
	t.Helper()
	v, err := s.Seal(plain)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
