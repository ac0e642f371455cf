//go:build interop

// Package soak is algd's reliability and security suite: it runs the
// built algd binary in front of real vsftpd realservers and proves, with
// sha256 on every file, that load, realserver kills, SIGHUP reloads and
// hostile clients neither corrupt nor hang anyone's transfer, and that
// algd's resources (goroutines, descriptors, reserved ports) return to
// their idle baseline afterwards.
//
//   - TestSoak: 200 clients from 127.0.0.5-9 in PASV, EPSV, PORT, EPRT and
//     explicit FTPS against three vsftpd on 127.0.0.71-73 behind the VIP
//     127.0.0.70; one realserver killed and restarted every 30 s, a
//     reload every 20 s. Three minutes by default; ALGD_SOAK=long runs
//     twenty, ALGD_SOAK_DURATION=90s any other length. ALGD_SOAK_OUT=FILE
//     appends the figures of the run to FILE.
//   - TestHostileClients: port theft, bounce PORT/EPRT, 100 KiB lines,
//     NUL bytes, slowloris, 5,000 connections from one address, passive
//     range exhaustion, TLS garbage, while 20 honest clients transfer;
//     each case checks its reply and its counter in /metrics.
//   - TestCheckMutations: random mutations of the example configurations
//     never crash `algd check`.
//
// Run: tests/peers/fetch.sh && go test -race -tags interop ./tests/soak/
// ALGD_BIN=FILE runs a prebuilt algd instead of building ./cmd/algd.
package soak
