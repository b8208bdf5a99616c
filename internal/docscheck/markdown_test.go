package docscheck

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// repoFiles is every file of the repository whose name ends in suffix,
// relative to the root, outside .git, node_modules, testdata and bin.
func repoFiles(t *testing.T, suffix string) []string {
	t.Helper()
	var out []string
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
		if strings.HasSuffix(d.Name(), suffix) {
			rel, err := filepath.Rel(repoRoot, path)
			if err != nil {
				return err
			}
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// markdownFiles is every Markdown file of the repository (README.md,
// CONTRIBUTING.md, docs/ and any other), relative to the root.
func markdownFiles(t *testing.T) []string {
	t.Helper()
	out := repoFiles(t, ".md")
	if len(out) < 10 {
		t.Fatalf("found only %d Markdown files", len(out))
	}
	return out
}

// docMatches calls found with every match of re on every line of every
// Markdown file (its file, 1-based line number and the line), and returns
// how many there were.
func docMatches(t *testing.T, re *regexp.Regexp, found func(rel string, line int, text string, m []string)) int {
	t.Helper()
	n := 0
	for _, rel := range markdownFiles(t) {
		raw, err := os.ReadFile(filepath.Join(repoRoot, rel))
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(raw), "\n") {
			for _, m := range re.FindAllStringSubmatch(line, -1) {
				n++
				found(rel, i+1, line, m)
			}
		}
	}
	return n
}

var (
	fence      = regexp.MustCompile("(?ms)^ *(```|~~~).*?^ *(```|~~~) *$")
	codeSpan   = regexp.MustCompile("`[^`\n]*`")
	mdLink     = regexp.MustCompile(`\]\(([^()\s]+)\)`)
	mdHeading  = regexp.MustCompile(`(?m)^#{1,6} +(.+?) *#* *$`)
	htmlAnchor = regexp.MustCompile(`<a (?:name|id)="([^"]+)"`)
)

// prose is a Markdown text without its fenced code blocks (headings and
// links inside them are not headings and links).
func prose(text string) string { return fence.ReplaceAllString(text, "") }

// anchors are the fragment ids GitHub gives the headings of a Markdown
// text: lower case, punctuation dropped, spaces turned into hyphens, and
// -1, -2, … added to repeated ones.
func anchors(text string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	for _, m := range mdHeading.FindAllStringSubmatch(prose(text), -1) {
		var b strings.Builder
		for _, r := range strings.ToLower(m[1]) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r):
				b.WriteRune(r)
			}
		}
		id := b.String()
		if n := seen[id]; n > 0 {
			out[id+"-"+strconv.Itoa(n)] = true
		} else {
			out[id] = true
		}
		seen[id]++
	}
	for _, m := range htmlAnchor.FindAllStringSubmatch(text, -1) {
		out[m[1]] = true
	}
	return out
}

func TestAnchorsAreGitHubs(t *testing.T) {
	got := anchors("# The contract\n## 11. Cohorts, channels and the read API\n## `GET /v1/stats`\n" +
		"### Docker Compose: the whole pipeline on one machine\n## Twice\n## Twice\n```sh\n# not a heading\n```\n")
	for _, want := range []string{"the-contract", "11-cohorts-channels-and-the-read-api", "get-v1stats",
		"docker-compose-the-whole-pipeline-on-one-machine", "twice", "twice-1"} {
		if !got[want] {
			t.Errorf("no anchor %q in %v", want, got)
		}
	}
	if got["not-a-heading"] {
		t.Error("a comment in a code block made an anchor")
	}
}

// Every relative link of every Markdown file names a file or folder that
// exists, and every #fragment a heading of the page it points into, so a
// reader who follows one lands where the sentence says.
func TestMarkdownLinksResolve(t *testing.T) {
	texts := map[string]string{}
	for _, rel := range markdownFiles(t) {
		raw, err := os.ReadFile(filepath.Join(repoRoot, rel))
		if err != nil {
			t.Fatal(err)
		}
		texts[rel] = string(raw)
	}
	links := 0
	for rel, text := range texts {
		body := codeSpan.ReplaceAllString(prose(text), "")
		for _, m := range mdLink.FindAllStringSubmatch(body, -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			links++
			file, frag, _ := strings.Cut(target, "#")
			dest := rel
			if file != "" {
				dest = filepath.ToSlash(filepath.Clean(filepath.Join(filepath.Dir(rel), file)))
				if _, err := os.Stat(filepath.Join(repoRoot, dest)); err != nil {
					t.Errorf("%s: link %s: no file %s", rel, target, dest)
					continue
				}
			}
			if frag == "" {
				continue
			}
			destText, ok := texts[dest]
			if !ok {
				t.Errorf("%s: link %s: a fragment into %s, which is not a Markdown page", rel, target, dest)
				continue
			}
			if !anchors(destText)[frag] {
				t.Errorf("%s: link %s: %s has no heading with the anchor #%s", rel, target, dest, frag)
			}
		}
	}
	if links < 50 {
		t.Fatalf("found only %d relative links", links)
	}
}
