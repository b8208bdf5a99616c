package testutil

import (
	"os"
	"path/filepath"
	"testing"
)

// cdnowFile is the CDNOW summary's name in the shared data directory.
const cdnowFile = "cdnow_customers_summary_with_transactions.csv"

// CDNOWSummary returns the path of the CDNOW benchmark summary (ID, x,
// t_x, T, zbar in weeks), the data the predictive fit must reproduce the
// published estimates on, or skips the test when this machine lacks it.
// The file is not in the repository: it is the lifetimes library's copy,
// kept beside the project as shared/data/cdnow/. It is looked for in every
// directory above the test's own, so a clone anywhere below the directory
// that holds shared/ finds it, not only one at ../shared's fixed depth;
// LTV_CDNOW_SUMMARY names the file elsewhere (and fails the test when it
// does not exist).
func CDNOWSummary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("LTV_CDNOW_SUMMARY"); p != "" {
		if _, err := os.Stat(p); err != nil { //nolint:gosec // G703: the developer names the file to read
			t.Fatalf("LTV_CDNOW_SUMMARY: %v", err)
		}
		return p
	}
	start, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for dir := start; ; {
		p := filepath.Join(dir, "shared", "data", "cdnow", cdnowFile)
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skipf("CDNOW summary not found in shared/data/cdnow/ above %s (or LTV_CDNOW_SUMMARY): skipping the published-estimate check", start)
			return ""
		}
		dir = parent
	}
}
