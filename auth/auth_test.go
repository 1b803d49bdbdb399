package auth

import (
	"strings"
	"testing"
	"time"
)

func TestNewSecret(t *testing.T) {
	a, ha, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatal("two secrets are equal")
	}
	if !strings.HasPrefix(a, SecretPrefix) || !LooksLikeSecret(a) {
		t.Fatalf("secret %q lacks the prefix or shape", a)
	}
	tok := Token{Hash: ha}
	if !tok.Matches(a) || tok.Matches(b) {
		t.Fatal("Matches does not tell the secrets apart")
	}
	for _, s := range []string{"", "tune_", "tune_short", "bearer " + a, a + "x", strings.Replace(a, "tune_", "tuna_", 1)} {
		if LooksLikeSecret(s) {
			t.Errorf("LooksLikeSecret(%q) = true", s)
		}
	}
}

func TestUsable(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	past, future := now.Add(-time.Second), now.Add(time.Hour)
	for _, tc := range []struct {
		name string
		tok  Token
		ok   bool
	}{
		{"plain", Token{}, true},
		{"expires later", Token{ExpiresAt: &future}, true},
		{"expired", Token{ExpiresAt: &past}, false},
		{"expires now", Token{ExpiresAt: &now}, false},
		{"revoked", Token{RevokedAt: &past}, false},
	} {
		if got := tc.tok.Usable(now) == ""; got != tc.ok {
			t.Errorf("%s: usable = %v, want %v", tc.name, got, tc.ok)
		}
	}
}

func TestValidateNew(t *testing.T) {
	now := time.Now()
	past := now.Add(-time.Hour)
	for _, tc := range []struct {
		name   string
		scopes []Scope
		exp    *time.Time
		ok     bool
	}{
		{"ci", []Scope{Read}, nil, true},
		{"", []Scope{Read}, nil, false},
		{"x", nil, nil, false},
		{"x", []Scope{"root"}, nil, false},
		{"x", []Scope{Read}, &past, false},
		{"bad\x00name", []Scope{Read}, nil, false},
		{strings.Repeat("n", MaxNameLen+1), []Scope{Read}, nil, false},
	} {
		if err := ValidateNew(tc.name, tc.scopes, tc.exp, now); (err == nil) != tc.ok {
			t.Errorf("ValidateNew(%q, %v) = %v, want ok=%v", tc.name, tc.scopes, err, tc.ok)
		}
	}
}

func TestDecide(t *testing.T) {
	type want struct{ allowed, lease bool }
	ops := []string{"listStudies", "createStudy", "acquireLease", "tell", "createToken"}
	for _, tc := range []struct {
		scopes []Scope
		want   []want // in the order of ops
	}{
		{[]Scope{Admin}, []want{{true, false}, {true, false}, {true, false}, {true, false}, {true, false}}},
		{[]Scope{Write}, []want{{true, false}, {true, false}, {true, false}, {true, false}, {false, false}}},
		{[]Scope{Read}, []want{{true, false}, {false, false}, {false, false}, {false, false}, {false, false}}},
		{[]Scope{Runner}, []want{{true, false}, {false, false}, {true, false}, {true, true}, {false, false}}},
		// A broader scope lifts the runner's lease requirement.
		{[]Scope{Runner, Write}, []want{{true, false}, {true, false}, {true, false}, {true, false}, {false, false}}},
		{nil, []want{{false, false}, {false, false}, {false, false}, {false, false}, {false, false}}},
	} {
		for i, op := range ops {
			d := Decide(tc.scopes, op)
			if got := (want{d.Allowed, d.LeaseRequired}); got != tc.want[i] {
				t.Errorf("Decide(%v, %s) = %+v, want %+v", tc.scopes, op, got, tc.want[i])
			}
		}
	}
	if d := Decide([]Scope{Admin}, "someNewOperation"); d.Allowed {
		t.Error("an operation missing from the table is allowed")
	}
}
