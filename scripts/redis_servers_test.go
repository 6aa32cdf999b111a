// Package scripts holds tests of the shell scripts beside it.
package scripts

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// fetchTestEnv opts in to TestServerFetchIgnoresInstalledPackages: it downloads
// ~40 MB from Debian's archive (about 25 s), so `make servers-test` sets it
// and plain `go test ./...` skips it.
const fetchTestEnv = "REDFERRY_FETCH_TEST"

// hostileStatus is a dpkg status in which Debian's own Redis and Valkey are
// installed at versions newer than any suite carries and that no archive
// has: apt, left to itself, takes an installed version that is newer than the
// suite's as its candidate and then cannot download it (issue 12).
const hostileStatus = `Package: redis-server
Status: install ok installed
Priority: optional
Section: database
Installed-Size: 100
Maintainer: Nobody <nobody@example.invalid>
Architecture: amd64
Version: 5:99.0.0-1
Description: persistent key-value database (installed on the operator's machine)

Package: redis-tools
Status: install ok installed
Priority: optional
Section: database
Installed-Size: 100
Maintainer: Nobody <nobody@example.invalid>
Architecture: amd64
Version: 5:99.0.0-1
Description: persistent key-value database (client tools)

Package: valkey-server
Status: hold ok installed
Priority: optional
Section: database
Installed-Size: 100
Maintainer: Nobody <nobody@example.invalid>
Architecture: amd64
Version: 99.0.0+dfsg-1
Description: persistent key-value database (installed and held)

Package: valkey-tools
Status: install ok installed
Priority: optional
Section: database
Installed-Size: 100
Maintainer: Nobody <nobody@example.invalid>
Architecture: amd64
Version: 99.0.0+dfsg-1
Description: persistent key-value database (client tools)
`

// hostilePreferences pins the servers away from every Debian suite, as an
// operator who keeps apt from upgrading them might.
const hostilePreferences = `Package: redis-server redis-tools valkey-server valkey-tools
Pin: release o=Debian
Pin-Priority: -1
`

// wantLaunchers: the servers the script promises, by the suite they come from.
var wantLaunchers = []struct {
	suite, family, versionPrefix string
}{
	{"bullseye", "redis", "6.0."},
	{"bookworm", "redis", "7.0."},
	{"trixie", "redis", "8.0."},
	{"trixie", "valkey", "8.1."},
	{"sid", "redis", "8."},
	{"sid", "valkey", "9."},
	{"experimental", "redis", "8.6."},
}

var versionLine = regexp.MustCompile(`^(Redis|Valkey) server v=([0-9.]+) `)

// TestServerFetchIgnoresInstalledPackages runs scripts/redis-servers.sh on a
// machine whose apt state says Debian's Redis and Valkey are installed (at
// versions no archive has) and pinned away, and checks that every server
// still arrives, reports its version and answers PING.
func TestServerFetchIgnoresInstalledPackages(t *testing.T) {
	if os.Getenv(fetchTestEnv) != "1" {
		t.Skipf("downloads the servers from Debian's archive: set %s=1 (make servers-test)", fetchTestEnv)
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		t.Fatalf("the fetch needs apt-get and dpkg (a Debian machine): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	machine := t.TempDir()
	write(t, filepath.Join(machine, "status"), hostileStatus)
	write(t, filepath.Join(machine, "preferences"), hostilePreferences)
	write(t, filepath.Join(machine, "apt.conf"),
		`Dir::State::status "`+filepath.Join(machine, "status")+`";`+"\n"+
			`Dir::Etc::Preferences "`+filepath.Join(machine, "preferences")+`";`+"\n")

	cache := filepath.Join(t.TempDir(), "servers")
	fetch := exec.CommandContext(ctx, "bash", "redis-servers.sh", cache)
	fetch.Env = append(os.Environ(), "APT_CONFIG="+filepath.Join(machine, "apt.conf"))
	out, err := fetch.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/redis-servers.sh with Debian's redis and valkey installed: %v\n%s", err, out)
	}

	launchers := launchersBySuite(t, cache)
	if len(launchers) != len(wantLaunchers) {
		t.Errorf("got %d launchers %v, want %d", len(launchers), launchers, len(wantLaunchers))
	}
	for _, want := range wantLaunchers {
		key := want.suite + "/" + want.family
		name, ok := launchers[key]
		if !ok {
			t.Errorf("no %s launcher from %s in %s/bin (got %v)", want.family, want.suite, cache, launchers)
			continue
		}
		t.Run(name, func(t *testing.T) {
			bin := filepath.Join(cache, "bin", name)
			version := reportedVersion(ctx, t, bin, want.family)
			if name != want.family+"-"+version {
				t.Errorf("launcher %s runs a server that says it is version %s", name, version)
			}
			if !strings.HasPrefix(version, want.versionPrefix) {
				t.Errorf("%s from %s is version %s, want %s*", want.family, want.suite, version, want.versionPrefix)
			}
			answersPing(ctx, t, bin, filepath.Join(cache, "tools", "redis-cli"))
		})
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// launchersBySuite maps "suite/family" to the launcher's name, reading from
// each launcher which suite's tree it runs.
func launchersBySuite(t *testing.T, cache string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(cache, "bin"))
	if err != nil {
		t.Fatalf("no launchers: %v", err)
	}
	suiteOf := regexp.MustCompile(regexp.QuoteMeta(cache) + `/([a-z]+)/root/`)
	got := map[string]string{}
	for _, e := range entries {
		script, err := os.ReadFile(filepath.Join(cache, "bin", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		family, _, _ := strings.Cut(e.Name(), "-")
		suite := "unknown"
		if m := suiteOf.FindSubmatch(script); m != nil {
			suite = string(m[1])
		}
		key := suite + "/" + family
		if prev, dup := got[key]; dup {
			t.Errorf("two %s launchers from %s: %s and %s", family, suite, prev, e.Name())
		}
		got[key] = e.Name()
	}
	return got
}

// reportedVersion runs the launcher with --version and returns the version
// the server reports, checking that it is a server of the wanted family.
func reportedVersion(ctx context.Context, t *testing.T, bin, family string) string {
	t.Helper()
	out, err := exec.CommandContext(ctx, bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --version: %v\n%s", bin, err, out)
	}
	m := versionLine.FindSubmatch(out)
	if m == nil {
		t.Fatalf("%s --version printed %q, not a server version line", bin, out)
	}
	if got := strings.ToLower(string(m[1])); got != family {
		t.Errorf("%s is a %s server, want %s", bin, got, family)
	}
	return string(m[2])
}

// answersPing starts the server on a unix socket (no TCP port) and checks
// that the fetched redis-cli gets PONG from it.
func answersPing(ctx context.Context, t *testing.T, bin, cli string) {
	t.Helper()
	// Short path: a unix socket path must fit in 108 bytes.
	dir, err := os.MkdirTemp("", "rs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "s")
	server := exec.CommandContext(ctx, bin, "--port", "0", "--unixsocket", sock,
		"--dir", dir, "--save", "", "--logfile", filepath.Join(dir, "log"))
	if err := server.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	t.Cleanup(func() {
		_ = server.Process.Kill()
		_ = server.Wait()
	})
	var out []byte
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		out, err = exec.CommandContext(ctx, cli, "-s", sock, "ping").CombinedOutput()
		if err == nil && strings.TrimSpace(string(out)) == "PONG" {
			return
		}
	}
	log, _ := os.ReadFile(filepath.Join(dir, "log"))
	t.Fatalf("%s did not answer PING on %s: %v %q\nserver log:\n%s", bin, sock, err, out, log)
}
