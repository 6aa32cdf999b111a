// Package configs_test checks the deployment files in configs/: the
// Kubernetes manifest parses, its pods select a shard and name only
// settings redferry knows, its redferry.toml loads; the systemd units pass
// systemd-analyze verify where it is installed and set only known settings.
package configs_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/redferry/redferry/pkg/config"
)

// knownEnv is every REDFERRY_* variable redferry reads.
func knownEnv(t *testing.T) map[string]bool {
	t.Helper()
	c := config.Default()
	fs := pflag.NewFlagSet("sync", pflag.ContinueOnError)
	c.RegisterFlags(fs)
	out := map[string]bool{}
	fs.VisitAll(func(f *pflag.Flag) { out[config.EnvName(f.Name)] = true })
	if len(out) == 0 {
		t.Fatal("no settings registered")
	}
	return out
}

type manifest struct {
	Kind string `yaml:"kind"`
	Data map[string]string
	Spec struct {
		Replicas int `yaml:"replicas"`
		Template struct {
			Spec struct {
				Containers []struct {
					Args []string `yaml:"args"`
					Env  []struct {
						Name      string `yaml:"name"`
						Value     string `yaml:"value"`
						ValueFrom *struct {
							FieldRef struct {
								FieldPath string `yaml:"fieldPath"`
							} `yaml:"fieldRef"`
						} `yaml:"valueFrom"`
					} `yaml:"env"`
				} `yaml:"containers"`
				Volumes []struct {
					Name     string `yaml:"name"`
					EmptyDir *struct{}
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

func TestKubernetesManifest(t *testing.T) {
	b, err := os.ReadFile("kubernetes-cluster-source.yaml")
	if err != nil {
		t.Fatal(err)
	}
	known := knownEnv(t)
	dec := yaml.NewDecoder(bytes.NewReader(b))
	kinds := map[string]bool{}
	for {
		var m manifest
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("kubernetes-cluster-source.yaml does not parse: %v", err)
		}
		kinds[m.Kind] = true
		switch m.Kind {
		case "ConfigMap":
			checkTOML(t, m.Data["redferry.toml"])
		case "StatefulSet":
			cs := m.Spec.Template.Spec.Containers
			if len(cs) != 1 || m.Spec.Replicas < 1 {
				t.Fatalf("the StatefulSet has %d containers and %d replicas", len(cs), m.Spec.Replicas)
			}
			shardsFromIndex := false
			for _, e := range cs[0].Env {
				if strings.HasPrefix(e.Name, "REDFERRY_") && !known[e.Name] {
					t.Errorf("the manifest sets %s, which no redferry setting reads", e.Name)
				}
				if e.Name == "REDFERRY_SHARDS" && e.ValueFrom != nil &&
					e.ValueFrom.FieldRef.FieldPath == "metadata.labels['apps.kubernetes.io/pod-index']" {
					shardsFromIndex = true
				}
			}
			if !shardsFromIndex {
				t.Error("the pods do not select their shard from their ordinal (REDFERRY_SHARDS from the pod-index label)")
			}
			if strings.Join(cs[0].Args, " ") != "sync --config /etc/redferry/redferry.toml" {
				t.Errorf("the container runs %v", cs[0].Args)
			}
		}
	}
	for _, k := range []string{"StatefulSet", "ConfigMap", "Secret"} {
		if !kinds[k] {
			t.Errorf("the manifest has no %s", k)
		}
	}
}

// checkTOML loads the ConfigMap's redferry.toml as redferry would, with a
// shard selected as the pods do, and validates it.
func checkTOML(t *testing.T, text string) {
	t.Helper()
	if text == "" {
		t.Fatal("the ConfigMap has no redferry.toml")
	}
	path := filepath.Join(t.TempDir(), "redferry.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"REDFERRY_SHARDS": "2"}
	fs := pflag.NewFlagSet("sync", pflag.ContinueOnError)
	scratch := config.Default()
	scratch.RegisterFlags(fs)
	cfg, err := config.LoadSettings(path, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, fs)
	if err != nil {
		t.Fatalf("the ConfigMap's redferry.toml does not load: %v", err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("the ConfigMap's redferry.toml is not valid: %v", err)
	}
	if len(cfg.Shards) != 1 || cfg.Shards[0] != "2" {
		t.Fatalf("REDFERRY_SHARDS=2 gives shards %v", cfg.Shards)
	}
}

var envLine = regexp.MustCompile(`(?m)^Environment=(REDFERRY_[A-Z_]+)=`)

func TestSystemdUnits(t *testing.T) {
	known := knownEnv(t)
	for _, unit := range []string{"redferry.service", "redferry@.service"} {
		t.Run(unit, func(t *testing.T) {
			b, err := os.ReadFile(unit)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range envLine.FindAllStringSubmatch(string(b), -1) {
				if !known[m[1]] {
					t.Errorf("%s sets %s, which no redferry setting reads", unit, m[1])
				}
			}
			if strings.Contains(unit, "@") && !strings.Contains(string(b), "REDFERRY_SHARDS=%i") {
				t.Errorf("%s does not select the shard from its instance name", unit)
			}
			analyze, err := exec.LookPath("systemd-analyze")
			if err != nil {
				t.Skip("systemd-analyze is not installed")
			}
			// verify needs ExecStart's binary to exist; a template needs an instance.
			dir := t.TempDir()
			name := strings.Replace(unit, "@.", "@0.", 1)
			text := strings.ReplaceAll(string(b), "/usr/local/bin/redferry", "/bin/true")
			for _, n := range []string{unit, name} {
				if err := os.WriteFile(filepath.Join(dir, n), []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			out, err := exec.Command(analyze, "verify", "--man=no", filepath.Join(dir, name)).CombinedOutput()
			if err != nil || strings.Contains(string(out), name) {
				t.Fatalf("systemd-analyze verify %s: %v\n%s", unit, err, out)
			}
		})
	}
}
