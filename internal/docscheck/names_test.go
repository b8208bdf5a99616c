package docscheck

import (
	"io/fs"
	"os"
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
	err := filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "node_modules", "testdata", "bin":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(d.Name(), "_test.go") {
			return nil
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		dir, err := filepath.Rel(repoRoot, filepath.Dir(path))
		if err != nil {
			return err
		}
		for _, m := range decl.FindAllStringSubmatch(string(raw), -1) {
			out[m[1]] = append(out[m[1]], filepath.ToSlash(dir))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
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
	named := 0
	for _, rel := range markdownFiles(t) {
		raw, err := os.ReadFile(filepath.Join(repoRoot, rel))
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(raw), "\n") {
			for _, m := range docTestName.FindAllStringSubmatch(line, -1) {
				named++
				if funcs[m[1]] == nil && !strings.Contains(line, "since removed") {
					t.Errorf("%s:%d names %s, which no _test.go declares", rel, i+1, m[1])
				}
			}
		}
	}
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
	named := 0
	for _, rel := range markdownFiles(t) {
		raw, err := os.ReadFile(filepath.Join(repoRoot, rel))
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(raw), "\n") {
			for _, m := range docPath.FindAllStringSubmatch(line, -1) {
				named++
				if _, err := os.Stat(filepath.Join(repoRoot, m[1])); err != nil {
					t.Errorf("%s:%d names %s, which does not exist", rel, i+1, m[1])
				}
			}
		}
	}
	if named < 30 {
		t.Fatalf("found only %d paths in the documents", named)
	}
}
