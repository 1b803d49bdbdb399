package command

import (
	"math"
	"strings"
)

// Python's json.dumps writes NaN, Infinity and -Infinity for a loss that
// diverged. They are not JSON, but they are exactly what tune needs to
// hear: a non-finite objective fails the trial as diverged. So a directive
// line may carry them as bare values; quoteNonFinite turns each into a
// marked string for the JSON decoder, and nonFinite reads it back.

// nonFiniteMark starts the strings quoteNonFinite writes: a NUL, which no
// note a command means to print starts with.
const nonFiniteMark = "\x00nonfinite:"

var nonFiniteWords = []string{"-Infinity", "Infinity", "NaN"}

// quoteNonFinite replaces the bare words NaN, Infinity and -Infinity
// outside JSON strings with marked strings.
func quoteNonFinite(s string) string {
	if !strings.Contains(s, "NaN") && !strings.Contains(s, "Infinity") {
		return s
	}
	var b strings.Builder
	inString, escaped := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if inString {
			b.WriteByte(c)
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		if c == '"' {
			inString = true
			b.WriteByte(c)
			continue
		}
		word := ""
		for _, w := range nonFiniteWords {
			if strings.HasPrefix(s[i:], w) && (i+len(w) == len(s) || !isWordByte(s[i+len(w)])) && (i == 0 || !isWordByte(s[i-1])) {
				word = w
				break
			}
		}
		if word == "" {
			b.WriteByte(c)
			continue
		}
		b.WriteString(`"\u0000nonfinite:` + word + `"`)
		i += len(word) - 1
	}
	return b.String()
}

func isWordByte(c byte) bool {
	return c == '_' || c == '.' || c == '-' || c == '+' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// nonFinite reads back a value quoteNonFinite marked.
func nonFinite(v any) (float64, bool) {
	s, ok := v.(string)
	if !ok {
		return 0, false
	}
	switch strings.TrimPrefix(s, nonFiniteMark) {
	case s:
		return 0, false
	case "NaN":
		return math.NaN(), true
	case "Infinity":
		return math.Inf(1), true
	case "-Infinity":
		return math.Inf(-1), true
	}
	return 0, false
}
