package main

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/confhub/confhub/api"
	"github.com/confhub/confhub/internal/config"
	"github.com/confhub/confhub/internal/telemetry"
)

const deployDir = "../../deploy"

// manifests reads every YAML document under deploy/.
func manifests(t *testing.T) map[string][]map[string]any {
	t.Helper()
	out := map[string][]map[string]any{}
	err := filepath.WalkDir(deployDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		for {
			var doc map[string]any
			if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if doc != nil {
				out[path] = append(out[path], doc)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 10 {
		t.Fatalf("found only %d manifest files under %s", len(out), deployDir)
	}
	return out
}

// binaryFlags is what `confhub <command> --help` lists, per command.
func binaryFlags(t *testing.T) map[string][]string {
	t.Helper()
	flags := map[string][]string{}
	flagLine := regexp.MustCompile(`(?m)^\s+-([a-z0-9-]+)`)
	for _, c := range commands() {
		_, stderr, err := runCmd(t, nil, append(strings.Fields(c.name), "--help")...)
		if err != nil {
			t.Fatal(err)
		}
		flags[c.name] = []string{}
		for _, m := range flagLine.FindAllStringSubmatch(stderr, -1) {
			flags[c.name] = append(flags[c.name], m[1])
		}
	}
	return flags
}

// checkArgs says what is wrong with a command line for the binary, if anything.
func checkArgs(args []string, flags map[string][]string) string {
	if len(args) == 0 {
		return "no command"
	}
	for name, known := range flags {
		words := strings.Fields(name)
		if len(args) < len(words) || !slices.Equal(args[:len(words)], words) {
			continue
		}
		for _, a := range args[len(words):] {
			if !strings.HasPrefix(a, "-") {
				continue // a flag's value
			}
			f, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
			if !slices.Contains(known, f) {
				return "confhub " + name + " has no flag --" + f
			}
		}
		return ""
	}
	return "confhub has no command " + strings.Join(args, " ")
}

// binaryEnv is every variable the binary reads: its configuration (found by
// loading a valid one and recording the names asked for) and OpenTelemetry's
// standard OTEL_* variables, which the SDK reads itself.
func binaryEnv(t *testing.T) func(string) bool {
	t.Helper()
	read := map[string]bool{}
	full := map[string]string{"DATABASE_URL": "postgres://u@h/d", "CONFHUB_ENCRYPTION_KEYS": keySpec("k1", 1)}
	if _, err := config.Load(func(k string) string { read[k] = true; return full[k] }); err != nil {
		t.Fatal(err)
	}
	if _, err := telemetry.Setup(t.Context(), func(k string) string { read[k] = true; return "" }); err != nil {
		t.Fatal(err)
	}
	if len(read) < 8 {
		t.Fatalf("recorded only %v", read)
	}
	return func(name string) bool { return read[name] || strings.HasPrefix(name, "OTEL_") }
}

func portOf(addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return -1
	}
	n, _ := strconv.Atoi(p)
	return n
}

func at(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func strs(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, x := range list {
		out = append(out, x.(string))
	}
	return out
}

// Every manifest names only what the binary has: subcommands and flags,
// environment variables, ports and probe paths; the Dockerfile builds with
// the Makefile's own target.
func TestDeploymentMatchesTheBinary(t *testing.T) {
	docs := manifests(t)
	flags := binaryFlags(t)
	knownEnv := binaryEnv(t)
	routes := map[string]bool{}
	for _, r := range (&api.Server{}).Routes() {
		routes[r.Path] = true
	}

	// Kubernetes: the config map sets the listen port every container declares.
	var cfgData map[string]any
	for path, ds := range docs {
		for _, d := range ds {
			if d["kind"] == "ConfigMap" && strings.Contains(path, "base") {
				cfgData, _ = d["data"].(map[string]any)
			}
		}
	}
	if cfgData == nil {
		t.Fatal("no ConfigMap in the kustomize base")
	}
	listen := portOf(cfgData["CONFHUB_HTTP_ADDR"].(string))
	kinds := map[string]int{}
	for path, ds := range docs {
		for _, d := range ds {
			kind, _ := d["kind"].(string)
			kinds[kind]++
			switch kind {
			case "ConfigMap", "Secret":
				for _, field := range []string{"data", "stringData"} {
					m, _ := d[field].(map[string]any)
					for k := range m {
						if !knownEnv(k) {
							t.Errorf("%s: %s sets %s, which confhub does not read", path, kind, k)
						}
					}
				}
			case "Deployment", "Job":
				containers, _ := at(d, "spec", "template", "spec", "containers").([]any)
				if len(containers) == 0 {
					t.Errorf("%s: %s without containers", path, kind)
				}
				for _, c := range containers {
					if msg := checkArgs(strs(at(c, "args")), flags); msg != "" {
						t.Errorf("%s: %s", path, msg)
					}
					ports := map[string]int{}
					declared, _ := at(c, "ports").([]any)
					for _, p := range declared {
						ports[at(p, "name").(string)] = at(p, "containerPort").(int)
						if at(p, "containerPort").(int) != listen {
							t.Errorf("%s: container port %v, but CONFHUB_HTTP_ADDR listens on %d", path, at(p, "containerPort"), listen)
						}
					}
					for _, probe := range []string{"readinessProbe", "livenessProbe"} {
						if kind == "Job" {
							continue
						}
						get := at(c, probe, "httpGet")
						if get == nil {
							t.Errorf("%s: no %s", path, probe)
							continue
						}
						if !routes[at(get, "path").(string)] {
							t.Errorf("%s: %s probes %v, which confhub does not serve", path, probe, at(get, "path"))
						}
						if _, ok := ports[at(get, "port").(string)]; !ok {
							t.Errorf("%s: %s uses port %v, which the container does not name", path, probe, at(get, "port"))
						}
					}
					for _, e := range func() []any { l, _ := at(c, "env").([]any); return l }() {
						if n := at(e, "name").(string); !knownEnv(n) {
							t.Errorf("%s: env %s is not read by confhub", path, n)
						}
					}
				}
			case "Service":
				for _, p := range at(d, "spec", "ports").([]any) {
					if at(p, "targetPort") != "http" {
						t.Errorf("%s: targetPort %v is not the API container's named port http", path, at(p, "targetPort"))
					}
				}
			case "Kustomization":
				for _, r := range strs(d["resources"]) {
					if _, err := os.Stat(filepath.Join(filepath.Dir(path), r)); err != nil {
						t.Errorf("%s: resource %s: %v", path, r, err)
					}
				}
			}
		}
	}
	for _, k := range []string{"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Job", "ConfigMap", "Secret", "Kustomization"} {
		if kinds[k] == 0 {
			t.Errorf("no %s among the manifests", k)
		}
	}
	if kinds["Deployment"] != 2 {
		t.Errorf("%d Deployments, want the API's and the worker's", kinds["Deployment"])
	}

	// Compose: the services built from our image run real commands with
	// variables confhub reads, and publish the port they listen on.
	compose := docs[filepath.Join(deployDir, "compose.yaml")]
	if len(compose) != 1 {
		t.Fatal("deploy/compose.yaml is missing")
	}
	services := compose[0]["services"].(map[string]any)
	for _, want := range []string{"postgres", "temporal", "temporal-ui", "api", "worker", "zoomsim"} {
		if services[want] == nil {
			t.Errorf("compose has no %s service", want)
		}
	}
	for name, svc := range services {
		if at(svc, "image") != "confhub:local" {
			continue
		}
		args := strs(at(svc, "command"))
		if msg := checkArgs(args, flags); msg != "" {
			t.Errorf("compose %s: %s", name, msg)
		}
		env, _ := at(svc, "environment").(map[string]any)
		for k := range env {
			if !knownEnv(k) {
				t.Errorf("compose %s: %s is not read by confhub", name, k)
			}
		}
		listenOn := -1
		if addr, ok := env["CONFHUB_HTTP_ADDR"].(string); ok && args[0] == "serve" {
			listenOn = portOf(addr)
		}
		if args[0] == "zoomsim" {
			listenOn = portOf(args[slices.Index(args, "--addr")+1])
		}
		for _, p := range strs(at(svc, "ports")) {
			if c, _ := strconv.Atoi(p[strings.LastIndexByte(p, ':')+1:]); c != listenOn {
				t.Errorf("compose %s publishes container port %d, but it listens on %d", name, c, listenOn)
			}
		}
	}
	if at(services["api"], "command") == nil || strs(at(services["api"], "command"))[2] != "api" ||
		strs(at(services["worker"], "command"))[2] != "worker" {
		t.Error("compose must run the API and the worker as separate services")
	}

	// The Dockerfile builds with `make build`, which builds a static binary.
	docker, err := os.ReadFile(filepath.Join(deployDir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	makefile, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^RUN make build$`).Match(docker) || !regexp.MustCompile(`(?m)^build:\n\tCGO_ENABLED=0 \$\(GO\) build .*-o bin/confhub ./cmd/confhub$`).Match(makefile) {
		t.Error("the Dockerfile must build with the Makefile's build target (a static bin/confhub)")
	}
	if !regexp.MustCompile(`(?m)^COPY --from=build /src/bin/confhub /confhub$`).Match(docker) ||
		!regexp.MustCompile(`(?m)^USER 65532:65532$`).Match(docker) || !regexp.MustCompile(`(?m)^FROM gcr.io/distroless/static`).Match(docker) {
		t.Error("the Dockerfile's final stage must be a minimal static base, run as non-root, with the built binary")
	}
	if m := regexp.MustCompile(`(?m)^EXPOSE (\d+)$`).FindSubmatch(docker); m == nil || string(m[1]) != strconv.Itoa(listen) {
		t.Errorf("the Dockerfile exposes %q, the manifests listen on %d", m, listen)
	}
}
