package bench

import (
	"fmt"
	"time"

	"github.com/prometheus/procfs"
)

// CPUTime returns a process's user+system CPU time so far (utime+stime
// of /proc/<pid>/stat).
func CPUTime(pid int) (time.Duration, error) {
	st, err := readProc(pid, "cpu time", procfs.Proc.Stat)
	if err != nil {
		return 0, err
	}
	return time.Duration(st.CPUTime() * float64(time.Second)), nil
}

// peakRSS returns VmHWM, the high-water mark of the process's resident
// set. It is read from /proc rather than taken from wait4's rusage:
// after a fork+exec the kernel's ru_maxrss also remembers the parent's
// resident set the child shared before exec, which here would report the
// harness's (broker's) memory as the consumer's.
func peakRSS(pid int) (int64, error) {
	st, err := readProc(pid, "peak rss", procfs.Proc.NewStatus)
	if err != nil {
		return 0, err
	}
	if st.VmHWM == 0 { // a kernel thread or a zombie has no memory lines
		return 0, fmt.Errorf("peak rss of process %d: no VmHWM in /proc/%d/status", pid, pid)
	}
	return int64(st.VmHWM), nil
}

// readProc reads one of the /proc files of process pid; an error names
// what was wanted and the process.
func readProc[T any](pid int, what string, read func(procfs.Proc) (T, error)) (T, error) {
	p, err := procfs.NewProc(pid)
	if err == nil {
		var v T
		if v, err = read(p); err == nil {
			return v, nil
		}
	}
	var zero T
	return zero, fmt.Errorf("%s of process %d: %w", what, pid, err)
}

// cpuMeter measures CPU used by several processes over an interval.
type cpuMeter struct {
	pids  map[string]int
	start map[string]time.Duration
}

func startCPUMeter(pids map[string]int) *cpuMeter {
	m := &cpuMeter{pids: pids, start: map[string]time.Duration{}}
	for name, pid := range pids {
		m.start[name], _ = CPUTime(pid)
	}
	return m
}

// used returns CPU time since the start, per process.
func (m *cpuMeter) used() map[string]time.Duration {
	out := map[string]time.Duration{}
	for name, pid := range m.pids {
		if now, err := CPUTime(pid); err == nil {
			out[name] = now - m.start[name]
		}
	}
	return out
}

// cpuDuring runs f and returns the CPU time process pid used meanwhile.
func cpuDuring(pid int, f func() error) (time.Duration, error) {
	before, err := CPUTime(pid)
	if err != nil {
		return 0, err
	}
	if err := f(); err != nil {
		return 0, err
	}
	after, err := CPUTime(pid)
	if err != nil {
		return 0, err
	}
	return after - before, nil
}
