package daemon

import (
	"fmt"
	"strings"
	"testing"
)

// TestReloadRefusesCollisions reloads a running algd with a file whose new
// listener's control-1 is the running listener's port: the reload is
// refused and counted, and the running listener goes on serving.
func TestReloadRefusesCollisions(t *testing.T) {
	f := newFarm(t, 256<<10, "127.0.0.31")
	rs := []string{f.servers[0].Addr().String()}
	port := freePort(t, "127.0.0.1")
	l1 := fmt.Sprintf("127.0.0.1:%d", port)
	d := startDaemon(t, reloadConfig(rs, []int{1}, false, l1, ""))

	st := d.reload(reloadConfig(rs, []int{1}, true, l1, fmt.Sprintf("127.0.0.1:%d", port+1)))
	if st.Reloads.Failed != 1 || st.Reloads.OK != 0 {
		t.Fatalf("reloads %+v, want one refused", st.Reloads)
	}
	want := fmt.Sprintf(`ftp[1].active_source_port: "control-1" takes port %d on 127.0.0.1`, port)
	if !strings.Contains(st.Reloads.LastError, want) || !strings.Contains(st.Reloads.LastError, "(ftp[0].listen[0]: ") {
		t.Errorf("last reload error %q lacks %q and the other line", st.Reloads.LastError, want)
	}
	if err := download(l1, f.file, f.sum, 0, nil); err != nil {
		t.Errorf("the running listener after the refused reload: %v", err)
	}
}
