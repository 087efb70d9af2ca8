package cli

import (
	"errors"
	"net"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/dledgermq/dledgermq/namesrv"
)

// NamesrvApp is the `namesrv` binary: one NameServer. NameServers share no
// state; run several and give every broker all of their addresses.
func NamesrvApp() *cli.App {
	def := namesrv.DefaultConfig()
	return &cli.App{
		Name:  "namesrv",
		Usage: "RocketMQ-compatible NameServer: broker registrations and topic routes",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "listen", Value: "127.0.0.1:9876", Usage: "TCP address to serve clients and brokers on"},
			&cli.DurationFlag{Name: "broker-expiry", Value: def.BrokerExpiry, Usage: "drop a broker not re-registered for this long"},
			&cli.DurationFlag{Name: "scan-interval", Value: def.ScanInterval, Usage: "how often expired brokers are looked for"},
			&cli.BoolFlag{Name: "tbw102", Value: def.SynthesizeTBW102, Usage: "serve a TBW102 auto-create route when no broker registered one"},
		}, logFlags()...),
		Action: runNamesrv,
	}
}

func runNamesrv(c *cli.Context) error {
	log, err := newLogger(c, os.Stderr)
	if err != nil {
		return err
	}
	cfg := namesrv.DefaultConfig()
	cfg.ListenAddr = c.String("listen")
	cfg.BrokerExpiry = c.Duration("broker-expiry")
	cfg.ScanInterval = c.Duration("scan-interval")
	cfg.SynthesizeTBW102 = c.Bool("tbw102")
	cfg.Logger = log
	srv, err := namesrv.New(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return err
	}
	ctx, stop := signalContext(c.Context)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	log.Info("namesrv listening", "addr", ln.Addr().String())
	select {
	case <-ctx.Done():
		log.Info("namesrv stopping")
		err := srv.Close()
		<-done
		return err
	case err := <-done:
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		return err
	}
}
