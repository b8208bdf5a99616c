package docscheck

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func readRepoFile(t *testing.T, rel string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// A newcomer's first two commands are the README's first two: `make demo`
// and `make test`, both Makefile targets, the demo one running cmd/demo.
func TestReadmeStartsWithDemoAndTest(t *testing.T) {
	readme := readRepoFile(t, "README.md")
	block := regexp.MustCompile("(?s)```sh\n(.*?)```").FindStringSubmatch(readme)
	if block == nil {
		t.Fatal("README.md has no sh code block")
	}
	var cmds []string
	for _, line := range strings.Split(block[1], "\n") {
		cmd, _, _ := strings.Cut(line, "#")
		if cmd = strings.TrimSpace(cmd); cmd != "" {
			cmds = append(cmds, cmd)
		}
	}
	if len(cmds) < 2 || cmds[0] != "make demo" || cmds[1] != "make test" {
		t.Errorf("README.md's first commands are %q, not make demo and make test", cmds)
	}
	if i := strings.Index(readme, "```"); strings.Contains(readme[:i], "\n## ") {
		t.Error("README.md has a section before its first commands")
	}
	makefile := readRepoFile(t, "Makefile")
	for _, target := range []string{"demo", "test"} {
		if !regexp.MustCompile(`(?m)^` + target + `:`).MatchString(makefile) {
			t.Errorf("the Makefile has no %s target", target)
		}
	}
	if !regexp.MustCompile(`(?m)^demo:.*\n\t.*run \./cmd/demo`).MatchString(makefile) {
		t.Error("make demo does not run ./cmd/demo")
	}
}

// The Go version go.mod requires is the one the image builds with and the
// one README.md and CONTRIBUTING.md tell a newcomer to install.
func TestGoVersionIsTheSameEverywhere(t *testing.T) {
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+(?:\.\d+)?)$`).FindStringSubmatch(readRepoFile(t, "go.mod"))
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	want := m[1]
	if d := regexp.MustCompile(`(?m)^ARG GO_VERSION=(\S+)$`).FindStringSubmatch(readRepoFile(t, "Dockerfile")); d == nil || d[1] != want {
		t.Errorf("the Dockerfile builds with Go %v, go.mod says %s", d, want)
	}
	for _, rel := range []string{"README.md", "CONTRIBUTING.md"} {
		named := regexp.MustCompile(`(\d+\.\d+\.\d+) or later`).FindAllStringSubmatch(readRepoFile(t, rel), -1)
		if len(named) == 0 {
			t.Errorf("%s does not say which Go to install", rel)
		}
		for _, n := range named {
			if n[1] != want {
				t.Errorf("%s asks for Go %s or later, go.mod says %s", rel, n[1], want)
			}
		}
	}
}
