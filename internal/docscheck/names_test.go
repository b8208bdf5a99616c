package docscheck

import (
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// goTestFuncs maps the name of every Test, Benchmark and Fuzz function of
// the repository's _test.go files to the package folder that holds it.
func goTestFuncs(t *testing.T) map[string][]string {
	t.Helper()
	decl := regexp.MustCompile(`(?m)^func ((?:Test|Benchmark|Fuzz)[A-Za-z0-9_]*)\(`)
	out := map[string][]string{}
	for _, rel := range repoFiles(t, "_test.go") {
		raw, err := os.ReadFile(filepath.Join(repoRoot, rel))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range decl.FindAllStringSubmatch(string(raw), -1) {
			out[m[1]] = append(out[m[1]], path.Dir(rel))
		}
	}
	if len(out) < 100 {
		t.Fatalf("found only %d test functions", len(out))
	}
	return out
}

// `make fuzz` runs every fuzz target (CONTRIBUTING.md says so, and lists
// them): a new Fuzz function that the Makefile does not name would only
// ever run its seed corpus.
func TestMakeFuzzRunsEveryFuzzTarget(t *testing.T) {
	makefile, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	contributing, err := os.ReadFile(filepath.Join(repoRoot, "CONTRIBUTING.md"))
	if err != nil {
		t.Fatal(err)
	}
	run := map[string]string{} // target -> package folder, as the Makefile gives them
	for _, m := range regexp.MustCompile(`-fuzz='\^(Fuzz[A-Za-z0-9_]*)\$\$'.*? \./(\S+)`).FindAllStringSubmatch(string(makefile), -1) {
		run[m[1]] = m[2]
	}
	fuzzes := 0
	for name, dirs := range goTestFuncs(t) {
		if !strings.HasPrefix(name, "Fuzz") {
			continue
		}
		fuzzes++
		for _, dir := range dirs {
			if run[name] != dir {
				t.Errorf("%s (%s) is not run by make fuzz (the Makefile has %q)", name, dir, run[name])
			}
		}
		if !strings.Contains(string(contributing), "`"+name+"`") {
			t.Errorf("CONTRIBUTING.md's Fuzzing section does not name %s", name)
		}
	}
	if fuzzes == 0 {
		t.Fatal("found no fuzz targets")
	}
}

// docTestName is a Go test, benchmark or fuzz function named in a document.
var docTestName = regexp.MustCompile("`((?:Test|Benchmark|Fuzz)[A-Z][A-Za-z0-9_]*)`")

// Every test a document names as the one that checks a claim exists, so a
// reader who runs it (go test -run) runs something. A benchmark the text
// itself says was removed is history, not a claim.
func TestDocumentedTestsExist(t *testing.T) {
	funcs := goTestFuncs(t)
	named := docMatches(t, docTestName, func(rel string, line int, text string, m []string) {
		if funcs[m[1]] == nil && !strings.Contains(text, "since removed") {
			t.Errorf("%s:%d names %s, which no _test.go declares", rel, line, m[1])
		}
	})
	if named < 20 {
		t.Fatalf("found only %d test names in the documents", named)
	}
}

// docPath is a repository path in code font: `internal/store/blob.go`,
// `deploy/base/`, `scripts/ensure-chromium.sh`.
var docPath = regexp.MustCompile("`((?:internal|cmd|scripts|deploy|docs|schemas|tools|\\.ci)/[A-Za-z0-9_./-]*)`")

// Every repository path a document names in code font exists, so a reader
// who opens it finds the file the sentence is about.
func TestDocumentedPathsExist(t *testing.T) {
	named := docMatches(t, docPath, func(rel string, line int, _ string, m []string) {
		if _, err := os.Stat(filepath.Join(repoRoot, m[1])); err != nil {
			t.Errorf("%s:%d names %s, which does not exist", rel, line, m[1])
		}
	})
	if named < 30 {
		t.Fatalf("found only %d paths in the documents", named)
	}
}
