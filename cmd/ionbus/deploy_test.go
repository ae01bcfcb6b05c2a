package main

// The container files (Dockerfile, docker-compose.yml, deploy/) need Docker
// to run, which `make test` does not: these tests check what can be checked
// without it — every IONBUS_* variable is one the code reads and each
// node's configuration validates, the load balancer and Prometheus reach
// every node, and the image builds with the Dockerfile's flags.

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ionbus/ionbus/node"
)

const repoRoot = "../.."

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Build       any               `yaml:"build"`
	Environment map[string]string `yaml:"environment"`
	Profiles    []string          `yaml:"profiles"`
	Volumes     []string          `yaml:"volumes"`
	Ports       []string          `yaml:"ports"`
	DependsOn   yaml.Node         `yaml:"depends_on"`
	StopGrace   string            `yaml:"stop_grace_period"`
}

// dependsOn lists depends_on in either of its forms (list or map).
func (s composeService) dependsOn() []string {
	var names []string
	switch s.DependsOn.Kind {
	case yaml.SequenceNode:
		for _, n := range s.DependsOn.Content {
			names = append(names, n.Value)
		}
	case yaml.MappingNode:
		for i := 0; i < len(s.DependsOn.Content); i += 2 {
			names = append(names, s.DependsOn.Content[i].Value)
		}
	}
	return names
}

// interpolate resolves Compose's ${NAME}, ${NAME:-default} and
// ${NAME-default} with the defaults only (an unset variable), so the
// checks see what a plain `docker compose up` runs; $$ is a literal $.
func interpolate(t *testing.T, s string) string {
	t.Helper()
	re := regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}|\$[A-Za-z_{]`)
	return re.ReplaceAllStringFunc(s, func(m string) string {
		switch {
		case m == "$$":
			return "$"
		case strings.HasPrefix(m, "${"):
			return re.FindStringSubmatch(m)[2]
		default:
			t.Errorf("docker-compose.yml: unsupported interpolation near %q (use ${NAME:-default})", m)
			return m
		}
	})
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal([]byte(interpolate(t, string(data))), &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	if len(c.Services) == 0 {
		t.Fatal("docker-compose.yml: no services")
	}
	return c
}

// ionbusServices are the services built from this repository (build: .),
// sorted by name.
func ionbusServices(t *testing.T, c composeFile) []string {
	t.Helper()
	var names []string
	for name, s := range c.Services {
		if s.Build != nil {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	if len(names) != 3 {
		t.Fatalf("docker-compose.yml: %d services with build (%v), want 3 ionbus nodes", len(names), names)
	}
	return names
}

// nodeConfig is a compose node's configuration: its environment applied
// to the defaults, as `ionbus serve` does without a file or flags.
func nodeConfig(t *testing.T, name string, s composeService) node.Config {
	t.Helper()
	c := node.Default()
	if err := node.ApplyEnv(&c, envMap(s.Environment)); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("%s: the environment does not validate:\n%v", name, err)
	}
	return c
}

func TestComposeEnvironment(t *testing.T) {
	c := loadCompose(t)
	known := map[string]bool{envConfig: true, envProfile: true}
	for _, name := range node.EnvNames() {
		known[name] = true
	}
	for name, s := range c.Services {
		for k := range s.Environment {
			if strings.HasPrefix(k, "IONBUS_") && !known[k] {
				t.Errorf("service %s: %s is not a variable ionbus reads (node.EnvNames)", name, k)
			}
		}
	}
	ids := map[string]string{}
	for _, name := range ionbusServices(t, c) {
		s := c.Services[name]
		for k := range s.Environment {
			if !strings.HasPrefix(k, "IONBUS_") {
				t.Errorf("service %s: %s: nodes are configured through IONBUS_* variables only", name, k)
			}
		}
		cfg := nodeConfig(t, name, s)
		if cfg.NodeID == "" {
			t.Errorf("%s: no IONBUS_NODE_ID", name)
		} else if other, dup := ids[cfg.NodeID]; dup {
			t.Errorf("%s and %s share the node id %q", other, name, cfg.NodeID)
		}
		ids[cfg.NodeID] = name
		if cfg.Redis.URL == "" {
			t.Errorf("%s: no IONBUS_REDIS_URL: the nodes would not form a cluster", name)
		}
		if u, err := url.Parse(cfg.Redis.URL); err != nil || c.Services[u.Hostname()].Image == "" {
			t.Errorf("%s: redis URL %q names no service", name, cfg.Redis.URL)
		}
		if cfg.API.Key == "" && !cfg.API.Insecure {
			t.Errorf("%s: no API key: /api/v1 would answer 401", name)
		}
		for addr, what := range map[string]string{cfg.Listen: "listen", cfg.API.Listen: "api.listen"} {
			if h, _, err := net.SplitHostPort(addr); err != nil || (h != "" && h != "0.0.0.0" && h != "::") {
				t.Errorf("%s: %s %q is not reachable from other containers", name, what, addr)
			}
		}
		// docker stop sends SIGKILL after stop_grace_period (default 10s).
		grace := 10 * time.Second
		if s.StopGrace != "" {
			var err error
			if grace, err = time.ParseDuration(s.StopGrace); err != nil {
				t.Errorf("%s: stop_grace_period: %v", name, err)
			}
		}
		if need := cfg.ShutdownDelay.D() + cfg.ShutdownTimeout.D(); grace <= need {
			t.Errorf("%s: stop_grace_period %v is not above shutdown_delay + shutdown_timeout (%v): docker stop would kill a draining node", name, grace, need)
		}
		if !slices.Contains(s.dependsOn(), "redis") {
			t.Errorf("%s does not depend on redis", name)
		}
	}
}

// portOf returns the port of a host:port address.
func portOf(t *testing.T, addr string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("%q: %v", addr, err)
	}
	return p
}

func TestComposeLoadBalancer(t *testing.T) {
	c := loadCompose(t)
	nodes := ionbusServices(t, c)
	// The service whose volumes carry the nginx configuration.
	var lbName, conf string
	for name, s := range c.Services {
		for _, v := range s.Volumes {
			src, dst, _ := strings.Cut(v, ":")
			if strings.HasPrefix(dst, "/etc/nginx/") {
				lbName, conf = name, src
			}
		}
	}
	if lbName == "" {
		t.Fatal("docker-compose.yml: no service mounts an nginx configuration")
	}
	if !strings.HasPrefix(conf, "./deploy/nginx/") {
		t.Errorf("the nginx configuration %s is not under deploy/nginx/", conf)
	}
	data, err := os.ReadFile(filepath.Join(repoRoot, conf))
	if err != nil {
		t.Fatal(err)
	}
	text := stripComments(string(data))
	for _, want := range []string{
		`proxy_http_version 1.1;`,
		`proxy_set_header Upgrade $http_upgrade;`,
		`proxy_set_header Connection $connection_upgrade;`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("%s lacks %q", conf, want)
		}
	}
	// location /socket.io/ { ... proxy_pass http://<upstream>; ... }
	cfg0 := nodeConfig(t, nodes[0], c.Services[nodes[0]])
	loc := regexp.MustCompile(`location\s+` + regexp.QuoteMeta(cfg0.Path) + `\s*\{([^}]*)\}`).FindStringSubmatch(text)
	if loc == nil {
		t.Fatalf("%s has no location %s", conf, cfg0.Path)
	}
	for _, want := range []string{"Upgrade", "Connection", "proxy_read_timeout"} {
		if !strings.Contains(loc[1], want) {
			t.Errorf("location %s lacks %s", cfg0.Path, want)
		}
	}
	if m := regexp.MustCompile(`proxy_read_timeout\s+(\d+)s;`).FindStringSubmatch(loc[1]); m != nil {
		d, _ := time.ParseDuration(m[1] + "s")
		if min := cfg0.Engine.PingInterval.D() + cfg0.Engine.PingTimeout.D(); d <= min {
			t.Errorf("proxy_read_timeout %v is not above ping_interval + ping_timeout (%v)", d, min)
		}
	} else {
		t.Errorf("location %s: proxy_read_timeout is not in seconds", cfg0.Path)
	}
	pass := regexp.MustCompile(`proxy_pass\s+http://([A-Za-z0-9_.-]+)\s*;`).FindStringSubmatch(loc[1])
	if pass == nil {
		t.Fatalf("location %s has no proxy_pass http://<upstream>", cfg0.Path)
	}
	up := regexp.MustCompile(`upstream\s+` + regexp.QuoteMeta(pass[1]) + `\s*\{([^}]*)\}`).FindStringSubmatch(text)
	if up == nil {
		t.Fatalf("%s: no upstream %s", conf, pass[1])
	}
	if !regexp.MustCompile(`(?m)^\s*(ip_hash|hash\s+\$remote_addr\b[^;]*);`).MatchString(up[1]) {
		t.Errorf("upstream %s is not sticky (ip_hash or hash $remote_addr): long-polling needs it", pass[1])
	}
	var servers []string
	for _, m := range regexp.MustCompile(`server\s+([^\s;]+)`).FindAllStringSubmatch(up[1], -1) {
		servers = append(servers, m[1])
	}
	for _, name := range nodes {
		want := name + ":" + portOf(t, nodeConfig(t, name, c.Services[name]).Listen)
		if !slices.Contains(servers, want) {
			t.Errorf("upstream %s lacks %s (has %v)", pass[1], want, servers)
		}
		if !slices.Contains(c.Services[lbName].dependsOn(), name) {
			t.Errorf("%s does not depend on %s", lbName, name)
		}
	}
}

func stripComments(conf string) string {
	lines := strings.Split(conf, "\n")
	for i, l := range lines {
		if j := strings.Index(l, "#"); j >= 0 {
			lines[i] = l[:j]
		}
	}
	return strings.Join(lines, "\n")
}

func TestComposeMonitoring(t *testing.T) {
	c := loadCompose(t)
	nodes := ionbusServices(t, c)
	for name, s := range c.Services {
		monitoring := strings.HasPrefix(s.Image, "prom/prometheus") || strings.HasPrefix(s.Image, "grafana/")
		if monitoring && !slices.Equal(s.Profiles, []string{"monitoring"}) {
			t.Errorf("%s: profiles %v, want [monitoring]", name, s.Profiles)
		}
		if !monitoring && len(s.Profiles) > 0 {
			t.Errorf("%s: profiles %v: `docker compose up` would not start it", name, s.Profiles)
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, "./") {
				if _, err := os.Stat(filepath.Join(repoRoot, src)); err != nil {
					// A missing bind source becomes an empty directory.
					t.Errorf("%s mounts %s: %v", name, src, err)
				}
			}
		}
		for _, dep := range s.dependsOn() {
			if _, ok := c.Services[dep]; !ok {
				t.Errorf("%s depends on %s, which is not a service", name, dep)
			}
		}
	}
	if _, ok := c.Services["prometheus"]; !ok {
		t.Fatal("no prometheus service")
	}
	if _, ok := c.Services["grafana"]; !ok {
		t.Fatal("no grafana service")
	}
	if !slices.Contains(c.Services["prometheus"].Volumes, "./deploy/prometheus:/etc/prometheus:ro") {
		t.Errorf("prometheus does not mount deploy/prometheus at /etc/prometheus: %v", c.Services["prometheus"].Volumes)
	}

	data, err := os.ReadFile(filepath.Join(repoRoot, "deploy/prometheus/prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var prom struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			MetricsPath   string `yaml:"metrics_path"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(data, &prom); err != nil {
		t.Fatalf("prometheus.yml: %v", err)
	}
	if !slices.Contains(prom.RuleFiles, "/etc/prometheus/alerts.yml") {
		t.Errorf("prometheus.yml rule_files %v lacks /etc/prometheus/alerts.yml (deploy/prometheus/alerts.yml)", prom.RuleFiles)
	}
	scraped := map[string]bool{}
	for _, sc := range prom.ScrapeConfigs {
		path := sc.MetricsPath
		if path == "" {
			path = "/metrics"
		}
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				scraped[target+path] = true
			}
		}
	}
	for _, name := range nodes {
		want := name + ":" + portOf(t, nodeConfig(t, name, c.Services[name]).API.Listen) + "/metrics"
		if !scraped[want] {
			t.Errorf("prometheus.yml does not scrape %s", want)
		}
	}

	// Grafana: a Prometheus datasource and a dashboard provider whose path
	// is where compose mounts deploy/grafana (ionbus.json).
	var ds struct {
		Datasources []struct{ Type, URL string } `yaml:"datasources"`
	}
	readYAML(t, "deploy/grafana/provisioning/datasources/prometheus.yml", &ds)
	if len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" || ds.Datasources[0].URL != "http://prometheus:9090" {
		t.Errorf("grafana datasources %+v", ds.Datasources)
	}
	var dash struct {
		Providers []struct {
			Type    string
			Options struct{ Path string }
		} `yaml:"providers"`
	}
	readYAML(t, "deploy/grafana/provisioning/dashboards/ionbus.yml", &dash)
	if len(dash.Providers) != 1 || dash.Providers[0].Type != "file" ||
		!slices.Contains(c.Services["grafana"].Volumes, "./deploy/grafana:"+dash.Providers[0].Options.Path+":ro") {
		t.Errorf("grafana dashboard providers %+v do not load deploy/grafana (volumes %v)", dash.Providers, c.Services["grafana"].Volumes)
	}
	if !slices.Contains(c.Services["grafana"].Volumes, "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro") {
		t.Errorf("grafana does not mount deploy/grafana/provisioning")
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, path))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// dockerfileStage is one FROM ... stage: its base and instructions, with
// continuation lines joined.
type dockerfileStage struct {
	from  string
	instr [][2]string // {INSTRUCTION, arguments}
}

func parseDockerfile(t *testing.T) []dockerfileStage {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var stages []dockerfileStage
	var cur string
	flush := func() {
		line := strings.TrimSpace(cur)
		cur = ""
		if line == "" {
			return
		}
		op, args, _ := strings.Cut(line, " ")
		op, args = strings.ToUpper(op), strings.TrimSpace(args)
		if op == "FROM" {
			stages = append(stages, dockerfileStage{from: args})
			return
		}
		if len(stages) > 0 {
			s := &stages[len(stages)-1]
			s.instr = append(s.instr, [2]string{op, args})
		}
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			cur += strings.TrimSuffix(line, `\`) + " "
			continue
		}
		cur += line
		flush()
	}
	flush()
	if len(stages) < 2 {
		t.Fatalf("Dockerfile: %d stages, want a builder and a final stage", len(stages))
	}
	return stages
}

func (s dockerfileStage) last(op string) (string, bool) {
	for i := len(s.instr) - 1; i >= 0; i-- {
		if s.instr[i][0] == op {
			return s.instr[i][1], true
		}
	}
	return "", false
}

func TestDockerfile(t *testing.T) {
	stages := parseDockerfile(t)
	final := stages[len(stages)-1]
	user, hasUser := final.last("USER")
	switch {
	case hasUser && (user == "root" || user == "0" || strings.HasPrefix(user, "root:") || strings.HasPrefix(user, "0:")):
		t.Errorf("final stage runs as %s", user)
	case !hasUser && !strings.HasSuffix(final.from, ":nonroot"):
		t.Errorf("final stage %q has no USER and is not a :nonroot image", final.from)
	}
	if hc, ok := final.last("HEALTHCHECK"); !ok || !regexp.MustCompile(`CMD\s+\[\s*"ionbus"\s*,\s*"healthcheck"`).MatchString(hc) {
		t.Errorf("final stage HEALTHCHECK %q does not run [\"ionbus\", \"healthcheck\"...]", hc)
	}
	if ep, _ := final.last("ENTRYPOINT"); ep != `["ionbus"]` {
		t.Errorf("ENTRYPOINT %s", ep)
	}
	if cmd, _ := final.last("CMD"); cmd != `["serve"]` {
		t.Errorf("CMD %s", cmd)
	}
	expose, _ := final.last("EXPOSE")
	d := node.Default()
	for _, p := range []string{portOf(t, d.Listen), portOf(t, d.API.Listen)} {
		if !slices.Contains(strings.Fields(expose), p) {
			t.Errorf("EXPOSE %q lacks %s", expose, p)
		}
	}
	// The binary lands on the PATH the exec-form commands use.
	if cp, _ := final.last("COPY"); !strings.HasSuffix(cp, " /usr/local/bin/ionbus") {
		t.Errorf("final COPY %q does not install /usr/local/bin/ionbus", cp)
	}
}

// dockerBuildFlags returns the builder's go build arguments (after
// "go build") with the environment it sets, build args at their defaults.
func dockerBuildFlags(t *testing.T, stages []dockerfileStage) (args []string, env []string) {
	t.Helper()
	defaults := map[string]string{}
	for _, s := range stages[:len(stages)-1] {
		for _, in := range s.instr {
			if in[0] == "ARG" {
				k, v, _ := strings.Cut(in[1], "=")
				defaults[k] = v
			}
			if in[0] != "RUN" || !strings.Contains(in[1], "go build") {
				continue
			}
			fields, err := splitShell(in[1])
			if err != nil {
				t.Fatalf("Dockerfile RUN %q: %v", in[1], err)
			}
			for i, f := range fields {
				if f == "go" && i+1 < len(fields) && fields[i+1] == "build" {
					for _, e := range fields[:i] {
						if k, v, ok := strings.Cut(e, "="); ok && regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`).MatchString(k) {
							env = append(env, k+"="+v)
						}
					}
					args = fields[i+2:]
				}
			}
		}
	}
	if args == nil {
		t.Fatal("Dockerfile: no RUN ... go build")
	}
	expand := func(s string) string {
		return os.Expand(s, func(k string) string { return defaults[k] })
	}
	for i := range args {
		args[i] = expand(args[i])
	}
	for i := range env {
		env[i] = expand(env[i])
	}
	return args, env
}

// splitShell splits a RUN line into words: spaces separate, double quotes
// group, --mount options and the leading line are kept as words.
func splitShell(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	inQuote, has := false, false
	for _, r := range s {
		switch {
		case r == '"':
			inQuote, has = !inQuote, true
		case (r == ' ' || r == '\t') && !inQuote:
			if has {
				out = append(out, cur.String())
				cur.Reset()
				has = false
			}
		default:
			cur.WriteRune(r)
			has = true
		}
	}
	if inQuote {
		return nil, errors.New("unterminated quote")
	}
	if has {
		out = append(out, cur.String())
	}
	return out, nil
}

// TestDockerBuild builds cmd/ionbus with the Dockerfile's flags and
// environment, then runs the binary: version (the -X ldflag) and
// healthcheck (the HEALTHCHECK) against a test server. A cold build cache
// takes minutes with -trimpath: the build is bounded and the test skips
// when the bound is hit (the next run continues from the cache).
func TestDockerBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	args, env := dockerBuildFlags(t, parseDockerfile(t))
	for _, want := range []string{"CGO_ENABLED=0", "GOOS=", "GOARCH="} {
		if !slices.ContainsFunc(env, func(e string) bool { return strings.HasPrefix(e, want) }) {
			t.Errorf("go build environment %v lacks %s", env, want)
		}
	}
	joined := strings.Join(args, " ")
	for _, want := range []string{"-trimpath", "-s -w", "-X main.version=dev", "./cmd/ionbus"} {
		if !strings.Contains(joined, want) {
			t.Errorf("go build %s lacks %s", joined, want)
		}
	}
	bin := filepath.Join(t.TempDir(), "ionbus")
	for i, a := range args {
		if a == "-o" && i+1 < len(args) {
			args[i+1] = bin
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	build := exec.CommandContext(ctx, "go", append([]string{"build"}, args...)...)
	build.Dir = repoRoot
	// GOOS= and GOARCH= (empty: TARGETOS unset) mean the host's.
	build.Env = append(os.Environ(), env...)
	out, err := build.CombinedOutput()
	if ctx.Err() != nil {
		t.Skipf("go build with the Dockerfile's flags did not finish in 25s (cold build cache); run again")
	}
	if err != nil {
		t.Fatalf("go build %s: %v\n%s", joined, err, out)
	}
	if out, err := exec.Command(bin, "version").CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "ionbus dev ") {
		t.Errorf("ionbus version: %v %q", err, out)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			_, _ = w.Write([]byte(`{"status":"ok"}`))
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	hc := exec.Command(bin, "healthcheck")
	hc.Env = append(os.Environ(), envAPIListen+"=0.0.0.0:"+portOf(t, srv.Listener.Addr().String()))
	if out, err := hc.CombinedOutput(); err != nil {
		t.Errorf("ionbus healthcheck: %v %q", err, out)
	}
	var exit *exec.ExitError
	if out, err := exec.Command(bin, "healthcheck", "--url", srv.URL+"/other").CombinedOutput(); !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Errorf("ionbus healthcheck on a 503: %v %q, want exit status 1", err, out)
	}
}

// TestDockerignoreKeepsSources checks that .dockerignore hides none of the
// files `go build ./cmd/ionbus` reads in the image (go.mod, go.sum, the
// Go and embedded files of every package of this module it imports).
func TestDockerignoreKeepsSources(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "!") || (strings.Contains(line, "**") && !strings.HasPrefix(line, "**/")) {
			t.Fatalf(".dockerignore: %q: this test understands plain patterns and a leading **/ only", line)
		}
		patterns = append(patterns, strings.TrimSuffix(line, "/"))
	}
	list := exec.Command("go", "list", "-deps", "-f",
		`{{if .Module}}{{if .Module.Main}}{{.Dir}}{{range .GoFiles}} {{.}}{{end}}{{range .EmbedFiles}} {{.}}{{end}}{{end}}{{end}}`, "./cmd/ionbus")
	list.Dir = repoRoot
	list.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := list.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	files := []string{"go.mod", "go.sum"}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		dir, err := filepath.Rel(root, fields[0])
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fields[1:] {
			files = append(files, filepath.ToSlash(filepath.Join(dir, f)))
		}
	}
	if len(files) < 10 {
		t.Fatalf("go list found only %v", files)
	}
	for _, f := range files {
		if p, ok := dockerignored(f, patterns); ok {
			t.Errorf(".dockerignore pattern %q hides %s, which the image build needs", p, f)
		}
	}
}

// dockerignored reports the pattern that excludes path (slash-separated,
// relative to the context) or one of its parent directories. Patterns
// are anchored at the context root, as Docker's; "**/" matches any
// number of leading directories.
func dockerignored(path string, patterns []string) (string, bool) {
	parts := strings.Split(path, "/")
	for _, p := range patterns {
		anyDepth := strings.HasPrefix(p, "**/")
		pat := strings.TrimPrefix(p, "**/")
		n := len(strings.Split(pat, "/"))
		for start := 0; start+n <= len(parts); start++ {
			if start > 0 && !anyDepth {
				break
			}
			if ok, _ := filepath.Match(pat, strings.Join(parts[start:start+n], "/")); ok {
				return p, true
			}
		}
	}
	return "", false
}
