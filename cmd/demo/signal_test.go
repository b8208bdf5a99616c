package main

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// TestSecondInterruptEndsAHangingShutdown: after the first Ctrl-C the demo
// shuts down in order; should that hang, a second Ctrl-C ends the process
// at once. The test runs itself as a child that takes the first signal and
// then never finishes, and interrupts it twice.
func TestSecondInterruptEndsAHangingShutdown(t *testing.T) {
	if os.Getenv("DEMO_SIGNAL_CHILD") == "1" {
		ctx, _ := interruptContext()
		os.Stdout.WriteString("ready\n")
		<-ctx.Done()
		os.Stdout.WriteString("stopping\n")
		select {} // a shutdown that hangs
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestSecondInterruptEndsAHangingShutdown$")
	cmd.Env = append(os.Environ(), "DEMO_SIGNAL_CHILD=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	readLine := func(want string) {
		t.Helper()
		buf := make([]byte, 0, 64)
		b := make([]byte, 1)
		for {
			if _, err := out.Read(b); err != nil {
				t.Fatalf("child output ended before %q: %v (read %q)", want, err, buf)
			}
			if b[0] == '\n' {
				break
			}
			buf = append(buf, b[0])
		}
		if string(buf) != want {
			t.Fatalf("child said %q, want %q", buf, want)
		}
	}
	readLine("ready")
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	readLine("stopping")
	// The first signal's handling has ended the context; give the
	// goroutine that restores the default a moment, then interrupt again.
	time.Sleep(200 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Fatalf("child ended with %v, want death by SIGINT", err)
		}
		if ws, ok := exit.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGINT {
			t.Fatalf("child ended with %v, want death by SIGINT", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a second SIGINT did not end the hanging shutdown within 5 s")
	}
}
