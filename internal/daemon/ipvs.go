package daemon

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/algd/algd/conf"
	"github.com/algd/algd/pool/ipvs"
)

// ipvsRun is the daemon's IPVS side: the Runner that keeps the kernel in
// step with the groups. nil when the configuration has no group.
type ipvsRun struct {
	runner *ipvs.Runner
	stop   context.CancelFunc // ends Run; set by start
}

// newIPVSRun connects to the kernel when cfg has groups. A kernel without
// IPVS (or nftables) is an error: algd must not pretend to serve groups.
func newIPVSRun(cfg *conf.Config, log *slog.Logger) (*ipvsRun, error) {
	if len(cfg.Groups) == 0 {
		return nil, nil
	}
	k, err := ipvs.NewIPVS()
	if err != nil {
		return nil, fmt.Errorf("[[group]] needs kernel IPVS: %w", err)
	}
	fw, err := ipvs.NewFirewall(0)
	if err != nil {
		return nil, fmt.Errorf("[[group]] needs nftables: %w", err)
	}
	l := log.With("component", "ipvs")
	return &ipvsRun{runner: &ipvs.Runner{
		Reconciler: &ipvs.Reconciler{IPVS: k, Firewall: fw, Logger: l},
		Logger:     l,
	}}, nil
}

// start runs the reconciler until ctx is done; spawn is the daemon's
// WaitGroup.Go, so that shutdown waits for the cleanup.
func (r *ipvsRun) start(ctx context.Context, cfg *conf.Config, spawn func(func()), log *slog.Logger) {
	if r == nil {
		return
	}
	ctx, r.stop = context.WithCancel(ctx)
	spawn(func() {
		if err := r.runner.Run(ctx, cfg); err != nil {
			log.Error("ipvs cleanup on exit failed", "err", err)
		}
	})
}

// handOver stops reconciling at once and leaves the kernel state to the
// algd that took over (no cleanup, whatever cleanup_on_exit says).
func (r *ipvsRun) handOver() {
	if r == nil {
		return
	}
	r.runner.Keep()
	r.stop()
}

// reload hands a reloaded configuration to the reconciler. Groups added
// to a configuration that started without any need a restart.
func (r *ipvsRun) reload(cfg *conf.Config, log *slog.Logger) {
	if r == nil {
		if len(cfg.Groups) > 0 {
			log.Warn("[[group]]s added by a reload are not programmed: restart algd")
		}
		return
	}
	r.runner.Reload(cfg)
}
