package localredis_test

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/localredis"
)

// parentEnv marks the re-executed test binary that plays the parent.
const parentEnv = "LOCALREDIS_TEST_PARENT_DIR"

// TestMain lets the test binary, re-executed with parentEnv, start a
// redis-server, print its pid and wait to be killed.
func TestMain(m *testing.M) {
	if dir := os.Getenv(parentEnv); dir != "" {
		s, err := localredis.New(dir)
		if err == nil {
			err = s.Start(context.Background())
		}
		if err != nil {
			os.Stdout.WriteString("error " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Stdout.WriteString(strconv.Itoa(s.Pid()) + "\n")
		select {}
	}
	os.Exit(m.Run())
}

// A parent killed with SIGKILL (as go test's -timeout or an operator's
// kill -9 does) runs no cleanup; its redis-server must not outlive it,
// holding a port and memory on a developer's machine.
func TestServerDiesWithItsParent(t *testing.T) {
	if _, err := localredis.Binary(); err != nil {
		t.Fatal(err)
	}
	parent := exec.Command(os.Args[0], "-test.run=^$")
	parent.Env = append(os.Environ(), parentEnv+"="+t.TempDir())
	out, err := parent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	pid, perr := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || perr != nil || pid <= 0 {
		_ = parent.Process.Kill()
		t.Fatalf("parent said %q (%v)", line, err)
	}
	if !running(pid) {
		t.Fatalf("redis-server %d is not running while its parent lives", pid)
	}
	_ = parent.Process.Signal(syscall.SIGKILL)
	_ = parent.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for running(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("redis-server %d outlived its killed parent", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// running says whether pid is a live process: gone, or a zombie waiting
// for a reaper that may never come (a container's init), is not.
func running(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if errors.Is(err, os.ErrNotExist) {
		return false
	}
	if err != nil {
		return true
	}
	// pid (comm) state ...: the state follows the last ')'.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}
