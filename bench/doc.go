// Package bench holds the benchmark harness of algd: bench/run builds
// algd and the load generator (bench/cmd/ftpload), then runs the
// scenarios of BENCHMARKS.md, which live in this package's test files
// behind the "bench" build tag, so that `go test ./...` never starts them:
//
//	go test -tags bench -run '^TestBench$' -v -timeout 30m ./bench/ -args -rounds 3
//
// Each scenario runs every contender in alternation (A B C A B C ...) for
// a number of rounds and prints medians, ranges and ratios. Contenders are
// the ftpd itself (direct), algd, HAProxy in TCP mode (plain and with
// splice forced) on loopback, and in three network namespaces (client,
// director, realserver; netns_test.go) a routed path without NAT (the
// reference there), nftables DNAT with the ftp conntrack helper, and algd
// in the director on the kernel data path (algd-kernel) and on the proxy
// path (algd-ns). Scenario 5 (scenario5_test.go) relays RTP through
// algd's RTSP listener and through bench/cmd/naiverelay, a
// one-datagram-a-call relay, driven by bench/cmd/udpload: on loopback and
// in the namespaces. Package bench/netns opens sockets in another
// namespace (the load's sinks, the fake RTSP realserver).
package bench
