package daemon

import (
	"cmp"
	"fmt"
	"log/slog"
	"sync"

	"github.com/algd/algd/alg"
	"github.com/algd/algd/conf"
)

// kernelTable is the kernel data path as the daemon holds it: the
// mappings' interface, and the table's end.
type kernelTable interface {
	alg.Kernel
	// Close stops following conntrack; with remove it deletes the table
	// (and every mapping in it).
	Close(remove bool) error
}

// kernelRun is the daemon's kernel data path ([kernel], data_path): the
// table is opened when the first configuration (at start or on reload)
// has a listener that takes the kernel path, and kept across reloads
// until the daemon ends.
type kernelRun struct {
	log   *slog.Logger
	fake  alg.Kernel // Options.Kernel: the tests' seam; no table then
	adopt bool       // a takeover: the running algd's table is taken as it is

	mu       sync.Mutex
	probed   bool
	noKernel string // why the kernel path is unavailable here; "" when it is
	noAuto   string // why "auto" declines it here (forwarding off); "" when it does not
	table    kernelTable
	name     string // the table's name, as opened
	handed   bool   // handed over to a new algd: the table stays
}

// newKernelRun makes the daemon's kernel path; nothing is opened yet.
func newKernelRun(o Options, log *slog.Logger) *kernelRun {
	k := &kernelRun{log: log.With("component", "kernel"), fake: o.Kernel, adopt: o.inherit != nil}
	if o.KernelOff != "" {
		k.probed, k.noKernel = true, o.KernelOff
	}
	return k
}

// ProbeKernel says why the kernel data path with the table of cfg cannot
// be used on this host, or "" when it can: for `algd check`.
func ProbeKernel(cfg *conf.Config) string {
	if _, err := probeNAT(cfg.Kernel.NFTTable); err != nil {
		return err.Error()
	}
	return ""
}

// prepare makes the kernel path ready for cfg before anything of cfg is
// applied: it probes the host once, fails when a listener asks for
// data_path "kernel" where it is unavailable, and opens the table when a
// listener takes the kernel path. d.mu is held.
func (k *kernelRun) prepare(cfg *conf.Config) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.fake != nil || !cfg.WantsKernel() {
		return nil
	}
	if !k.probed {
		k.probed = true
		var err error
		if k.noAuto, err = probeNAT(cfg.Kernel.NFTTable); err != nil {
			k.noKernel = err.Error()
		}
	}
	want := false
	for _, mode := range dataPathModes(cfg) {
		path, _, err := conf.DataPath(mode, k.noKernel, k.noAuto)
		if err != nil {
			return err
		}
		want = want || path == conf.DataPathKernel
	}
	switch {
	case !want:
		k.log.Info("kernel data path not used: data connections take the proxy path", "why", cmp.Or(k.noKernel, k.noAuto))
	case k.table == nil:
		t, err := openNAT(cfg.Kernel.NFTTable, k.adopt, k.log)
		if err != nil {
			return fmt.Errorf("kernel data path: %w", err)
		}
		k.table, k.name = t, cfg.Kernel.NFTTable
		k.log.Info("kernel data path: table open", "table", k.name, "adopted", k.adopt)
	case cfg.Kernel.NFTTable != k.name:
		k.log.Warn("[kernel] nft_table changed: the running table stays until a restart", "table", k.name)
	}
	return nil
}

// dataPathModes lists the data_path of every listener of cfg.
func dataPathModes(cfg *conf.Config) []string {
	var out []string
	for _, f := range cfg.FTP {
		out = append(out, f.DataPath)
	}
	for _, r := range cfg.RTSP {
		out = append(out, r.DataPath)
	}
	return out
}

// forListener returns the kernel path of a listener whose data_path is
// mode, or nil for the proxy path.
func (k *kernelRun) forListener(mode string) alg.Kernel {
	k.mu.Lock()
	defer k.mu.Unlock()
	if mode == conf.DataPathProxy {
		return nil
	}
	if k.fake != nil {
		return k.fake
	}
	if path, _, err := conf.DataPath(mode, k.noKernel, k.noAuto); err != nil || path != conf.DataPathKernel || k.table == nil {
		return nil
	}
	return k.table
}

// handOver keeps the table at exit: the algd that took over adopted it,
// and the transfers of both run through it.
func (k *kernelRun) handOver() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.handed = true
}

// close ends the kernel path once no session is left: the table is
// deleted with cleanup (unless handed over).
func (k *kernelRun) close(cleanup bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.table == nil {
		return
	}
	remove := cleanup && !k.handed
	if err := k.table.Close(remove); err != nil {
		k.log.Error("kernel data path: closing the table", "table", k.name, "err", err)
		return
	}
	k.log.Info("kernel data path closed", "table", k.name, "removed", remove)
	k.table = nil
}
