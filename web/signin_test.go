package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tune-dev/tune/auth"
	"github.com/tune-dev/tune/service"
	"github.com/tune-dev/tune/sql/postgres"
	"github.com/tune-dev/tune/sql/postgres/pgtest"
	"github.com/tune-dev/tune/tuner"
)

// newSecureSite is a real server with tokens on, its API calls made with an
// admin token; it returns the secret of a read token for the dashboard.
func newSecureSite(t *testing.T) (s *site, readSecret string) {
	t.Helper()
	dbURL := pgtest.URL(t)
	store, err := postgres.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := service.New(service.Config{Store: store, Tuner: tuner.New(store), Tokens: store, ReapInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { ts.Close(); srv.Close(); store.Close() })
	secrets := map[string]string{}
	for name, scope := range map[string]auth.Scope{"root": auth.Admin, "dashboard": auth.Read} {
		secret, hash, err := auth.NewSecret()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.CreateToken(context.Background(), auth.Token{Name: name, Scopes: []auth.Scope{scope}, Hash: hash}); err != nil {
			t.Fatal(err)
		}
		secrets[name] = secret
	}
	return &site{t: t, url: ts.URL, dbURL: dbURL, token: secrets["root"]}, secrets["dashboard"]
}

// TestDashboardSignIn: on a server with tokens the dashboard asks for one,
// says why a wrong one is refused, loads the studies with the right one and
// keeps it for the tab's session, and never puts it in the URL or the
// page.
func TestDashboardSignIn(t *testing.T) {
	s, secret := newSecureSite(t)
	b := newBrowser(t)
	// Chromium logs each refused call of the page as an error.
	b.expectConsoleError("status of 401")
	s.call("POST", "/studies", `{"name": "behind-a-token", "objective": {"metric": "loss"}, "search_space": `+space+`}`, http.StatusCreated, nil)

	b.do(chromedp.Navigate(s.url + "/"))
	b.waitFor(`document.querySelector('#signin input[type=password]') !== null`)
	if n := eval[int](b, `tuneDashboard.studies || 0`); n != 0 {
		t.Errorf("the list shows %d studies before anyone signed in", n)
	}
	if why := eval[bool](b, `document.querySelector('#signin .why').hidden`); !why {
		t.Error("the first sign-in form already says a token was refused")
	}

	// A wrong token is refused, with the server's reason.
	wrong := "tune_" + strings.Repeat("0", 43)
	b.do(chromedp.SendKeys(`#signin input`, wrong), chromedp.Click(`#signin button`))
	b.waitFor(`(() => { const w = document.querySelector('#signin .why'); return w !== null && !w.hidden; })()`)
	why := eval[string](b, `document.querySelector('#signin .why').textContent`)
	if !strings.Contains(why, "refused") || !strings.Contains(why, "not known to this server") {
		t.Errorf("refusal = %q, want the server's reason", why)
	}

	// The right one loads the studies. (The refusal came with a fresh,
	// empty form.)
	if v := eval[string](b, `document.querySelector('#signin input').value`); v != "" {
		t.Errorf("the form asks again with %q filled in", v)
	}
	b.do(chromedp.SendKeys(`#signin input`, secret), chromedp.Click(`#signin button`))
	b.waitFor(`tuneDashboard.page === 'list' && tuneDashboard.ready && tuneDashboard.studies === 1`)
	if eval[bool](b, `document.getElementById('signin') !== null`) {
		t.Error("the sign-in form is still shown after a good token")
	}
	if row := eval[string](b, `document.querySelector('table.studies tbody tr').innerText`); !strings.Contains(row, "behind-a-token") {
		t.Errorf("studies row = %q", row)
	}

	// The token is kept for the session: a reload does not ask again.
	b.open(s.url+"/", "list")
	if eval[bool](b, `document.getElementById('signin') !== null`) {
		t.Error("a reload asks for the token again")
	}

	// Neither secret is in the URL, the page's text or its markup.
	for _, expr := range []string{`location.href`, `document.body.innerText`, `document.documentElement.outerHTML`, `document.title`} {
		got := eval[string](b, expr)
		for _, sec := range []string{secret, wrong} {
			if strings.Contains(got, sec) {
				t.Errorf("%s holds a token", expr)
			}
		}
	}
}
