// Package auth is the domain of who may call the API: bearer tokens with
// scopes, how their secrets are made and checked, and the one table that
// says which scope may run which operation. It does no I/O: stores keep
// tokens (sql/postgres, sql/sqlite), the service asks this package.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Scope is what a token may do.
type Scope string

const (
	// Admin may do everything, token management included.
	Admin Scope = "admin"
	// Write may create, change and delete studies and trials.
	Write Scope = "write"
	// Read may only read (GET).
	Read Scope = "read"
	// Runner may lease trials, heartbeat, report and tell the trials it
	// holds (lease token required), and read studies and trials.
	Runner Scope = "runner"
)

// Scopes lists every scope, most powerful first.
var Scopes = []Scope{Admin, Write, Read, Runner}

// Valid reports whether s is a known scope.
func (s Scope) Valid() bool { return slices.Contains(Scopes, s) }

// Token is an API token as stored: never its secret, only its hash.
type Token struct {
	ID     int64
	Name   string
	Scopes []Scope
	// Hash is SHA-256 of the secret.
	Hash       []byte
	CreatedAt  time.Time
	ExpiresAt  *time.Time
	RevokedAt  *time.Time
	LastUsedAt *time.Time
}

// Usable says why a token cannot be used at now, or "" when it can. The
// reason is safe to show its holder.
func (t *Token) Usable(now time.Time) string {
	switch {
	case t.RevokedAt != nil:
		return "the token was revoked"
	case t.ExpiresAt != nil && !now.Before(*t.ExpiresAt):
		return "the token has expired"
	}
	return ""
}

// Has reports whether the token carries scope s.
func (t *Token) Has(s Scope) bool { return slices.Contains(t.Scopes, s) }

// SecretPrefix starts every secret, so that a leaked one is recognisable
// (secret scanners, logs) and a pasted value of another kind is told apart.
const SecretPrefix = "tune_"

// secretBytes of randomness: 256 bits, so a plain SHA-256 is a fine hash
// (no salt or slow hash is needed against guessing).
const secretBytes = 32

// NewSecret returns a fresh random secret and its hash.
func NewSecret() (secret string, hash []byte, err error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", nil, fmt.Errorf("auth: reading randomness: %w", err)
	}
	secret = SecretPrefix + base64.RawURLEncoding.EncodeToString(b)
	return secret, HashSecret(secret), nil
}

// HashSecret is how secrets are stored and looked up.
func HashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// Matches reports in constant time whether secret is the token's.
func (t *Token) Matches(secret string) bool {
	return subtle.ConstantTimeCompare(HashSecret(secret), t.Hash) == 1
}

// LooksLikeSecret reports whether s has the shape of a secret NewSecret
// makes, so that garbage is refused without a store lookup.
func LooksLikeSecret(s string) bool {
	rest, ok := strings.CutPrefix(s, SecretPrefix)
	if !ok || len(rest) != base64.RawURLEncoding.EncodedLen(secretBytes) {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(rest)
	return err == nil
}

// MaxNameLen bounds a token's name.
const MaxNameLen = 100

// ValidateNew checks the name, scopes and expiry of a token to create at
// now; the message is for the client.
func ValidateNew(name string, scopes []Scope, expires *time.Time, now time.Time) error {
	switch {
	case strings.TrimSpace(name) == "":
		return fmt.Errorf("a token needs a name, e.g. the person or machine that holds it")
	case len(name) > MaxNameLen:
		return fmt.Errorf("the token name is longer than %d bytes", MaxNameLen)
	case !utf8.ValidString(name) || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return fmt.Errorf("the token name must be printable UTF-8 text")
	case len(scopes) == 0:
		return fmt.Errorf("a token needs at least one scope: admin, write, read or runner")
	case expires != nil && !expires.After(now):
		return fmt.Errorf("expires_at %s is not in the future", expires.UTC().Format(time.RFC3339))
	}
	for _, s := range scopes {
		if !s.Valid() {
			return fmt.Errorf("unknown scope %q: use admin, write, read or runner", s)
		}
	}
	return nil
}

// JoinScopes writes scopes as stores keep them: comma-separated.
func JoinScopes(s []Scope) string {
	parts := make([]string, len(s))
	for i, v := range s {
		parts[i] = string(v)
	}
	return strings.Join(parts, ",")
}

// SplitScopes reads what JoinScopes wrote.
func SplitScopes(s string) []Scope {
	var out []Scope
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, Scope(p))
		}
	}
	return out
}
