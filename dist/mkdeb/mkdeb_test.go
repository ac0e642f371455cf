package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// TestPackage builds the package into a temporary directory as CI does and
// reads it back with its own ar and tar readers: the members, the control
// fields, the conffiles, the maintainer scripts, every file with its mode
// and owner, the md5sums of every file, the man pages' gzip headers; then
// it runs the packaged binary: `algd version` prints the package version,
// and `algd check` accepts the packaged /etc/algd/algd.toml.
func TestPackage(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	path, err := build(options{root: root, out: out, arch: runtime.GOARCH, maintainer: "Test <test@example.org>"})
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Base(path)
	if !strings.HasPrefix(name, "algd_0.0~") || !strings.HasSuffix(name, "_"+runtime.GOARCH+".deb") {
		t.Fatalf("package file %s, want algd_0.0~..._%s.deb", name, runtime.GOARCH)
	}
	version := strings.TrimSuffix(strings.TrimPrefix(name, "algd_"), "_"+runtime.GOARCH+".deb")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	members, err := readAr(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(members.names, " "); got != "debian-binary control.tar.gz data.tar.gz" {
		t.Fatalf("ar members %q, want debian-binary control.tar.gz data.tar.gz", got)
	}
	if string(members.data["debian-binary"]) != "2.0\n" {
		t.Errorf("debian-binary = %q", members.data["debian-binary"])
	}

	control := readTarGz(t, members.data["control.tar.gz"])
	fields := map[string]string{}
	for _, l := range strings.Split(string(control["control"].data), "\n") {
		if k, v, ok := strings.Cut(l, ": "); ok && !strings.HasPrefix(l, " ") {
			fields[k] = v
		}
	}
	for k, want := range map[string]string{"Package": "algd", "Version": version, "Architecture": runtime.GOARCH,
		"Section": "net", "Priority": "optional", "Maintainer": "Test <test@example.org>", "Depends": "",
		"Description": "FTP and RTSP application-layer gateway for load-balancer VIPs"} {
		if fields[k] != want {
			t.Errorf("control field %s = %q, want %q", k, fields[k], want)
		}
	}
	if got := string(control["conffiles"].data); got != "/etc/algd/algd.toml\n" {
		t.Errorf("conffiles = %q, want only /etc/algd/algd.toml", got)
	}
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		f, ok := control[s]
		if !ok || f.mode != 0o755 || !bytes.HasPrefix(f.data, []byte("#!/bin/sh\n")) {
			t.Errorf("maintainer script %s: present %v, mode %o; want a 0755 /bin/sh script", s, ok, f.mode)
		}
	}

	data := readTarGz(t, members.data["data.tar.gz"])
	want := map[string]int64{
		"usr/bin/algd":                               0o755,
		"etc/algd/algd.toml":                         0o644,
		"usr/lib/systemd/system/algd.service":        0o644,
		"usr/share/bash-completion/completions/algd": 0o644,
		"usr/share/man/man8/algd.8.gz":               0o644,
		"usr/share/man/man5/algd.toml.5.gz":          0o644,
		"usr/share/doc/algd/copyright":               0o644,
		"usr/share/doc/algd/changelog.gz":            0o644,
		"usr/share/lintian/overrides/algd":           0o644,
		"usr/share/doc/algd/docs/configuration.md":   0o644,
	}
	for p, mode := range want {
		f, ok := data[p]
		switch {
		case !ok:
			t.Errorf("the package lacks /%s", p)
		case f.mode != mode || f.owner != "root/root" || len(f.data) == 0:
			t.Errorf("/%s: mode %o owner %s size %d; want mode %o, root/root, not empty", p, f.mode, f.owner, len(f.data), mode)
		}
	}
	if o := data["usr/share/lintian/overrides/algd"].data; !bytes.Contains(o, []byte("[usr/bin/algd]\n")) {
		t.Errorf("the lintian override does not name the packaged binary usr/bin/algd:\n%s", o)
	}
	sums := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(control["md5sums"].data)), "\n") {
		sum, p, _ := strings.Cut(l, "  ")
		sums[p] = sum
	}
	for p, f := range data {
		if f.dir {
			continue
		}
		h := md5.Sum(f.data)
		if sums[p] != hex.EncodeToString(h[:]) {
			t.Errorf("md5sums: /%s has %q, the file's md5 is %x", p, sums[p], h)
		}
	}
	for _, p := range []string{"usr/share/man/man8/algd.8.gz", "usr/share/man/man5/algd.toml.5.gz"} {
		zr, err := gzip.NewReader(bytes.NewReader(data[p].data))
		if err != nil {
			t.Fatalf("/%s: %v", p, err)
		}
		page, err := io.ReadAll(zr)
		if err != nil || !zr.ModTime.IsZero() || zr.Name != "" {
			t.Errorf("/%s: err %v, gzip time %v name %q; want no time and no name", p, err, zr.ModTime, zr.Name)
		}
		if !bytes.Contains(page, []byte("\n.TH ")) || !bytes.Contains(page, []byte("\n.SH DESCRIPTION\n")) {
			t.Errorf("/%s is not a man page:\n%.300s", p, page)
		}
	}

	// Run what was packaged.
	dir := t.TempDir()
	for _, p := range []string{"usr/bin/algd", "etc/algd/algd.toml"} {
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(p)), data[p].data, os.FileMode(data[p].mode)); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "algd")
	got, err := exec.Command(bin, "version").Output()
	if err != nil || !strings.HasPrefix(string(got), "algd "+version+" (") {
		t.Errorf("packaged algd version: %q, %v; want it to start with %q", got, err, "algd "+version+" (")
	}
	got, err = exec.Command(bin, "check", "-c", filepath.Join(dir, "algd.toml")).CombinedOutput()
	if err != nil || !strings.Contains(string(got), "listen 127.0.0.1:2121") {
		t.Errorf("packaged algd check on the packaged algd.toml: %v\n%s", err, got)
	}
}

// arMembers are the members of an ar archive in order.
type arMembers struct {
	names []string
	data  map[string][]byte
}

// readAr reads a common-format ar archive (the outer layer of a .deb):
// the magic, then per member a 60-byte header (name 16, mtime 12, uid 6,
// gid 6, mode 8, size 10, "`\n") and the data, padded to an even length.
func readAr(b []byte) (arMembers, error) {
	m := arMembers{data: map[string][]byte{}}
	const magic = "!<arch>\n"
	if !bytes.HasPrefix(b, []byte(magic)) {
		return m, errors.New("ar: no magic")
	}
	b = b[len(magic):]
	for len(b) > 0 {
		if len(b) < 60 || string(b[58:60]) != "`\n" {
			return m, errors.New("ar: bad header")
		}
		name := strings.TrimSuffix(strings.TrimSpace(string(b[:16])), "/")
		size, err := strconv.Atoi(strings.TrimSpace(string(b[48:58])))
		if err != nil || size < 0 || 60+size > len(b) {
			return m, fmt.Errorf("ar: bad size of %s", name)
		}
		m.names = append(m.names, name)
		m.data[name] = b[60 : 60+size]
		b = b[min(len(b), 60+size+size%2):]
	}
	return m, nil
}

// tarFile is one entry of a tar archive.
type tarFile struct {
	mode  int64
	owner string
	dir   bool
	data  []byte
}

// readTarGz reads a gzipped tar into its entries by path, without the
// leading "./".
func readTarGz(t *testing.T, b []byte) map[string]tarFile {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	out := map[string]tarFile{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		owner := h.Uname + "/" + h.Gname
		if owner == "/" {
			owner = strconv.Itoa(h.Uid) + "/" + strconv.Itoa(h.Gid)
		}
		p := strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")
		out[p] = tarFile{mode: h.Mode & 0o7777, owner: owner, dir: h.Typeflag == tar.TypeDir, data: data}
	}
}
