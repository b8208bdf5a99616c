package docscheck

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ltv-stream/ltv-stream/internal/config"
)

// usageSetting is one setting as `consumer -h` prints it.
type usageSetting struct{ flag, def, text string }

// consumerUsage is every setting of `consumer -h`, by environment
// variable: its flag and its default ("" when the usage shows none).
func consumerUsage(t *testing.T) map[string]usageSetting {
	t.Helper()
	var usage bytes.Buffer
	if _, err := config.Load([]string{"-h"}, func(string) string { return "" }, &usage); err == nil {
		t.Fatal("-h did not stop the settings from loading")
	}
	entry := regexp.MustCompile(`(?m)^  -(\S+)(?: \S+)?\n((?:    \t.*\n?)+)`)
	env := regexp.MustCompile(`\(env (LTV_[A-Z0-9_]+)\)`)
	def := regexp.MustCompile(`\(default "?(.*?)"?\)\s*$`)
	out := map[string]usageSetting{}
	for _, m := range entry.FindAllStringSubmatch(usage.String(), -1) {
		e := env.FindStringSubmatch(m[2])
		if e == nil {
			continue
		}
		s := usageSetting{flag: "--" + m[1], text: m[2]}
		if d := def.FindStringSubmatch(m[2]); d != nil {
			s.def = d[1]
		}
		out[e[1]] = s
	}
	if len(out) < 30 {
		t.Fatalf("read only %d settings from the usage text", len(out))
	}
	return out
}

var (
	settingRow = regexp.MustCompile("(?m)^\\| *(`LTV_[^|]*)\\|([^|]*)\\|([^|]*)\\|")
	backticked = regexp.MustCompile("`([^`]*)`")
)

// The settings tables of configuration.md and read-api.md (env | flag |
// default | meaning) say what `consumer -h` says: each variable's flag,
// and its default. A default the table gives in code font is the one the
// usage shows (a true/false setting's `false` shows as none); a default in
// words ("none", "system roots") means the usage shows none.
func TestSettingsTablesMatchTheUsage(t *testing.T) {
	usage := consumerUsage(t)
	serveOwn := map[string]bool{"LTV_STATS_REFRESH": true, "LTV_STATS_MAX_STALE": true, "LTV_STATS_SAMPLE_LIMIT": true, "LTV_CHANGES_DEPTH": true, "LTV_CAC": true}
	documented := map[string]bool{}
	for _, rel := range []string{"docs/configuration.md", "docs/read-api.md"} {
		raw, err := os.ReadFile(filepath.Join(repoRoot, rel))
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range settingRow.FindAllStringSubmatch(string(raw), -1) {
			var envs, flags []string
			for _, m := range backticked.FindAllStringSubmatch(row[1], -1) {
				envs = append(envs, m[1])
			}
			for _, m := range backticked.FindAllStringSubmatch(row[2], -1) {
				flags = append(flags, m[1])
			}
			defCell := strings.TrimSpace(row[3])
			for i, env := range envs {
				if serveOwn[env] {
					continue // ltvctl serve's own: not in the consumer's usage
				}
				u, ok := usage[env]
				if !ok {
					t.Errorf("%s: %s is not a setting of consumer -h", rel, env)
					continue
				}
				documented[env] = true
				if i >= len(flags) || flags[i] != u.flag {
					t.Errorf("%s: %s: the table gives the flag %v, the usage %s", rel, env, flags, u.flag)
				}
				want := ""
				if strings.HasPrefix(defCell, "`") {
					want = backticked.FindStringSubmatch(defCell)[1]
					if want == "false" {
						want = ""
					}
				}
				// A default made from other settings shows as "(empty: …)".
				if want != u.def && (u.def != "" || !strings.Contains(u.text, "(empty: "+want+")")) {
					t.Errorf("%s: %s: the table gives the default %q, the usage %q", rel, env, defCell, u.def)
				}
			}
		}
	}
	for env := range usage {
		if !documented[env] {
			t.Errorf("%s is a setting of consumer -h that docs/configuration.md's tables do not list", env)
		}
	}
}

// Every LTV_ variable a document names is one a program or a test reads:
// a setting of the consumer or ltvctl, or a test's or the fault-injection
// build's own switch (found as a string in the Go code). A wildcard
// (`LTV_KAFKA_TLS_*`) must match at least one setting.
func TestDocumentedVariablesExist(t *testing.T) {
	known := knownSettings(t)
	var code strings.Builder
	err := filepath.WalkDir(repoRoot, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "node_modules", "testdata", "bin", "docscheck":
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(d.Name(), ".go") {
			raw, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			code.Write(raw)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	inCode := map[string]bool{}
	for _, m := range regexp.MustCompile(`"(LTV_[A-Z0-9_]+)`).FindAllStringSubmatch(code.String(), -1) {
		inCode[m[1]] = true
	}
	name := regexp.MustCompile(`\bLTV_[A-Z0-9_]*[A-Z0-9](_?\*)?`)
	docMatches(t, name, func(rel string, line int, _ string, match []string) {
		m := match[0]
		if prefix, ok := strings.CutSuffix(m, "*"); ok {
			found := false
			for k := range known {
				found = found || strings.HasPrefix(k, prefix)
			}
			if !found {
				t.Errorf("%s:%d: %s matches no setting", rel, line, m)
			}
			return
		}
		if !known[m] && !inCode[m] {
			t.Errorf("%s:%d: %s is read by no program or test", rel, line, m)
		}
	})
}
