// Package algdrun builds the algd binary and runs it as a child process
// for the end-to-end suites: it writes a configuration, starts
// `algd run -c FILE` (optionally inside a network namespace), waits until
// the VIP answers a 220 banner through a backend, and parses algd's JSON
// log for the "data done" lines that count the bytes each data connection
// carried.
package algdrun
