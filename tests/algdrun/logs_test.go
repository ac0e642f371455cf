package algdrun

import (
	"reflect"
	"testing"
)

func TestParseTransfers(t *testing.T) {
	tests := []struct {
		name string
		log  string
		want [][2]int64 // down, up
	}{
		{"none", `{"time":"x","level":"INFO","msg":"session start","client":"127.0.0.5:1"}` + "\n", nil},
		{"top level", `{"level":"INFO","msg":"data done","down":5242880,"up":0}` + "\n" +
			`{"level":"INFO","msg":"data done","down":0,"up":1}` + "\n", [][2]int64{{5242880, 0}, {0, 1}}},
		{"in a group", `{"msg":"data done","session":{"id":7},"data":{"down":12,"up":34}}`, [][2]int64{{12, 34}}},
		{"text and noise skipped", "panic: not json data done\n" +
			`{"msg":"data done ","down":1,"up":1}` + "\n" +
			`{"msg":"data done","down":"12","up":0}` + "\n" +
			`{"msg":"data done","down":3,"up":4}`, [][2]int64{{3, 4}}},
		{"missing up", `{"msg":"data done","down":3}`, nil},
	}
	// The "at" attribute, where it is and what it names.
	ats := []struct {
		name string
		log  string
		want string
	}{
		{"passive port", `{"msg":"data done","at":"127.0.0.10:63000","down":1,"up":0}`, "127.0.0.10:63000"},
		{"active client over IPv6", `{"msg":"data done","data":{"at":"[::1]:40001","down":1,"up":0}}`, "[::1]:40001"},
		{"mapped", `{"msg":"data done","at":"[::ffff:127.0.0.5]:40001","down":1,"up":0}`, "127.0.0.5:40001"},
		{"absent", `{"msg":"data done","down":1,"up":0}`, "invalid AddrPort"},
		{"garbage", `{"msg":"data done","at":"x:y","down":1,"up":0}`, "invalid AddrPort"},
	}
	for _, tt := range ats {
		t.Run("at/"+tt.name, func(t *testing.T) {
			got := ParseTransfers([]byte(tt.log))
			if len(got) != 1 {
				t.Fatalf("ParseTransfers found %d lines, want 1", len(got))
			}
			if got[0].At.String() != tt.want {
				t.Errorf("At = %s, want %s", got[0].At, tt.want)
			}
		})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got [][2]int64
			for _, tr := range ParseTransfers([]byte(tt.log)) {
				got = append(got, [2]int64{tr.Down, tr.Up})
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseTransfers = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestEntries(t *testing.T) {
	log := `{"msg":"session start","listen":"127.0.0.10:2160","backend_tls":"explicit"}` + "\n" +
		"not json session start\n" +
		`{"msg":"session start ","listen":"x"}` + "\n" +
		`{"msg":"session end","reason":"TLS handshake: context deadline exceeded"}` + "\n" +
		`{"msg":"session start","session":{"listen":"127.0.0.10:2164","backend_tls":""}}` + "\n"
	tests := []struct {
		msg, key string
		want     []string
	}{
		{"session start", "listen", []string{"127.0.0.10:2160", "127.0.0.10:2164"}},
		{"session start", "backend_tls", []string{"explicit", ""}},
		{"session end", "reason", []string{"TLS handshake: context deadline exceeded"}},
		{"data done", "at", nil},
	}
	for _, tt := range tests {
		var got []string
		for _, e := range Entries([]byte(log), tt.msg) {
			got = append(got, e.Str(tt.key))
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Entries(%q) %s = %q, want %q", tt.msg, tt.key, got, tt.want)
		}
	}
}
