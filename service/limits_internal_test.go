package service

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzScanJSON: the pre-scan never panics, and whatever it lets through is
// within its limits as the real decoder sees it.
func FuzzScanJSON(f *testing.F) {
	for _, s := range []string{`{}`, `[]`, `{"a": [1, {"b": "c"}]}`, `"\u0000"`, strings.Repeat("[", 40), `{"a":{"b":{"c":1}}}`, "\"\xff\"", `{"k": "v", "k2": [true, null]}`} {
		f.Add([]byte(s))
	}
	lim := InputLimits{MaxDepth: 4, MaxString: 16, MaxKey: 8, MaxValues: 50}.withDefaults()
	f.Fuzz(func(t *testing.T, body []byte) {
		if scanJSON(body, lim) != nil || !json.Valid(body) {
			return
		}
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			return
		}
		if d := depth(v); d > lim.MaxDepth {
			t.Fatalf("let through depth %d > %d: %s", d, lim.MaxDepth, body)
		}
		walk(v, func(s string, key bool) {
			if strings.ContainsRune(s, 0) {
				t.Fatalf("let through a NUL: %q", body)
			}
			if n := lim.MaxString; key {
				n = lim.MaxKey
				if len(s) > n {
					t.Fatalf("let through a %d-byte key: %q", len(s), body)
				}
			} else if len(s) > n {
				t.Fatalf("let through a %d-byte string: %q", len(s), body)
			}
		})
	})
}

func depth(v any) int {
	d := 0
	switch x := v.(type) {
	case map[string]any:
		for _, e := range x {
			d = max(d, depth(e))
		}
		return d + 1
	case []any:
		for _, e := range x {
			d = max(d, depth(e))
		}
		return d + 1
	}
	return 0
}

func walk(v any, fn func(s string, key bool)) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			fn(k, true)
			walk(e, fn)
		}
	case []any:
		for _, e := range x {
			walk(e, fn)
		}
	case string:
		fn(x, false)
	}
}
