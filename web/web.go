// Package web is tune's dashboard: a single-page app in plain JavaScript
// with a vendored ECharts, embedded in the binary so that `tune serve` needs
// nothing installed and no internet to show it. The app reads the same
// REST API as every other client; this package only serves its files.
package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
)

//go:embed static
var static embed.FS

// AssetsPrefix is where the app's scripts, styles and vendored files live.
const AssetsPrefix = "/assets/"

// Routes are the page URLs the app answers, as http.ServeMux patterns;
// each serves index.html and the app renders the page from the URL, so
// reloading a page or following a link to it works. The service mounts the
// same set so that any other path is still a 404.
var Routes = []string{
	"/",
	"/studies/{study}",
	"/studies/{study}/trials/{number}",
}

// FS returns the dashboard's files (index.html at the root, everything else
// as served under AssetsPrefix).
func FS() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return sub
}

type asset struct {
	body  []byte
	etag  string
	ctype string

	once sync.Once
	gz   []byte
}

// gzipped compresses once, on first use: echarts.min.js shrinks from
// 1.1 MB to about a third, and most browsers ask for gzip.
func (a *asset) gzipped() []byte {
	a.once.Do(func() {
		var b bytes.Buffer
		w, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
		w.Write(a.body)
		w.Close()
		if b.Len() < len(a.body) {
			a.gz = b.Bytes()
		}
	})
	return a.gz
}

// Dashboard serves the app. Files carry a content hash as their ETag and
// are revalidated on every load (they are not content-addressed, so a long
// max-age would keep old code after an upgrade).
type Dashboard struct {
	assets map[string]*asset // by path relative to the static root
	mux    *http.ServeMux
}

// Serves reports whether r is for a page or an asset of the dashboard, so
// that a server can answer anything else with its own 404.
func (h *Dashboard) Serves(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	if p, ok := strings.CutPrefix(r.URL.Path, AssetsPrefix); ok {
		a, found := h.assets[p]
		return found && a != h.assets["index.html"]
	}
	_, pattern := h.mux.Handler(r)
	return pattern != ""
}

// ServeHTTP serves index.html at every path in Routes and the files under
// AssetsPrefix; anything else is a plain 404.
func (h *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.Serves(r) {
		http.NotFound(w, r)
		return
	}
	h.mux.ServeHTTP(w, r)
}

// Handler returns the dashboard.
func Handler() *Dashboard {
	h := &Dashboard{assets: map[string]*asset{}, mux: http.NewServeMux()}
	root := FS()
	err := fs.WalkDir(root, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(root, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		ctype := mime.TypeByExtension(path.Ext(p))
		if ctype == "" || strings.HasPrefix(path.Base(p), "LICENSE") || path.Base(p) == "NOTICE" {
			ctype = "text/plain; charset=utf-8"
		}
		h.assets[p] = &asset{body: body, etag: `"` + hex.EncodeToString(sum[:12]) + `"`, ctype: ctype}
		return nil
	})
	if err != nil {
		panic(err)
	}
	index := h.assets["index.html"]
	for _, r := range Routes {
		pattern := "GET " + r
		if r == "/" {
			pattern = "GET /{$}"
		}
		h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) { h.serve(w, r, index) })
	}
	h.mux.HandleFunc("GET "+AssetsPrefix, func(w http.ResponseWriter, r *http.Request) {
		h.serve(w, r, h.assets[strings.TrimPrefix(r.URL.Path, AssetsPrefix)])
	})
	return h
}

func (h *Dashboard) serve(w http.ResponseWriter, r *http.Request, a *asset) {
	hd := w.Header()
	hd.Set("Content-Type", a.ctype)
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Content-Type-Options", "nosniff")
	if a.ctype == "text/html; charset=utf-8" {
		// The page loads nothing from elsewhere: it must work with no
		// internet, and a stray external URL shows up as a console error.
		// ECharts writes inline styles into its tooltips.
		hd.Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
	}
	hd.Add("Vary", "Accept-Encoding")
	body := a.body
	etag := a.etag
	if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		if gz := a.gzipped(); gz != nil {
			body = gz
			hd.Set("Content-Encoding", "gzip")
			// A different representation needs a different tag.
			etag = strings.TrimSuffix(a.etag, `"`) + `-gz"`
		}
	}
	hd.Set("ETag", etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}
