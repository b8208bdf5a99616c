package testutil

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
)

// GoBuild builds the main package pkg (an import path, or a directory
// relative to the calling test's package) into dir, with the given build
// tags, and returns the binary's path. Under go test -race the binary is
// built with -race too (RaceEnabled); a child that finds a race prints
// WARNING: DATA RACE to its stderr and exits 66.
func GoBuild(dir, pkg string, tags ...string) (string, error) {
	bin := filepath.Join(dir, filepath.Base(pkg))
	if pkg == "." {
		bin = filepath.Join(dir, "main")
	}
	args := []string{"build", "-o", bin}
	if RaceEnabled {
		args = append(args, "-race")
	}
	for _, tag := range tags {
		args = append(args, "-tags", tag)
	}
	if out, err := exec.Command("go", append(args, pkg)...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
	}
	return bin, nil
}

// BuildBinary builds the main package pkg for a test that runs it as a
// child process (the real binary, its flags and exit codes), into the
// test's temporary directory.
func BuildBinary(t testing.TB, pkg string, tags ...string) string {
	t.Helper()
	bin, err := GoBuild(t.TempDir(), pkg, tags...)
	if err != nil {
		t.Fatal(err)
	}
	return bin
}
