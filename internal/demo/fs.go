package demo

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	ftpserver "github.com/fclairamb/ftpserverlib"
	"github.com/spf13/afero"
)

// fs is the file system every logged-in client gets: the served root, with
// the files ftpserverlib opens for RETR, STOR and APPE counted.
//
// ftpserverlib opens transfer files through OpenFile only (listings use
// Open, SIZE uses Stat); it reports a failed transfer through
// FileTransferError before closing the file, and closes the file before it
// sends the 226, so a transfer counted here is complete on disk by the time
// the client reads its 226.
type fs struct {
	afero.Fs
	t         *tracker
	transfers *atomic.Uint64
}

// OpenFile opens name for a transfer; the returned file counts one
// completed transfer when it is closed without a reported error.
func (f *fs) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	if !f.t.enter() {
		return nil, fmt.Errorf("open %q: %w", name, errClosed)
	}
	file, err := f.Fs.OpenFile(name, flag, perm)
	if err != nil {
		f.t.leave()
		return nil, err // ftpserverlib maps os errors to reply codes
	}
	return &transferFile{File: file, fs: f}, nil
}

// transferFile is one file opened for a transfer.
type transferFile struct {
	afero.File
	fs     *fs
	failed atomic.Bool
	once   sync.Once
}

var _ ftpserver.FileTransferError = (*transferFile)(nil)

// TransferError records that the transfer using this file failed, so that
// Close does not count it.
func (t *transferFile) TransferError(error) { t.failed.Store(true) }

// Close closes the file and counts the transfer when it succeeded.
func (t *transferFile) Close() error {
	err := t.File.Close()
	t.once.Do(func() {
		if err == nil && !t.failed.Load() {
			t.fs.transfers.Add(1)
		}
		t.fs.t.leave()
	})
	return err
}
