package main

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// setting is one configuration value of tune: a flag, the environment
// variable that stands in for it, its default and whether it is secret.
// Every setting is resolved the same way: the flag when given, else the
// variable when set and not empty, else the default (see applyEnv).
type setting struct {
	name string
	// env is the TUNE_* variable; empty when only the flag sets it.
	env string
	// def is the default, typed as the flag is: string, bool, int,
	// time.Duration or []string. A func() of one of those is computed
	// when the flag is made.
	def any
	// secret settings never show their value: not in --help, nor in
	// errors about them. URLs show without their password anyway.
	secret bool
	help   string
}

// settings is every configuration value of tune, by flag name. The
// README's Configuration table mirrors it.
var settings = map[string]setting{
	"server": {name: "server", env: serverEnv, def: defaultServer,
		help: "the tune server's URL"},
	"addr": {name: "addr", env: "TUNE_ADDR", def: defaultServeAddr,
		help: "address to listen on"},
	"database-url": {name: "database-url", env: "TUNE_DATABASE_URL", def: "", secret: true,
		help: "Postgres URL, e.g. postgres://user@host:5432/tune; without one, the embedded store in --data-dir"},
	"data-dir": {name: "data-dir", env: "TUNE_DATA_DIR", def: homeDataDir,
		help: "directory of the embedded store, used when no database URL is given"},
	"log-format": {name: "log-format", env: "TUNE_LOG_FORMAT", def: "text",
		help: "log format: text or json"},
	"log-level": {name: "log-level", env: "TUNE_LOG_LEVEL", def: "info",
		help: "debug (with every line exec commands print), info, warn or error"},
	"migrate": {name: "migrate", def: true,
		help: "apply pending schema migrations at start"},
	"reap-interval": {name: "reap-interval", def: time.Second,
		help: "how often expired leases are reclaimed"},
	"insecure": {name: "insecure", def: false,
		help: "serve the API without tokens: anyone who can reach it may run commands on your runners; refused unless --addr is a loopback address"},
	"rate-limit": {name: "rate-limit", env: "TUNE_RATE_LIMIT", def: 500,
		help: "API requests per second per caller (bursts of twice that); a team's runners share their token's budget, so size it for the fleet; -1 turns the limit off"},
	"metrics-token": {name: "metrics-token", env: "TUNE_METRICS_TOKEN", def: "", secret: true,
		help: "bearer token /metrics asks for; /metrics is open without one"},
	"id": {name: "id", env: "TUNE_RUNNER_ID", def: "",
		help: "the runner's name in leases and trial listings; hostname-pid when empty"},
	"workloads": {name: "workloads", env: "TUNE_RUNNER_WORKLOADS", def: defaultRunnerWorkloads,
		help: "workload types to lease trials for: mnist-mlp, exec (default mnist-mlp, and exec too with --allow-exec)"},
	"allow-exec": {name: "allow-exec", env: "TUNE_RUNNER_ALLOW_EXEC", def: []string{},
		help: "programs exec trials may run: paths or names looked up in PATH, or directories ending in /"},
	"device": {name: "device", env: "TUNE_RUNNER_DEVICE", def: "cpu",
		help: "where trials run: cpu or cuda:N"},
	"parallel": {name: "parallel", env: "TUNE_RUNNER_PARALLEL", def: 1,
		help: "trials run at once"},
	"exit-when-idle": {name: "exit-when-idle", def: false,
		help: "exit once a lease request finds no work within --lease-wait (for scripts and batch jobs)"},
	"lease-wait": {name: "lease-wait", def: defaultLeaseWait,
		help: "seconds each lease request waits for work (1-60)"},
	"mnist-dir": {name: "mnist-dir", def: "",
		help: "directory of the MNIST IDX files; else $TUNE_MNIST_DIR, else the GoMNIST module's copy"},
}

// sourceKey marks, in a flag's annotations, a value that came from the
// environment rather than the command line.
const sourceKey = "tune-source"

// bind defines the flag of setting name on fs, storing into p (whose type
// must match the setting's default). help, when given, replaces the
// setting's own for this command.
func bind(fs *pflag.FlagSet, name string, p any, help ...string) {
	s, ok := settings[name]
	if !ok {
		panic("tune: no setting " + name)
	}
	usage := s.help
	if len(help) > 0 {
		usage = help[0]
	}
	if s.env != "" {
		usage += " (env " + s.env + ")"
	}
	def := s.def
	switch f := def.(type) {
	case func() string:
		def = f()
	case func() []string:
		def = f()
	case func() int:
		def = f()
	}
	switch p := p.(type) {
	case *string:
		fs.StringVar(p, name, def.(string), usage)
	case *bool:
		fs.BoolVar(p, name, def.(bool), usage)
	case *int:
		fs.IntVar(p, name, def.(int), usage)
	case *time.Duration:
		fs.DurationVar(p, name, def.(time.Duration), usage)
	case *[]string:
		fs.StringSliceVar(p, name, def.([]string), usage)
	default:
		panic(fmt.Sprintf("tune: setting %s: unsupported type %T", name, p))
	}
	f := fs.Lookup(name)
	f.DefValue = s.display(f.DefValue)
}

// display is how a value of s may be shown: a secret not at all, a URL
// without its password.
func (s setting) display(v string) string {
	if v == "" {
		return v
	}
	if s.secret && redactURL(v) == v {
		// Not a URL or DSN with a password we can cut out: hide it all.
		return "xxxxx"
	}
	return redactURL(v)
}

// pick is the one precedence rule of tune's configuration: the flag when
// given, else the environment when set, else the flag's default (which
// flagValue holds when the flag was not given).
func pick(flagValue string, flagChanged bool, envValue string) string {
	if !flagChanged && envValue != "" {
		return envValue
	}
	return flagValue
}

// applyEnv resolves the settings of the command about to run: each flag
// not given on the command line takes its variable's value when that is
// set, parsed as the flag would parse it.
func applyEnv(cmd *cobra.Command) error {
	var errs []error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		s, ok := settings[f.Name]
		if !ok || s.env == "" || f.Changed {
			return
		}
		v := pick(f.Value.String(), false, os.Getenv(s.env))
		if v == f.Value.String() {
			return
		}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			// Set would append to the default; the variable replaces it.
			if err := sv.Replace(splitList(v)); err != nil {
				errs = append(errs, s.envError(v, err))
			}
		} else if err := f.Value.Set(v); err != nil {
			errs = append(errs, s.envError(v, err))
			return
		}
		f.Changed = true
		if f.Annotations == nil {
			f.Annotations = map[string][]string{}
		}
		f.Annotations[sourceKey] = []string{"env"}
	})
	return errors.Join(errs...)
}

// envError says that the variable of s holds a value its flag refuses,
// showing the value only when it is not secret.
func (s setting) envError(v string, err error) error {
	if s.secret {
		return fmt.Errorf("%s is not valid", s.env)
	}
	var numErr *strconv.NumError
	if errors.As(err, &numErr) || strings.Contains(err.Error(), "strconv.Parse") {
		return fmt.Errorf("%s=%q is not a number", s.env, v)
	}
	return fmt.Errorf("%s=%q: %w", s.env, v, err)
}

// onCommandLine reports whether the flag name was given on the command
// line, not from the environment.
func onCommandLine(cmd *cobra.Command, name string) bool {
	f := cmd.Flags().Lookup(name)
	return f != nil && f.Changed && f.Annotations[sourceKey] == nil
}

// homeDataDir is ~/.tune (os.UserHomeDir), else ./.tune.
func homeDataDir() string {
	if home, err := os.UserHomeDir(); err == nil && home != "" {
		return filepath.Join(home, ".tune")
	}
	return ".tune"
}

// defaultDataDir is $TUNE_DATA_DIR, else homeDataDir: for code that
// opens the embedded store with no --data-dir.
func defaultDataDir() string {
	if dir := os.Getenv("TUNE_DATA_DIR"); dir != "" {
		return dir
	}
	return homeDataDir()
}

// dsnPassword matches a password in a key=value connection string, quoted
// or not.
var dsnPassword = regexp.MustCompile(`password\s*=\s*('(\\.|[^'])*'|\S+)`)

// urlPassword matches the password of a URL's user info, for URLs that
// url.Parse refuses.
var urlPassword = regexp.MustCompile(`(://[^:/@]*):[^@/]*@`)

// redactURL returns a URL (a Postgres one, a server's) or a key=value
// connection string without its password, for help, logs and messages.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		// Not a URL, or a broken one (a bad port, say) that may still
		// carry a password.
		raw = urlPassword.ReplaceAllString(raw, "$1@")
		return dsnPassword.ReplaceAllString(raw, "password=xxxxx")
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	if q := u.Query(); q.Has("password") {
		q.Del("password")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// secretError is an error whose text had a secret cut out; errors.Is and
// errors.As still see the cause.
type secretError struct {
	msg   string
	cause error
}

func (e *secretError) Error() string { return e.msg }
func (e *secretError) Unwrap() error { return e.cause }

// scrubPassword returns err with every occurrence of the password in
// databaseURL cut out of its text: drivers may quote the connection
// string they failed on.
func scrubPassword(err error, databaseURL string) error {
	if err == nil {
		return nil
	}
	var secrets []string
	if u, perr := url.Parse(databaseURL); perr == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok {
			secrets = append(secrets, pw, url.QueryEscape(pw), url.PathEscape(pw))
		}
		if pw := u.Query().Get("password"); pw != "" {
			secrets = append(secrets, pw, url.QueryEscape(pw))
		}
	}
	for _, m := range dsnPassword.FindAllStringSubmatch(databaseURL, -1) {
		secrets = append(secrets, m[1], strings.Trim(m[1], "'"))
	}
	msg := err.Error()
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "xxxxx")
		}
	}
	if msg == err.Error() {
		return err
	}
	return &secretError{msg: msg, cause: err}
}
