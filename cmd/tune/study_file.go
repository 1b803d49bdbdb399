package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// maxStudyFile bounds what `study create` reads. A study definition is a
// few kilobytes; anything near this is a wrong file, and the server would
// refuse it anyway.
const maxStudyFile = 4 << 20

// readStudyFile reads a study definition from path, or from stdin when path
// is "-", and returns it as JSON ready for POST /studies.
//
// The document goes to the server as written, not through the generated
// StudyCreate type: decoding into it would silently drop misspelled keys,
// and the server's 400 for an unknown key is far more useful.
func readStudyFile(path string, stdin io.Reader) ([]byte, error) {
	var (
		data []byte
		err  error
	)
	if path == "-" {
		data, err = io.ReadAll(io.LimitReader(stdin, maxStudyFile+1))
	} else {
		var f *os.File
		f, err = os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		data, err = io.ReadAll(io.LimitReader(f, maxStudyFile+1))
	}
	name := path
	if path == "-" {
		name = "stdin"
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(data) > maxStudyFile {
		return nil, fmt.Errorf("%s: larger than %d bytes; is it a study file?", name, maxStudyFile)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%s: empty study file", name)
	}
	body, err := studyJSON(data, strings.EqualFold(filepath.Ext(path), ".json"))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return body, nil
}

// studyJSON returns a study document as JSON. A .json file, or a document
// that starts with '{', is JSON and is passed through byte for byte, so
// numbers keep their exact spelling; anything else is YAML.
func studyJSON(data []byte, isJSON bool) ([]byte, error) {
	trimmed := bytes.TrimSpace(data)
	if isJSON || bytes.HasPrefix(trimmed, []byte("{")) {
		// Report a syntax error here, with its offset, rather than as the
		// server's less specific 400.
		var v any
		if err := json.Unmarshal(trimmed, &v); err != nil {
			return nil, fmt.Errorf("invalid JSON: %w", err)
		}
		if _, ok := v.(map[string]any); !ok {
			return nil, errors.New("a study must be a JSON object")
		}
		return trimmed, nil
	}
	return yamlToJSON(data)
}

// yamlToJSON converts one YAML document holding a mapping into JSON.
// YAML integers stay JSON integers (batch_size: 64 becomes 64, never
// 64.0), which the server needs to tell int bounds and choices from floats.
func yamlToJSON(data []byte) ([]byte, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("invalid YAML: %w", err)
	}
	// Several documents in one file would make which one counts a guess.
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, fmt.Errorf("invalid YAML: %w", err)
		}
		return nil, errors.New("more than one YAML document; a study file holds one")
	}
	v, err := jsonValue(doc, "")
	if err != nil {
		return nil, err
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, errors.New("a study must be a YAML mapping")
	}
	return json.Marshal(v)
}

// jsonValue converts a value decoded by yaml.v3 into one encoding/json can
// marshal: mappings with non-string keys (yaml.v3 decodes `1: x` with an
// int key) become string-keyed objects, recursively. path locates errors.
func jsonValue(v any, path string) (any, error) {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			c, err := jsonValue(e, joinPath(path, k))
			if err != nil {
				return nil, err
			}
			out[k] = c
		}
		return out, nil
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			var key string
			switch k := k.(type) {
			case string:
				key = k
			case int, int64, uint64, float64, bool:
				key = fmt.Sprint(k)
			default:
				return nil, fmt.Errorf("%s: unsupported mapping key %v of type %T", orRoot(path), k, k)
			}
			if _, dup := out[key]; dup {
				return nil, fmt.Errorf("%s: duplicate key %q", orRoot(path), key)
			}
			c, err := jsonValue(e, joinPath(path, key))
			if err != nil {
				return nil, err
			}
			out[key] = c
		}
		return out, nil
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			c, err := jsonValue(e, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	case float64:
		// YAML has .nan and .inf; JSON has neither, and json.Marshal's
		// own error would not say where the value was.
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%s: %v is not a finite number", orRoot(path), v)
		}
		return v, nil
	default:
		// Strings, ints, bools, nil, and timestamps (time.Time marshals as
		// an RFC 3339 string) need nothing.
		return v, nil
	}
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func orRoot(path string) string {
	if path == "" {
		return "top level"
	}
	return path
}
