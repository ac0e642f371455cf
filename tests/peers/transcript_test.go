package peers

import (
	"net/netip"
	"reflect"
	"testing"
)

func TestParseTranscript(t *testing.T) {
	ap := netip.MustParseAddrPort
	tests := []struct {
		name   string
		client Client
		text   string
		want   Seen
	}{
		{"curl PASV", Curl, "* Connected to 127.0.0.10 (127.0.0.10) port 2100 (#0)\n" +
			"< 220 (vsFTPd 3.0.3)\r\n> PASV\n" +
			"< 227 Entering Passive Mode (127,0,0,10,246,24).\n" +
			"* Connecting to 127.0.0.10 (127.0.0.10) port 63000\n" +
			"< 150 Ok to send data.\n< 226 Transfer complete.\n",
			Seen{Replies: []int{220, 227, 150, 226}, PASV: ap("127.0.0.10:63000"),
				Data: []netip.AddrPort{ap("127.0.0.10:63000")}, Commands: []string{"PASV"}}},
		{"curl EPSV and multi-line", Curl, "< 220---------- Welcome\n< 220-more\n< 220 last\n" +
			"< 229 Extended Passive mode OK (|||64231|)\n" +
			"*   Trying 127.0.0.22:64231...\n* Connecting to 127.0.0.22 (127.0.0.22) port 64231\n" +
			"< 150-Accepted data connection\n< 150 5120.0 kbytes to download\n",
			Seen{Replies: []int{220, 229, 150}, EPSVPort: 64231,
				Data: []netip.AddrPort{ap("127.0.0.22:64231")}}},
		{"lftp fixed PASV", LFTP, "<--- 230 OK. Current directory is /\n---> PASV\n" +
			"<--- 227 Entering Passive Mode (127,0,0,99,243,21)\n" +
			"---- Address returned by PASV seemed to be incorrect and has been fixed\n" +
			"---- Connecting data socket to (127.0.0.22) port 62229\n" +
			"<--- 150 Accepted data connection\n<--- 226-File successfully transferred\n<--- 226 0.000 seconds\n",
			Seen{Replies: []int{230, 227, 150, 226}, PASV: ap("127.0.0.99:62229"),
				Data: []netip.AddrPort{ap("127.0.0.22:62229")}, Commands: []string{"PASV"}}},
		{"ftplib multi-line replies", Ftplib, "*resp* '220---------- Welcome\\n220 You will be disconnected'\n" +
			"*cmd* 'EPSV'\n*resp* '229 Entering Extended Passive Mode (|||64002|)'\n" +
			"data: connecting to 127.0.0.21 port 64002\n" +
			"*resp* '150-Accepted data connection\\n150 5120.0 kbytes to download'\n" +
			"*resp* \"226 Transfer complete\"\n",
			Seen{Replies: []int{220, 229, 150, 226}, EPSVPort: 64002,
				Data: []netip.AddrPort{ap("127.0.0.21:64002")}, Commands: []string{"EPSV"}}},
		{"227 without parentheses", Ftplib, "*resp* '227 Passive mode on 10,231,1,10,238,72'\n",
			Seen{Replies: []int{227}, PASV: ap("10.231.1.10:61000")}},
		{"227 with a number over 255", Curl, "< 227 Entering Passive Mode (127,0,0,300,1,1)\n",
			Seen{Replies: []int{227}}},
		{"commands are not replies", Curl, "> PASV\n> STOR 227 x\n", Seen{Commands: []string{"PASV", "STOR"}}},
		{"curl EPRT over IPv6", Curl, "> EPRT |2|::1|40000|\n< 200 EPRT command successful.\n" +
			"* Connect data stream actively\n* Connection accepted from server\n< 226 ok\n",
			Seen{Replies: []int{200, 226}, Commands: []string{"EPRT"}}},
		{"lftp active and ABOR", LFTP, "---> PORT 127,0,0,5,132,209\n<--- 200 PORT command successful.\n" +
			"---> RETR big\n---- Accepted data connection from (127.0.0.10) port 2099\n<--- 150 Opening\n" +
			"---> ABOR\n<--- 426 Failure writing network stream.\n<--- 226 ABOR successful.\n",
			Seen{Replies: []int{200, 150, 426, 226}, Commands: []string{"PORT", "RETR", "ABOR"},
				Accepted: []netip.AddrPort{ap("127.0.0.10:2099")}}},
		{"ftplib active over IPv6", Ftplib, "*cmd* 'EPRT |2|::1|41234|'\n*resp* '200 EPRT command successful.'\n" +
			"*cmd* 'RETR upload/dl-1B'\ndata: accepted from ::1 port 2109\n*resp* '150 Opening BINARY mode data connection'\n",
			Seen{Replies: []int{200, 150}, Commands: []string{"EPRT", "RETR"},
				Accepted: []netip.AddrPort{ap("[::1]:2109")}}},
		{"ftplib bounce results", Ftplib, "*cmd* 'PORT 127,0,0,6,19,136'\n*resp* '504 refused'\nresult: PORT 504\n" +
			"result: EPRT 500\nresult: PORT22 tim\nresult: LIST-after-PORT 150\n",
			Seen{Replies: []int{504}, Commands: []string{"PORT"},
				Results: map[string]int{"PORT": 504, "EPRT": 500, "PORT22": 0, "LIST-after-PORT": 150}}},
		{"IPv4-mapped data address", Ftplib, "data: connecting to ::ffff:127.0.0.10 port 63001\n",
			Seen{Data: []netip.AddrPort{ap("127.0.0.10:63001")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ParseTranscript(tt.client, tt.text)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseTranscript =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestSeenSent(t *testing.T) {
	s := Seen{Commands: []string{"USER", "PASS", "PORT", "RETR", "ABOR", "PORT", "RETR"}}
	tests := []struct {
		verb string
		want int
	}{
		{"PORT", 2},
		{"ABOR", 1},
		{"EPRT", 0},
	}
	for _, tt := range tests {
		if got := s.Sent(tt.verb); got != tt.want {
			t.Errorf("Sent(%q) = %d, want %d", tt.verb, got, tt.want)
		}
	}
}

func TestSupports(t *testing.T) {
	tests := []struct {
		client Client
		mode   Mode
		ipv6   bool
		want   bool
	}{
		{LFTP, EPRT, false, false},
		{LFTP, PORT, false, true},
		{LFTP, EPRT, true, true},
		{Curl, EPRT, false, true},
		{Curl, PASV, true, false},
		{Ftplib, PORT, true, false},
		{Ftplib, EPSV, true, true},
	}
	for _, tt := range tests {
		if got := Supports(tt.client, tt.mode, tt.ipv6); got != tt.want {
			t.Errorf("Supports(%s, %s, ipv6=%v) = %v, want %v", tt.client, tt.mode, tt.ipv6, got, tt.want)
		}
	}
}

func TestSeenCount(t *testing.T) {
	s := Seen{Replies: []int{220, 150, 226, 125, 226, 150}}
	tests := []struct {
		codes []int
		want  int
	}{
		{[]int{150, 125}, 3},
		{[]int{226}, 2},
		{[]int{227}, 0},
		{nil, 0},
	}
	for _, tt := range tests {
		if got := s.Count(tt.codes...); got != tt.want {
			t.Errorf("Count(%v) = %d, want %d", tt.codes, got, tt.want)
		}
	}
}

func TestTrustsPASV(t *testing.T) {
	tests := []struct {
		client Client
		addr   string
		want   bool
	}{
		{Curl, "127.0.0.99", true},
		{Ftplib, "127.0.0.10", true},
		{LFTP, "127.0.0.99", false},
		{LFTP, "127.0.0.10", false},
		{LFTP, "127.0.0.1", true},
		{LFTP, "10.231.1.10", true},
		{LFTP, "0.0.0.0", false},
		{LFTP, "::ffff:127.0.0.2", false},
	}
	for _, tt := range tests {
		if got := TrustsPASV(tt.client, netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("TrustsPASV(%s, %s) = %v, want %v", tt.client, tt.addr, got, tt.want)
		}
	}
}
