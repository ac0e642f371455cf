//go:build interop

package daemon

import (
	"os/exec"
	"strings"
	"testing"
)

// TestPromtoolCheckMetrics feeds a live /metrics (sessions, transfers, a
// realserver down: every family has samples) to `promtool check metrics`
// (Debian package prometheus), which must find nothing to say. Without
// promtool the test fails: CI installs it.
func TestPromtoolCheckMetrics(t *testing.T) {
	bin, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool not installed (apt-get install prometheus): %v", err)
	}
	text := metricsRun(t)
	cmd := exec.Command(bin, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	out, err := cmd.CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}
