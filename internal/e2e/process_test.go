package e2e

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/localredis"
	"github.com/ltv-stream/ltv-stream/internal/settings"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
)

// binaries are the programs the tests run as child processes, built once
// per test run into dir (removed by TestMain).
var binaries struct {
	once             sync.Once
	dir              string
	consumer, ltvctl string
	err              error
}

// TestMain builds the binaries before any test starts its clock (unless
// -short, which skips every test that runs them) and removes them after
// the run. Built lazily, a build counted against the budget of whichever
// test came first, and on a busy machine it once took most of one. The
// tests share the one build, so no single test's cleanup may remove it,
// and each run would otherwise leave a directory in the system's
// temporary folder.
//
// The package's longest tests (crashes, outages, Redis Cluster runs, over
// ten seconds each) call t.Parallel: each owns its broker, redis-server
// and consumers on free ports, and they spend most of their time waiting
// (a restart, a group join, an outage held), so two at a time (go test's
// -parallel, GOMAXPROCS by default) keep the package within CI's time.
// Tests that time the service (latency, "applied within seconds") stay
// sequential: they run before the parallel ones, alone.
func TestMain(m *testing.M) {
	flag.Parse()
	if !testing.Short() {
		if buildBinaries(); binaries.err != nil {
			fmt.Fprintln(os.Stderr, binaries.err)
			os.Exit(1)
		}
	}
	code := m.Run()
	if binaries.dir != "" {
		_ = os.RemoveAll(binaries.dir)
	}
	os.Exit(code)
}

// consumerBinary is cmd/consumer, built with the faultinject tag.
func consumerBinary(t *testing.T) string {
	t.Helper()
	mustBuild(t)
	return binaries.consumer
}

// ltvctlBinary is cmd/ltvctl.
func ltvctlBinary(t *testing.T) string {
	t.Helper()
	mustBuild(t)
	return binaries.ltvctl
}

// mustBuild builds the binaries (once) and fails the test if that failed.
func mustBuild(t *testing.T) {
	t.Helper()
	if buildBinaries(); binaries.err != nil {
		t.Fatal(binaries.err)
	}
}

// buildBinaries builds both binaries once, setting binaries' paths or its
// error.
func buildBinaries() {
	binaries.once.Do(func() {
		dir, err := os.MkdirTemp("", "ltv-e2e-bin")
		if err != nil {
			binaries.err = fmt.Errorf("test binaries: %w", err)
			return
		}
		binaries.dir = dir
		// The faultinject tag adds the crash tests' LTV_FAULT_INJECT switch,
		// which a production build does not have.
		if binaries.consumer, err = testutil.GoBuild(dir, "github.com/ltv-stream/ltv-stream/cmd/consumer", "faultinject"); err != nil {
			binaries.err = err
			return
		}
		binaries.ltvctl, binaries.err = testutil.GoBuild(dir, "github.com/ltv-stream/ltv-stream/cmd/ltvctl")
	})
}

// proc is a consumer binary running as a child process.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	httpURL string
	exited  chan struct{}
	exitErr error
}

// startProc starts the consumer binary with the given environment (on top
// of a clean one) and waits until its HTTP server listens.
func startProc(t *testing.T, name string, env map[string]string) *proc {
	t.Helper()
	return startProcWith(t, name, env, false)
}

// startCrashingProc is startProc for a consumer whose injected faults
// (LTV_FAULT_INJECT) may kill it before it listens: with records waiting,
// its first batch can be written, and the process killed, before the HTTP
// server answers. Such an exit is returned (p.exited is closed), not a
// test failure.
func startCrashingProc(t *testing.T, name string, env map[string]string) *proc {
	t.Helper()
	return startProcWith(t, name, env, true)
}

func startProcWith(t *testing.T, name string, env map[string]string, mayExit bool) *proc {
	t.Helper()
	bin := consumerBinary(t)
	port := testutil.FreePort(t)
	p := &proc{name: name, logPath: filepath.Join(t.TempDir(), name+".log"), httpURL: fmt.Sprintf("http://127.0.0.1:%d", port), exited: make(chan struct{})}
	logFile, err := os.Create(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin)
	p.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), fmt.Sprintf("LTV_HTTP_ADDR=127.0.0.1:%d", port)}
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	localredis.TieToParent(p.cmd)
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.exitErr = p.cmd.Wait()
		_ = logFile.Close()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.kill()
		if log, err := os.ReadFile(p.logPath); err == nil {
			checkNoRace(t, name, string(log))
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(p.httpURL + "/healthz")
		if err == nil {
			_ = resp.Body.Close()
			return p
		}
		select {
		case <-p.exited:
			if mayExit {
				return p
			}
			t.Fatalf("%s exited at start: %v\n%s", name, p.exitErr, p.logTail())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not listen: %v", name, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill sends SIGKILL (a crash at an arbitrary point) and waits.
func (p *proc) kill() {
	if p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// terminate sends SIGTERM and returns the exit error after at most d.
func (p *proc) terminate(d time.Duration) (exitCode int, err error) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		if p.cmd.ProcessState == nil {
			return -1, p.exitErr
		}
		return p.cmd.ProcessState.ExitCode(), nil
	case <-time.After(d):
		return -1, fmt.Errorf("%s did not exit within %s", p.name, d)
	}
}

func (p *proc) signal(s syscall.Signal) { _ = p.cmd.Process.Signal(s) }

// ready queries /readyz.
func (p *proc) ready() bool {
	resp, err := http.Get(p.httpURL + "/readyz")
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func (p *proc) logTail() string {
	f, err := os.Open(p.logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > 30 {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// checkNoRace fails the test if a child's log holds a race detector report
// (the binary is built with -race when the test is: testutil.RaceEnabled).
// A child killed with SIGKILL cannot exit 66, so its log is what tells.
func checkNoRace(t *testing.T, name, log string) {
	t.Helper()
	if i := strings.Index(log, "WARNING: DATA RACE"); i >= 0 {
		t.Errorf("%s: the race detector reported:\n%s", name, log[i:min(len(log), i+64<<10)])
	}
}

func waitFor(ctx context.Context, what string, cond func() bool) error {
	for !cond() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out waiting for %s", what)
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// fatalWithLogs fails the test with err, then logs every process's log
// tail and stops the test. The error comes first: a CI summary that keeps
// only the start and the end of a long failure still shows why.
func fatalWithLogs(t *testing.T, procs []*proc, err error) {
	t.Helper()
	t.Error(err)
	for _, pr := range procs {
		t.Logf("%s log tail:\n%s", pr.name, pr.logTail())
	}
	t.FailNow()
}

// terminateAll stops every process with SIGTERM and fails the test for
// any that does not exit 0 within 20 s, as SPEC §6 asks.
func terminateAll(t *testing.T, procs []*proc) {
	t.Helper()
	for _, pr := range procs {
		if code, err := pr.terminate(20 * time.Second); err != nil || code != 0 {
			t.Errorf("%s: exit %d, %v\n%s", pr.name, code, err, pr.logTail())
		}
	}
}

// inputLag is the default group's lag over both input topics; an error
// fails the test.
func inputLag(t *testing.T, ctx context.Context, brokers []string) int64 {
	t.Helper()
	n, err := testutil.Lag(ctx, brokers, settings.DefaultGroupID, settings.DefaultOrdersTopic, settings.DefaultLifecycleTopic)
	if err != nil {
		t.Fatalf("lag: %v", err)
	}
	return n
}
