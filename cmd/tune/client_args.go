package main

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// parseParams turns repeated --param k=v flags into trial params.
//
// A value that is valid JSON is taken as JSON, so `batch_size=64` is the
// number 64, `learning_rate=1e-3` a number, `amp=true` a boolean and
// `activation="64"` the string "64"; anything else (`activation=relu`) is
// the string as written. Numbers keep their exact spelling on the wire:
// an int param must reach the server as an integer.
func parseParams(args []string) (map[string]any, error) {
	params := make(map[string]any, len(args))
	for _, arg := range args {
		key, raw, ok := strings.Cut(arg, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" {
			return nil, fmt.Errorf("invalid --param %q: want name=value", arg)
		}
		if _, dup := params[key]; dup {
			return nil, fmt.Errorf("--param %s given twice", key)
		}
		params[key] = parseParamValue(raw)
	}
	return params, nil
}

// parseParamValue parses one param value: JSON when it is exactly one JSON
// value, else the string itself.
func parseParamValue(raw string) any {
	trimmed := strings.TrimSpace(raw)
	if !json.Valid([]byte(trimmed)) {
		return raw
	}
	dec := json.NewDecoder(strings.NewReader(trimmed))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return raw
	}
	return v
}

// parseMetrics turns repeated --metric k=v flags into metrics.
func parseMetrics(args []string) (map[string]float64, error) {
	metrics := make(map[string]float64, len(args))
	for _, arg := range args {
		key, raw, ok := strings.Cut(arg, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" {
			return nil, fmt.Errorf("invalid --metric %q: want name=number", arg)
		}
		if _, dup := metrics[key]; dup {
			return nil, fmt.Errorf("--metric %s given twice", key)
		}
		v, err := parseFinite(raw)
		if err != nil {
			return nil, fmt.Errorf("invalid --metric %s: %w", key, err)
		}
		metrics[key] = v
	}
	return metrics, nil
}

// parseFinite parses a trial value or metric. NaN and infinities are
// refused here: JSON cannot carry them, and a run that diverged should be
// told as failed, with the reason in --error.
func parseFinite(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%q is not a finite number; tell a diverged run as --state failed", s)
	}
	return v, nil
}

// parseTrialID parses a trial id argument.
func parseTrialID(s string) (int64, error) {
	id, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("invalid trial id %q: want a positive integer (the ID column of `tune trial list`)", s)
	}
	return id, nil
}
