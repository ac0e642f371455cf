//go:build bench

package bench

import (
	"fmt"
	"slices"
	"strings"

	"github.com/algd/algd/bench/stats"
)

// results holds every measurement: scenario → metric → contender.
type results struct {
	order map[string][]string // scenario → metrics in first-seen order
	cons  map[string][]string // scenario → contenders in first-seen order
	data  map[string]stats.Sample
}

func newResults() *results {
	return &results{order: map[string][]string{}, cons: map[string][]string{}, data: map[string]stats.Sample{}}
}

func key(s, m, c string) string { return s + "\x00" + m + "\x00" + c }

func (r *results) add(s, m, c string, v float64) {
	if !slices.Contains(r.order[s], m) {
		r.order[s] = append(r.order[s], m)
	}
	if !slices.Contains(r.cons[s], c) {
		r.cons[s] = append(r.cons[s], c)
	}
	r.data[key(s, m, c)] = append(r.data[key(s, m, c)], v)
}

func (r *results) get(s, m, c string) stats.Sample { return r.data[key(s, m, c)] }

var titles = map[string]string{
	"1": "Scenario 1: one large passive download and upload (curl, PASV)",
	"2": "Scenario 2: short sessions, 50 concurrent clients (connect, banner, login, PASV, RETR 1 KiB, QUIT)",
	"3": "Scenario 3: idle logged-in control sessions (ftpserverlib backend)",
	"4": "Scenario 4: concurrent 1 MiB downloads, each checked by SHA-256",
	"7": "Scenario 7: a burst of logins held idle, to one vsftpd (failed logins: 0 where direct has 0)",
	"5": "Scenario 5: RTSP media relay, 1200-byte RTP datagrams offered above what the relays move (paced, -rtp-rate), relay pinned to core 1, load on core 0",
}

// markdown renders every scenario's table, then the targets.
func (r *results) markdown(e *env) string {
	var b strings.Builder
	for _, s := range []string{"1", "2", "3", "4", "7", "5"} {
		if len(r.order[s]) == 0 {
			continue
		}
		refName := "direct; routed for nft"
		if s == "5" {
			refName = "naive"
		}
		fmt.Fprintf(&b, "### %s\n\nmedian (min–max) over %d rounds; ratio = median / median of the reference (%s)\n\n", titles[s], *flagRounds, refName)
		b.WriteString("| metric |")
		for _, c := range r.cons[s] {
			fmt.Fprintf(&b, " %s |", c)
		}
		b.WriteString("\n|---|")
		b.WriteString(strings.Repeat("---|", len(r.cons[s])))
		b.WriteString("\n")
		for _, m := range r.order[s] {
			fmt.Fprintf(&b, "| %s |", m)
			for _, c := range r.cons[s] {
				fmt.Fprintf(&b, " %s |", r.get(s, m, c).Format(verb(m)))
			}
			b.WriteString("\n")
			if strings.HasSuffix(m, "MiB/s") || m == "sessions/s" || strings.HasSuffix(m, "pkt/s") {
				fmt.Fprintf(&b, "| ↳ ratio |")
				for _, c := range r.cons[s] {
					rc := ref(c)
					if s == "5" {
						rc = "naive"
					}
					if x := stats.Ratio(r.get(s, m, c), r.get(s, m, rc)); x > 0 {
						fmt.Fprintf(&b, " %.2f |", x)
					} else {
						b.WriteString(" – |")
					}
				}
				b.WriteString("\n")
			}
		}
		b.WriteString("\n")
	}
	if e.nftErr != nil {
		fmt.Fprintf(&b, "nftables contender skipped: %v\n\n", e.nftErr)
	}
	b.WriteString(r.targets())
	return b.String()
}

func verb(metric string) string {
	switch {
	case strings.Contains(metric, "CPU"), strings.Contains(metric, "RSS"):
		return "%.2f"
	case strings.Contains(metric, "kpkt/s"):
		return "%.1f"
	}
	return "%.0f"
}

// targets renders the targets with the figures of this run.
func (r *results) targets() string {
	var b strings.Builder
	b.WriteString("### Targets\n\n| target | figure | met |\n|---|---|---|\n")
	line := func(name string, fig float64, ok bool, format string) {
		if fig == 0 && !ok {
			return
		}
		met := "no"
		if ok {
			met = "yes"
		}
		fmt.Fprintf(&b, "| %s | "+format+" | %s |\n", name, fig, met)
	}
	for _, dir := range []string{"download", "upload"} {
		m := dir + " MiB/s"
		if r.get("1", m, "algd") == nil {
			continue
		}
		x := stats.Ratio(r.get("1", m, "algd"), r.get("1", m, "direct"))
		line("1 "+dir+": algd ≥ 0.90 × direct", x, x >= 0.90, "%.2f")
		if r.get("1", m, "haproxy-splice") != nil {
			y := stats.Ratio(r.get("1", m, "algd"), r.get("1", m, "haproxy-splice"))
			line("1 "+dir+": algd ≥ 1.00 × haproxy-splice", y, y >= 1, "%.2f")
			cm := dir + " proxy CPU s/GiB"
			a, h := r.get("1", cm, "algd").Median(), r.get("1", cm, "haproxy-splice").Median()
			line(fmt.Sprintf("1 %s: algd CPU s/GiB ≤ haproxy-splice's (%.2f)", dir, h), a, a <= h, "%.2f")
		}
	}
	if r.get("2", "sessions/s", "algd") != nil {
		x := stats.Ratio(r.get("2", "sessions/s", "algd"), r.get("2", "sessions/s", "direct"))
		line("2: algd sessions/s ≥ 0.85 × direct", x, x >= 0.85, "%.2f")
	}
	for _, f := range []struct{ s, m, name string }{
		{"2", "failed", "2: algd failed short sessions (total over rounds) where direct has none"},
		{"7", "failed logins", "7: algd failed logins (total over rounds) where direct has none"},
	} {
		if a, d := r.get(f.s, f.m, "algd"), r.get(f.s, f.m, "direct"); a != nil && d != nil && sum(d) == 0 {
			line(f.name, sum(a), sum(a) == 0, "%.0f")
		}
	}
	if s := r.get("3", "bytes/session (slope)", "algd"); s != nil {
		line("3: algd ≤ 16 KiB per idle session (bytes)", s.Median(), s.Median() <= 16384, "%.0f")
	}
	if s := r.get("4", "failed+corrupt", "algd"); s != nil {
		line("4: algd zero failed or corrupt transfers (total over rounds)", sum(s), sum(s) == 0, "%.0f")
	}
	for _, n := range []string{"1", "4"} {
		m := n + " streams: kpkt/s"
		if r.get("5", m, "algd") != nil {
			x := stats.Ratio(r.get("5", m, "algd"), r.get("5", m, "naive"))
			line("5 "+n+" streams: algd pkt/s ≥ 2 × naive relay", x, x >= 2, "%.2f")
		}
	}
	return b.String()
}

// sum adds up a sample.
func sum(s stats.Sample) float64 {
	var t float64
	for _, v := range s {
		t += v
	}
	return t
}
