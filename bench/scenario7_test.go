//go:build bench

package bench

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/algd/algd/bench/ftpload"
	"github.com/algd/algd/tests/algdrun"
)

// scenario7: a burst of logins (-logins, -logins-c in flight) held idle,
// through each contender to the one vsftpd; vsftpd greets slowly under such a burst (a process per
// session), and a slow realserver must not be taken for a dead one: the
// count of failed logins is the figure, to be 0 where direct has 0.
func (e *env) scenario7(t *testing.T) {
	n := strconv.Itoa(*flagLogins)
	for range *flagRounds {
		for _, c := range e.contenders {
			if !slices.Contains([]string{"direct", "algd", "haproxy"}, c.name) {
				continue
			}
			var r ftpload.LoginResult
			e.ftploadJSON(t, c, &r, "logins", "-addr", c.addr.String(), "-n", n, "-c", strconv.Itoa(*flagLoginsC))
			if r.Failed+r.Dead > 0 {
				t.Logf("s7 %s: %d failed logins, %d dead sessions, first: %s", c.name, r.Failed, r.Dead, r.FirstError)
			}
			e.results.add("7", "failed logins", c.name, float64(r.Failed))
			e.results.add("7", "dead sessions (no NOOP reply)", c.name, float64(r.Dead))
			e.results.add("7", "logins/s", c.name, r.PerSecond)
			e.results.add("7", "slowest login s", c.name, r.SlowestSeconds)
			if c.proxy != nil {
				c.proxy.Alive(t)
			}
			if c.name == "algd" {
				t.Logf("s7 algd log so far: %s", logCounts(c.proxy, "realserver down", "realserver up",
					"realserver connect failed", "realserver greeting failed", "no realserver", "realserver check failed"))
			}
			t.Logf("s7 %s: %d ok, %d failed, %.0f logins/s, slowest %.1f s", c.name, r.OK, r.Failed, r.PerSecond, r.SlowestSeconds)
		}
	}
}

// logCounts counts the lines of p's whole log that contain each of msgs.
func logCounts(p *algdrun.Proc, msgs ...string) string {
	log := p.Log()
	var out []string
	for _, m := range msgs {
		out = append(out, fmt.Sprintf("%q ×%d", m, strings.Count(log, m)))
	}
	return strings.Join(out, ", ")
}
