// Command ftpload is the load generator and the ftpserverlib backend of
// bench/run. Every load prints one JSON object per result on stdout.
//
//	ftpload short -addr A -user U -pass P -path F [-c 50] [-d 10s]
//	ftpload xfer  -addr A -user U -pass P -path F -sha256 HEX [-n 500]
//	ftpload idle  -addr A -user U -pass P -steps 1000,4000,8000
//	ftpload logins -addr A -user U -pass P [-n 2000] [-c 50]
//	ftpload serve -addr A -passive 65000-65099
//
// idle opens sessions up to each step, prints {"held":N} and waits for a
// line on stdin before the next step; after the last step it sends NOOP on
// every session, prints {"held":N,"bad":K} and exits. logins logs -n
// sessions in, -c at a time, going on past failures, holds them all, sends
// NOOP on each and prints the counts. serve runs the
// embedded ftpserverlib server (user demo, password demo) until SIGINT or
// SIGTERM.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/algd/algd/bench/ftpload"
	"github.com/algd/algd/internal/demo"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "ftpload:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: ftpload short|xfer|idle|logins|serve [flags]")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	addr := fs.String("addr", "", "control address ip:port")
	user := fs.String("user", "anonymous", "login user")
	pass := fs.String("pass", "bench@example.org", "login password")
	path := fs.String("path", "", "file to download")
	workers := fs.Int("c", 50, "short: concurrent clients; idle, logins: logins in flight")
	dur := fs.Duration("d", 10*time.Second, "short: duration")
	n := fs.Int("n", 500, "xfer: concurrent sessions; logins: sessions")
	sum := fs.String("sha256", "", "xfer: expected digest")
	steps := fs.String("steps", "1000,4000,8000", "idle: session counts")
	passive := fs.String("passive", "65000-65099", "serve: passive range")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *addr == "" {
		return errors.New("-addr is required")
	}
	tg := ftpload.Target{Addr: *addr, User: *user, Password: *pass}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	out := json.NewEncoder(os.Stdout)
	switch args[0] {
	case "short":
		return out.Encode(ftpload.Short(ctx, ftpload.ShortOptions{Target: tg, Path: *path, Workers: *workers, Duration: *dur}))
	case "xfer":
		return out.Encode(ftpload.Transfers(ctx, ftpload.TransferOptions{Target: tg, Path: *path, SHA256: *sum, Sessions: *n}))
	case "idle":
		return idle(ctx, tg, *workers, *steps, out)
	case "logins":
		return out.Encode(ftpload.Logins(ctx, ftpload.LoginOptions{Target: tg, Sessions: *n, Workers: *workers}))
	case "serve":
		return serve(ctx, *addr, *passive)
	}
	return fmt.Errorf("unknown subcommand %q", args[0])
}

func idle(ctx context.Context, tg ftpload.Target, workers int, steps string, out *json.Encoder) error {
	s := ftpload.NewIdle(tg, workers, 20*time.Second)
	defer s.Close()
	in := bufio.NewScanner(os.Stdin)
	for _, f := range strings.Split(steps, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return fmt.Errorf("idle: step %q: %w", f, err)
		}
		if err := s.Grow(ctx, n); err != nil {
			return err
		}
		if err := out.Encode(map[string]int{"held": s.Len()}); err != nil {
			return err
		}
		if !in.Scan() {
			return errors.New("idle: stdin closed")
		}
	}
	return out.Encode(map[string]int{"held": s.Len(), "bad": s.Check()})
}

func serve(ctx context.Context, addr, passive string) error {
	first, last, ok := strings.Cut(passive, "-")
	lo, err1 := strconv.ParseUint(first, 10, 16)
	hi, err2 := strconv.ParseUint(last, 10, 16)
	if !ok || err1 != nil || err2 != nil {
		return fmt.Errorf("serve: bad -passive %q", passive)
	}
	s, err := demo.Start(demo.Options{Addr: addr, PassiveFirst: uint16(lo), PassiveLast: uint16(hi)})
	if err != nil {
		return err
	}
	fmt.Printf("serving %s\n", s.Addr())
	<-ctx.Done()
	return s.Close()
}
