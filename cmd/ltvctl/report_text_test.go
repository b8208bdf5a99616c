package main

import (
	"strings"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/report"
)

// Names in the tables come from producers (channel) or from whatever Redis
// holds (tier): a newline, a tab or an escape sequence printed raw splits
// a row, shifts its columns or drives the operator's terminal. The text
// tables show such a name quoted; plain names, spaces and non-ASCII letters
// stay as they are.
func TestReportTablesShowControlCharactersEscaped(t *testing.T) {
	for _, tc := range []struct{ name, shown string }{
		{"paid_search", "paid_search"},
		{"e-mail ünd så", "e-mail ünd så"},
		{"a\nb", `"a\nb"`},
		{"tab\there", `"tab\there"`},
		{"\x1b[2Jred", `"\x1b[2Jred"`},
		{"bad\xffutf8", `"bad\xffutf8"`},
		{"nbsp\u00a0x", `"nbsp\u00a0x"`},
	} {
		t.Run(tc.shown, func(t *testing.T) {
			s := &report.Stats{
				AsOf: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Population: 1, SampleSize: 1,
				TierOrder: []string{tc.name}, Tiers: map[string]int64{tc.name: 1},
				Channels: []report.Channel{{Channel: tc.name, Customers: 1}},
			}
			var out strings.Builder
			if err := writeTables(&out, s, ""); err != nil {
				t.Fatal(err)
			}
			text := out.String()
			for _, table := range []string{"\nTiers\n", "\nChannels\n"} {
				block := text[strings.Index(text, table)+len(table):]
				if end := strings.Index(block, "\n\n"); end >= 0 {
					block = block[:end]
				}
				rows := strings.Split(strings.TrimSuffix(block, "\n"), "\n")
				if len(rows) != 2 || !strings.HasPrefix(rows[1], tc.shown+"  ") {
					t.Errorf("%s: rows %q, want a header and one row starting %q", strings.TrimSpace(table), rows, tc.shown)
				}
			}
			if strings.IndexByte(text, 0x1b) >= 0 || strings.IndexByte(text, 0xff) >= 0 || strings.IndexByte(text, '\t') >= 0 {
				t.Errorf("a raw escape, invalid byte or tab reached the text:\n%q", text)
			}
		})
	}
}

// "(none)" stands for customers without a channel; a producer may still
// send a channel literally named "(none)". The tables must not show the
// two as one, and --cac must be able to name each.
func TestChannelNamedNoneIsNotTheEmptyChannel(t *testing.T) {
	for _, tc := range []struct{ stored, shown, cacName string }{
		{"", "(none)", "(none)"},
		{"(none)", `"(none)"`, `"(none)"`},
		{`"quoted"`, `"\"quoted\""`, `"\"quoted\""`},
		{"a,b", "a,b", `"a,b"`},
		{"email", "email", "email"},
	} {
		t.Run(tc.shown, func(t *testing.T) {
			if got := channelName(tc.stored); got != tc.shown {
				t.Errorf("channelName(%q) = %q, want %q", tc.stored, got, tc.shown)
			}
			costs, err := parseCAC("--cac", []string{tc.cacName + "=5"})
			if err != nil {
				t.Fatalf("parseCAC(%q): %v", tc.cacName+"=5", err)
			}
			if _, ok := costs[tc.stored]; !ok || len(costs) != 1 {
				t.Errorf("--cac %s=5 gave costs for %q, want for %q", tc.cacName, keys(costs), tc.stored)
			}
		})
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestSplitOutsideQuotes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"email=5", []string{"email=5"}},
		{"email=5, tv=3", []string{"email=5", " tv=3"}},
		{`"a,b"=5,tv=3`, []string{`"a,b"=5`, "tv=3"}},
		{`"a\",b"=5,tv=3`, []string{`"a\",b"=5`, "tv=3"}},
		{`"open,x=5`, []string{`"open,x=5`}},
		{"", []string{""}},
	} {
		got := splitOutsideQuotes(tc.in)
		if strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
			t.Errorf("splitOutsideQuotes(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
