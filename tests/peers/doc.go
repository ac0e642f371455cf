// Package peers runs real FTP servers and clients that nobody on this
// project wrote, for the end-to-end suites in tests/interop and tests/netns.
//
// The servers (vsftpd, pure-ftpd, proftpd) are the Debian binaries that
// tests/peers/fetch.sh unpacks under tests/.cache/peers; each runs as a child
// process on a given address and port with a private configuration written
// to a temporary directory, a login with a writable "upload" directory, a
// passive port range outside the kernel's ephemeral range and, on request, a
// wrong address in its 227 replies, or explicit FTPS with certificates
// from a test CA (NewCA, CA.Issue) and, for vsftpd and proftpd, TLS
// session reuse required on data connections. The clients (curl, lftp, python ftplib)
// run as commands from a chosen source address, in PASV, EPSV, PORT or
// EPRT mode, over IPv4 or IPv6, in plain FTP or FTPS (explicit AUTH TLS
// or implicit, data protected with PROT P), for transfers, an aborted download (ABOR)
// or a bounce attempt, and their transcripts are parsed for what they saw
// (the 227 address, the 229 port, the data connections they made or
// accepted, the commands they sent, the reply codes).
//
// A missing peer is a test failure naming fetch.sh, never a skip: these
// suites exist to run in CI.
package peers
