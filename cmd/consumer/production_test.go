//go:build !faultinject

package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestProductionBuildHasNoFaultInjection: the self-kill switch of the crash
// tests is compiled only with the faultinject tag; `go build
// ./cmd/consumer` must not contain it.
func TestProductionBuildHasNoFaultInjection(t *testing.T) {
	if faultHook != nil {
		t.Fatal("faultHook is set in a build without the faultinject tag")
	}
	out, err := exec.Command("go", "list", "-f", "{{.GoFiles}}", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "faultinject") {
		t.Fatalf("the production build compiles %s", out)
	}
}
