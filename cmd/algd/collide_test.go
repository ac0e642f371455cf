package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// consecutiveListeners is the file of issue 13: two listeners on
// consecutive ports of one address, so that the default active source
// port (control-1) of the second is the first one's listen port.
const consecutiveListeners = `[[pool]]
name = "p"
realservers = [{ address = "10.0.0.11:21" }]

[[ftp]]
listen = ["127.0.0.1:2121"]
pool = "p"
passive_ports = "61000-61099"

[[ftp]]
listen = ["127.0.0.1:2122"]
pool = "p"
passive_ports = "61100-61199"
`

// TestCheckRefusesCollisions runs `algd check` on the consecutive
// listeners: it must fail (main exits 1 on an error) and print both keys
// with their lines; the same file with the second listener moved away
// passes.
func TestCheckRefusesCollisions(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte(consecutiveListeners), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := cmdCheck([]string{"-c", bad}, &out)
	if err == nil || !strings.Contains(err.Error(), "1 error(s)") {
		t.Fatalf("check = %v, want 1 error; output:\n%s", err, out.String())
	}
	want := fmt.Sprintf(`%s:10: ftp[1].active_source_port: "control-1" takes port 2121 on 127.0.0.1 as the source of active data connections, where ftp[0].listen[0] "127.0.0.1:2121" listens`, bad)
	if !strings.Contains(out.String(), want) || !strings.Contains(out.String(), fmt.Sprintf("(ftp[0].listen[0]: %s:6)", bad)) {
		t.Errorf("output lacks %q with the other line; got:\n%s", want, out.String())
	}

	good := filepath.Join(dir, "good.toml")
	text := strings.Replace(consecutiveListeners, "127.0.0.1:2122", "127.0.0.1:2124", 1)
	if err := os.WriteFile(good, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := cmdCheck([]string{"-c", good}, &out); err != nil {
		t.Fatalf("check of the fixed file: %v\n%s", err, out.String())
	}
}
