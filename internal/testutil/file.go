package testutil

import (
	"os"
	"path/filepath"
	"testing"
)

// WriteFile writes content to a file called name in a fresh directory
// removed with the test, and returns its path: the configuration files
// and inputs tests hand to a program by path.
func WriteFile(t testing.TB, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
