//go:build !linux

package nat

import (
	"context"

	"github.com/algd/algd/alg"
)

// Table is the kernel data path; it exists on Linux only.
type Table struct{}

// Open returns ErrUnsupported: the kernel path needs Linux.
func Open(ctx context.Context, opts Options) (*Table, error) { return nil, ErrUnsupported }

// Map returns ErrUnsupported.
func (t *Table) Map(m alg.Mapping) (alg.Mapped, error) { return nil, ErrUnsupported }

// Close does nothing.
func (t *Table) Close(remove bool) error { return nil }

// Probe reports that the kernel path needs Linux.
func Probe(opts Options) Report {
	return Report{Missing: []string{ErrUnsupported.Error()}}
}

var _ alg.Kernel = (*Table)(nil)
