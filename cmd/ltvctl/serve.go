// ltvctl serve: the read API of SPEC §11 and the live dashboard.

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/config"
	"github.com/ltv-stream/ltv-stream/internal/service"
	"github.com/ltv-stream/ltv-stream/internal/stats"
)

// serveFlags are serve's own settings. Like the consumer's, each has an
// environment variable and a flag, the flag winning: serve runs as a
// service, configured by its environment.
type serveFlags struct {
	statsRefresh, statsMaxStale, sampleLimit, changesDepth string
	cac                                                    []string
}

func (f *serveFlags) register(fs *flag.FlagSet, getenv func(string) string) {
	config.EnvStringVar(fs, getenv, &f.statsRefresh, "stats-refresh", "LTV_STATS_REFRESH", stats.DefaultRefresh.String(), "the longest /v1/stats goes unrefreshed while requests come (sooner where computing is quick: every ten computation times, at least 250ms)")
	config.EnvStringVar(fs, getenv, &f.statsMaxStale, "stats-max-stale", "LTV_STATS_MAX_STALE", "0", "never serve /v1/stats figures older than this while a refresh fails or nobody asked (0: the larger of 10m and twice --stats-refresh)")
	config.EnvStringVar(fs, getenv, &f.sampleLimit, "stats-sample-limit", "LTV_STATS_SAMPLE_LIMIT", strconv.Itoa(stats.DefaultSampleLimit), "above this many customers, /v1/stats is computed from a uniform sample of this many (-1: never sample)")
	config.EnvStringVar(fs, getenv, &f.changesDepth, "changes-depth", "LTV_CHANGES_DEPTH", "100", "latest records read from each partition of the output topics for /v1/changes (its largest limit)")
	fs.Func("cac", "acquisition cost per new customer of a channel, channel=amount, for LTV:CAC in /v1/stats (repeatable, as for report; env LTV_CAC, comma-separated, used when no --cac is given)", func(s string) error {
		f.cac = append(f.cac, s)
		return nil
	})
}

// serveSettings are serve's own settings, parsed.
type serveSettings struct {
	statsRefresh  time.Duration
	statsMaxStale time.Duration // 0: stats' default
	sampleLimit   int
	changesDepth  int
	cac           []string
	cacSource     string // "--cac", or "LTV_CAC" when no flag gave one
}

// parse checks serve's settings; a bad value names its flag and variable.
func (f *serveFlags) parse(getenv func(string) string) (serveSettings, error) {
	var s serveSettings
	var err error
	if s.statsRefresh, err = time.ParseDuration(strings.TrimSpace(f.statsRefresh)); err != nil || s.statsRefresh <= 0 {
		return s, fmt.Errorf("--stats-refresh (LTV_STATS_REFRESH) %q: want a positive duration such as 30s", f.statsRefresh)
	}
	if s.statsMaxStale, err = time.ParseDuration(strings.TrimSpace(f.statsMaxStale)); err != nil || s.statsMaxStale < 0 {
		return s, fmt.Errorf("--stats-max-stale (LTV_STATS_MAX_STALE) %q: want a duration such as 10m, or 0 for the default", f.statsMaxStale)
	}
	if s.sampleLimit, err = strconv.Atoi(strings.TrimSpace(f.sampleLimit)); err != nil || s.sampleLimit == 0 || s.sampleLimit < -1 {
		return s, fmt.Errorf("--stats-sample-limit (LTV_STATS_SAMPLE_LIMIT) %q: want a positive number of customers, or -1", f.sampleLimit)
	}
	if s.changesDepth, err = strconv.Atoi(strings.TrimSpace(f.changesDepth)); err != nil || s.changesDepth <= 0 {
		return s, fmt.Errorf("--changes-depth (LTV_CHANGES_DEPTH) %q: want a positive number of records", f.changesDepth)
	}
	s.cac, s.cacSource = f.cac, "--cac"
	if len(s.cac) == 0 {
		s.cacSource = "LTV_CAC"
		for _, v := range splitOutsideQuotes(getenv("LTV_CAC")) {
			if v = strings.TrimSpace(v); v != "" {
				s.cac = append(s.cac, v)
			}
		}
	}
	return s, nil
}

func runServe(ctx context.Context, args []string, getenv func(string) string, out, errOut io.Writer) error {
	var f serveFlags
	cfg, err := loadConfig("serve", args, getenv, errOut, func(fs *flag.FlagSet) { f.register(fs, getenv) }, nil)
	if err != nil {
		return err
	}
	set, err := f.parse(getenv)
	if err == nil {
		err = cfg.ValidateAPI()
	}
	if err != nil {
		fmt.Fprintln(errOut, "ltvctl serve:", err)
		return errUsage
	}
	cac, err := parseCAC(set.cacSource, set.cac)
	if err != nil {
		return err
	}
	if getenv("GOGC") == "" {
		// Requests allocate a few kB each and keep nothing: collect when
		// the heap grows 4x, not 2x (as the consumer does; fewer collections
		// under load, shorter tails).
		debug.SetGCPercent(400)
	}
	log, err := service.NewLogger(cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return fmt.Errorf("logger: %w", err)
	}
	defer func() { _ = log.Sync() }()
	ln, err := net.Listen("tcp", cfg.APIAddr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.APIAddr, err)
	}
	fmt.Fprintf(out, "ltvctl serve: read API and dashboard on %s\n", service.URLOf(ln.Addr()))
	return service.ServeAPI(ctx, cfg, ln, service.APIOptions{Logger: log, StatsRefresh: set.statsRefresh, StatsMaxStale: set.statsMaxStale, SampleLimit: set.sampleLimit, ChangesDepth: set.changesDepth, CAC: cac})
}

// splitOutsideQuotes splits a comma-separated list at the commas that are
// not inside a Go-quoted name, so LTV_CAC can name a channel holding a
// comma ("a,b"=5); a quote left open runs to the end and is refused by
// parseCAC.
func splitOutsideQuotes(s string) []string {
	var parts []string
	start, quoted := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++ // the escaped byte cannot end the quote
		case c == '"':
			quoted = !quoted
		case c == ',' && !quoted:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}
