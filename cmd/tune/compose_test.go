package main

import (
	"bufio"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	composecli "github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// repoRoot is where the Dockerfile and the compose file live.
const repoRoot = "../.."

// TestComposeFile loads docker-compose.yml with the compose-spec library,
// as Docker Compose does, and checks what `docker compose up --scale
// runner=4` relies on. No Docker engine runs here, so the file is checked,
// not run; the commands it gives tune are parsed by tune's own CLI.
func TestComposeFile(t *testing.T) {
	opts, err := composecli.NewProjectOptions([]string{filepath.Join(repoRoot, "docker-compose.yml")},
		composecli.WithWorkingDirectory(repoRoot), composecli.WithEnv(nil), composecli.WithName("tune"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(t.Context())
	if err != nil {
		t.Fatalf("docker-compose.yml does not load: %v", err)
	}
	svc := func(name string) types.ServiceConfig {
		t.Helper()
		s, err := p.GetService(name)
		if err != nil {
			t.Fatalf("service %s: %v", name, err)
		}
		return s
	}

	pg := svc("postgres")
	if pg.HealthCheck == nil || len(pg.HealthCheck.Test) == 0 || !strings.Contains(strings.Join(pg.HealthCheck.Test, " "), "pg_isready") {
		t.Errorf("postgres has no pg_isready healthcheck: %+v", pg.HealthCheck)
	}
	if !mountsVolume(p, pg, "/var/lib/postgresql/data") {
		t.Errorf("postgres keeps its data outside a named volume: %+v", pg.Volumes)
	}

	tune := svc("tune")
	if dep, ok := tune.DependsOn["postgres"]; !ok || dep.Condition != types.ServiceConditionHealthy {
		t.Errorf("tune does not wait for a healthy postgres: %+v", tune.DependsOn)
	}
	dbURL := env(t, tune, "TUNE_DATABASE_URL")
	if u, err := url.Parse(dbURL); err != nil || u.Scheme != "postgres" || u.Hostname() != "postgres" {
		t.Errorf("TUNE_DATABASE_URL = %q, want a postgres:// URL on the postgres service", dbURL)
	}
	if tune.Build == nil {
		t.Errorf("the tune service is not built from the Dockerfile")
	}
	parseTune(t, "tune command", tune.Command)
	if tune.HealthCheck == nil || len(tune.HealthCheck.Test) < 2 || tune.HealthCheck.Test[0] != "CMD" {
		t.Fatalf("tune has no exec-form healthcheck: %+v", tune.HealthCheck)
	}
	check := tune.HealthCheck.Test[1:]
	if check[0] != "tune" || !strings.Contains(strings.Join(check, " "), "health") {
		t.Errorf("tune's healthcheck %q does not ask tune health (/healthz)", check)
	}
	parseTune(t, "tune healthcheck", check[1:])

	runner := svc("runner")
	if runner.ContainerName != "" || len(runner.Ports) > 0 {
		t.Errorf("runner cannot scale: container_name %q, ports %+v", runner.ContainerName, runner.Ports)
	}
	if dep, ok := runner.DependsOn["tune"]; !ok || dep.Condition != types.ServiceConditionHealthy {
		t.Errorf("runner does not wait for a healthy tune: %+v", runner.DependsOn)
	}
	if u, err := url.Parse(env(t, runner, "TUNE_SERVER")); err != nil || u.Hostname() != "tune" {
		t.Errorf("runner's TUNE_SERVER does not point at the tune service: %v", err)
	}
	if runner.Image != tune.Image {
		t.Errorf("runner runs image %q, the service %q: they should be the same build", runner.Image, tune.Image)
	}
	parseTune(t, "runner command", runner.Command)
}

// TestDockerfile checks what the compose file and the README rely on: a
// multi-stage build whose last stage runs tune as a non-root user.
func TestDockerfile(t *testing.T) {
	f, err := os.Open(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var stages int
	var user, entrypoint string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		switch strings.ToUpper(fields[0]) {
		case "FROM":
			stages++
			user, entrypoint = "", ""
		case "USER":
			user = fields[1]
		case "ENTRYPOINT":
			entrypoint = strings.Join(fields[1:], " ")
		}
	}
	if stages < 2 {
		t.Errorf("Dockerfile has %d stages, want a build stage and a small run stage", stages)
	}
	if user == "" || user == "root" || user == "0" {
		t.Errorf("the final stage runs as %q, want a non-root user", user)
	}
	if entrypoint != `["tune"]` {
		t.Errorf("ENTRYPOINT %s, want [\"tune\"]", entrypoint)
	}
}

// parseTune checks that tune's CLI knows the subcommand and flags in args.
func parseTune(t *testing.T, what string, args []string) {
	t.Helper()
	if len(args) == 0 {
		t.Errorf("%s: empty", what)
		return
	}
	cmd, rest, err := newRootCommand().Find(args)
	if err != nil || cmd.Name() != args[0] {
		t.Errorf("%s %q: tune has no such command (%v)", what, args, err)
		return
	}
	if err := cmd.ParseFlags(rest); err != nil {
		t.Errorf("%s %q: %v", what, args, err)
	}
}

func env(t *testing.T, s types.ServiceConfig, name string) string {
	t.Helper()
	v, ok := s.Environment[name]
	if !ok || v == nil || *v == "" {
		t.Errorf("service %s does not set %s", s.Name, name)
		return ""
	}
	return *v
}

func mountsVolume(p *types.Project, s types.ServiceConfig, target string) bool {
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeVolume && v.Target == target {
			_, declared := p.Volumes[v.Source]
			return declared
		}
	}
	return false
}
