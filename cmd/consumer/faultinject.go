//go:build faultinject

package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"

	"go.uber.org/zap"
)

// A build with this tag (the crash tests build one: go build -tags
// faultinject ./cmd/consumer) reads LTV_FAULT_INJECT, e.g.
// "after-save:0.01,after-publish:0.01": the probability per batch of
// killing the process with SIGKILL right after the batch's Redis write,
// or right after its outputs are acknowledged and before its offsets are
// committed.
func init() {
	faultHook = func(getenv func(string) string, log *zap.Logger) (func(string), error) {
		faults, err := parseFaults(getenv("LTV_FAULT_INJECT"))
		if err != nil || len(faults) == 0 {
			return nil, err
		}
		log.Warn("fault injection enabled: this process will kill itself on purpose", zap.Any("faults", faults))
		return func(stage string) {
			if p := faults[stage]; p > 0 && rand.Float64() < p {
				_ = log.Sync()
				_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			}
		}, nil
	}
}

// parseFaults reads "after-save:0.01,after-publish:0.02" into stage →
// probability.
func parseFaults(s string) (map[string]float64, error) {
	out := map[string]float64{}
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		name, prob, ok := strings.Cut(part, ":")
		stage := strings.TrimPrefix(name, "after-")
		p, err := strconv.ParseFloat(prob, 64)
		if !ok || err != nil || p < 0 || p > 1 || (stage != "save" && stage != "publish") {
			return nil, fmt.Errorf("LTV_FAULT_INJECT: %q is not after-save:P or after-publish:P with P in [0,1]", part)
		}
		out[stage] = p
	}
	return out, nil
}
