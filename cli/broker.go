package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/dledgermq/dledgermq/broker"
	"github.com/dledgermq/dledgermq/commitlog"
	"github.com/dledgermq/dledgermq/dledger"
	"github.com/dledgermq/dledgermq/store"
)

// BrokerApp is the `dledger-broker` binary: one replica of a broker group.
// Three of them with the same --peers form a group that elects its own
// master; the master registers with every NameServer as brokerId 0.
//
// Configuration is layered: built-in defaults, then the -c broker.conf file
// (RocketMQ property names, old and new spellings; unknown keys are warned
// about), then the flags given on the command line.
func BrokerApp() *cli.App {
	return &cli.App{
		Name:  "dledger-broker",
		Usage: "RocketMQ-compatible broker replica of a Raft-replicated broker group",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "broker.conf with RocketMQ property names"},
			&cli.StringFlag{Name: "id", Usage: "this replica's Raft id, one of the --peers ids (dLedgerSelfId)"},
			&cli.StringFlag{Name: "peers", Usage: "the group's Raft members: n0=host:port,n1=host:port,n2=host:port (dLedgerPeers)"},
			&cli.BoolFlag{Name: "join", Usage: "with no data yet, wait to be added to a running group (members add) instead of bootstrapping one from --peers"},
			&cli.StringFlag{Name: "listen", Usage: "client-facing address host:port (brokerIP1, listenPort); default 127.0.0.1:10911"},
			&cli.StringFlag{Name: "namesrv", Usage: "NameServer addresses, separated by ';' or ',' (namesrvAddr)"},
			&cli.StringFlag{Name: "data", Usage: "data directory (storePathRootDir)"},
			&cli.StringFlag{Name: "broker-name", Usage: "the group's broker name (brokerName); default broker-a"},
			&cli.StringFlag{Name: "cluster", Usage: "cluster name (brokerClusterName); default DefaultCluster"},
			&cli.StringFlag{Name: "flush", Usage: "SYNC_FLUSH (an ack means synced on a majority) or ASYNC_FLUSH (flushDiskType)"},
			&cli.Int64Flag{Name: "segment-size", Usage: "commit-log segment size in bytes (mappedFileSizeCommitLog); default 1 GiB"},
			&cli.IntFlag{Name: "index-entries", Usage: "key-index entries per index file (maxIndexNum; slots = entries/4); default 20,000,000, a ~660 MB file"},
			&cli.StringFlag{Name: "metrics-listen", Usage: "serve Prometheus metrics at http://host:port/metrics (metricsExporterType=PROM, metricsPromExporterHost, metricsPromExporterPort)"},
			&cli.DurationFlag{Name: "election-timeout", Usage: "Raft heartbeat/election timeout; default from the dledger package (fails over in about 1 s)"},
		}, append(logFlags(), testHookFlags()...)...),
		Action:   runBroker,
		Commands: []*cli.Command{membersCommand()},
	}
}

// brokerConfigs turns the conf file and flags into the broker's and store's
// configurations.
func brokerConfigs(c *cli.Context, log *slog.Logger) (broker.Config, store.Config, error) {
	bcfg := broker.DefaultConfig()
	if path := c.String("config"); path != "" {
		f, err := os.Open(path)
		if err != nil {
			return bcfg, store.Config{}, err
		}
		cfg, warnings, err := broker.LoadProperties(f)
		_ = f.Close()
		if err != nil {
			return bcfg, store.Config{}, fmt.Errorf("%s: %w", path, err)
		}
		for _, w := range warnings {
			log.Warn("broker.conf", "file", path, "warning", w)
		}
		bcfg = cfg
	}
	if bcfg.BrokerIP1 == "" {
		bcfg.BrokerIP1 = "127.0.0.1"
	}
	if c.IsSet("listen") {
		host, port, err := hostPortFlag(c, "listen")
		if err != nil {
			return bcfg, store.Config{}, err
		}
		bcfg.BrokerIP1, bcfg.ListenPort = host, port
	}
	if c.IsSet("metrics-listen") {
		host, port, err := hostPortFlag(c, "metrics-listen")
		if err != nil {
			return bcfg, store.Config{}, err
		}
		bcfg.MetricsExporterType, bcfg.MetricsPromExporterHost, bcfg.MetricsPromExporterPort = broker.MetricsProm, host, port
	}
	setStr := func(flag string, dst *string) {
		if c.IsSet(flag) {
			*dst = c.String(flag)
		}
	}
	setStr("namesrv", &bcfg.NamesrvAddr)
	setStr("data", &bcfg.StorePathRootDir)
	setStr("broker-name", &bcfg.BrokerName)
	setStr("cluster", &bcfg.BrokerClusterName)
	setStr("flush", &bcfg.FlushDiskType)
	setStr("id", &bcfg.DLedgerSelfID)
	if c.IsSet("segment-size") {
		bcfg.MappedFileSizeCommitLog = c.Int64("segment-size")
	}
	bcfg.Logger = log

	peersText := c.String("peers")
	if peersText == "" {
		peersText = rocketmqPeers(bcfg.DLedgerPeers)
	}
	peers, err := dledger.ParsePeers(peersText)
	if err != nil {
		return bcfg, store.Config{}, fmt.Errorf("--peers: %w", err)
	}
	bcfg.DLedgerPeers = dledger.FormatPeers(peers)

	scfg := store.DefaultConfig()
	scfg.Dir = bcfg.StorePathRootDir
	scfg.DLedger.ID = bcfg.DLedgerSelfID
	scfg.DLedger.Peers = peers
	scfg.DLedger.Join = c.Bool("join")
	scfg.DLedger.SegmentSize = bcfg.MappedFileSizeCommitLog
	scfg.DLedger.CacheWindow = bcfg.PageCacheWindowCommitLog
	scfg.DLedger.WarmSegments = bcfg.WarmMapedFileEnable
	scfg.FileReservedTime, scfg.DiskMaxUsedSpaceRatio = bcfg.FileReservedTime, bcfg.DiskMaxUsedSpaceRatio
	if scfg.DeleteWhen, err = broker.ParseDeleteWhen(bcfg.DeleteWhen); err != nil {
		return bcfg, store.Config{}, err
	}
	if bcfg.FlushDiskType == "ASYNC_FLUSH" {
		scfg.DLedger.Flush = commitlog.FlushAsync
	} else {
		scfg.DLedger.Flush = commitlog.FlushSync
	}
	if n := c.Int("index-entries"); n > 0 {
		scfg.Index.EntriesPerFile = n
		scfg.Index.SlotCount = max(n/4, 1)
	}
	if d := c.Duration("election-timeout"); d > 0 {
		scfg.DLedger.HeartbeatTimeout, scfg.DLedger.ElectionTimeout = d, d
		if scfg.DLedger.LeaderLeaseTimeout > d {
			scfg.DLedger.LeaderLeaseTimeout = d
		}
	}
	scfg.Logger = log
	return bcfg, scfg, nil
}

// hostPortFlag reads a host:port flag.
func hostPortFlag(c *cli.Context, flag string) (string, int, error) {
	host, port, err := net.SplitHostPort(c.String(flag))
	if err != nil {
		return "", 0, fmt.Errorf("--%s: %w", flag, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return "", 0, fmt.Errorf("--%s port %q: %w", flag, port, err)
	}
	return host, p, nil
}

// rocketmqPeers converts RocketMQ's dLedgerPeers "n0-host:port;n1-host:port"
// into our "n0=host:port,n1=host:port"; our own form passes through.
func rocketmqPeers(s string) string {
	if s == "" || strings.Contains(s, "=") {
		return s
	}
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == ';' || r == ',' })
	for i, p := range parts {
		if id, addr, ok := strings.Cut(strings.TrimSpace(p), "-"); ok {
			parts[i] = id + "=" + addr
		}
	}
	return strings.Join(parts, ",")
}

func runBroker(c *cli.Context) error {
	log, err := newLogger(c, os.Stderr)
	if err != nil {
		return err
	}
	bcfg, scfg, err := brokerConfigs(c, log)
	if err != nil {
		return err
	}
	if scfg.Dir == "" {
		return errors.New("--data (storePathRootDir) is required")
	}
	log = log.With("node", scfg.DLedger.ID)
	bcfg.Logger, scfg.Logger = log, log

	// Listen first: the store stamps the client-facing address into every
	// message it writes (and so into message ids).
	ln, addr, err := broker.Listen(bcfg)
	if err != nil {
		return err
	}
	bcfg.Listener = ln
	scfg.StoreHost = addr

	clock := applyTestClock(c, &scfg) // test hook (broker_testhooks.go)
	st, err := store.Open(scfg)
	if err != nil {
		_ = ln.Close()
		return err
	}
	st.OnLeaderChange(func(ch dledger.LeaderChange) {
		if ch.IsLeader {
			log.Info("became leader", "broker", bcfg.BrokerName, "addr", addr.String(), "term", ch.Term)
		}
	})
	b, err := broker.New(bcfg, st)
	if err != nil {
		_ = st.Close()
		return err
	}
	if err := b.Start(); err != nil {
		_ = b.Close()
		return err
	}
	log.Info("broker started", "broker", bcfg.BrokerName, "cluster", bcfg.BrokerClusterName,
		"listen", b.Addr(), "raft", scfg.DLedger.Peers, "data", scfg.Dir, "flush", bcfg.FlushDiskType)

	ctx, stop := signalContext(c.Context)
	defer stop()
	runTestHooks(ctx, st, clock, log) // test hooks: SIGUSR1, SIGUSR2 (broker_testhooks.go)
	<-ctx.Done()
	log.Info("broker stopping: transferring leadership, unregistering")
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.Shutdown(sctx); err != nil {
		return err
	}
	log.Info("broker stopped")
	return nil
}
