package algdrun

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Signal sends sig to algd itself (not its group).
func (p *Proc) Signal(sig syscall.Signal) error {
	if err := syscall.Kill(p.cmd.Process.Pid, sig); err != nil {
		return fmt.Errorf("signal algd: %w", err)
	}
	return nil
}

// Exited reports whether algd has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// OpenFDs counts algd's open file descriptors in /proc/PID/fd.
func (p *Proc) OpenFDs() (int, error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("algd fds: %w", err)
	}
	return len(ents), nil
}

// Metrics is one scrape of algd's /metrics: each sample line's name with
// its labels as written ({...} included), to its value.
type Metrics map[string]float64

// Sum adds every sample whose name is name, whatever its labels, among
// those whose label text contains each of match (for example
// `reason="theft"`).
func (m Metrics) Sum(name string, match ...string) float64 {
	var sum float64
next:
	for k, v := range m {
		base, labels, _ := strings.Cut(k, "{")
		if base != name {
			continue
		}
		for _, s := range match {
			if !strings.Contains(labels, s) {
				continue next
			}
		}
		sum += v
	}
	return sum
}

// Scrape reads http://admin/metrics (Prometheus text format).
func Scrape(ctx context.Context, admin netip.AddrPort) (Metrics, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+admin.String()+"/metrics", nil)
	if err != nil {
		return nil, fmt.Errorf("scrape: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("scrape: %s: %q", resp.Status, b)
	}
	m := Metrics{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("scrape: %w", err)
	}
	return m, nil
}
