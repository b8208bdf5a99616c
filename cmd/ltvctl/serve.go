// ltvctl serve: the read API of SPEC §11 and the live dashboard.

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/service"
	"github.com/ltv-stream/ltv-stream/internal/stats"
)

// serveFlags are serve's own flags.
type serveFlags struct {
	statsRefresh time.Duration
	sampleLimit  int
	changesDepth int
	cac          []string
}

func (f *serveFlags) register(fs *flag.FlagSet) {
	fs.DurationVar(&f.statsRefresh, "stats-refresh", stats.DefaultRefresh, "recompute /v1/stats at most this often")
	fs.IntVar(&f.sampleLimit, "stats-sample-limit", stats.DefaultSampleLimit, "above this many customers, /v1/stats is computed from a uniform sample of this many (-1: never sample)")
	fs.IntVar(&f.changesDepth, "changes-depth", 100, "latest records read from each partition of the output topics for /v1/changes (its largest limit)")
	fs.Func("cac", "acquisition cost per new customer of a channel, channel=amount, for LTV:CAC in /v1/stats (repeatable, as for report)", func(s string) error {
		f.cac = append(f.cac, s)
		return nil
	})
}

func runServe(ctx context.Context, args []string, getenv func(string) string, out, errOut io.Writer) error {
	var f serveFlags
	cfg, err := loadConfig("serve", args, getenv, errOut, f.register, nil)
	if err != nil {
		return err
	}
	if f.statsRefresh <= 0 || f.changesDepth <= 0 || f.sampleLimit == 0 || f.sampleLimit < -1 {
		fmt.Fprintln(errOut, "ltvctl serve: --stats-refresh and --changes-depth must be positive, --stats-sample-limit positive or -1")
		return errUsage
	}
	cac, err := parseCAC(f.cac)
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
	return service.ServeAPI(ctx, cfg, ln, service.APIOptions{Logger: log, StatsRefresh: f.statsRefresh, SampleLimit: f.sampleLimit, ChangesDepth: f.changesDepth, CAC: cac})
}
