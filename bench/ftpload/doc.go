// Package ftpload is the load generator of the benchmarks (bench/run): a
// minimal passive-mode FTP client and three loads built on it.
//
//   - Short runs short sessions (connect, banner, USER/PASS, PASV, RETR of a
//     small file, QUIT) from a number of concurrent workers for a duration
//     and counts the sessions per second.
//   - Transfers starts many sessions at once, each downloading one file,
//     and checks every copy against the expected SHA-256.
//   - Idle opens logged-in control sessions and holds them, so that a
//     proxy's memory per idle session can be read.
//
// The client always connects data connections to the control connection's
// peer address with the port of the 227 reply, as curl, lftp and python's
// ftplib do by default, so the same client works against a server, a proxy
// that rewrites 227 (algd) and one that does not (HAProxy in TCP mode).
package ftpload
