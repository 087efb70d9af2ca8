package cli

import (
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	ucli "github.com/urfave/cli/v2"

	"github.com/dledgermq/dledgermq/broker"
)

// TestBrokerConfigsLayering: broker.conf keys reach the store's
// configuration, and flags override the file.
func TestBrokerConfigsLayering(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "broker.conf")
	body := "brokerName=broker-x\nmappedFileSizeCommitLog=67108864\npageCacheWindowCommitLog=33554432\nwarmMapedFileEnable=true\n" +
		"dLedgerPeers=n0-127.0.0.1:40911;n1-127.0.0.1:40912;n2-127.0.0.1:40913\ndLedgerSelfId=n1\n" +
		"metricsPromExporterPort=6001\n"
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	app := BrokerApp()
	set := flag.NewFlagSet("dledger-broker", flag.ContinueOnError)
	for _, f := range app.Flags {
		if err := f.Apply(set); err != nil {
			t.Fatal(err)
		}
	}
	if err := set.Parse([]string{"--config", conf, "--broker-name", "broker-y", "--metrics-listen", "127.0.0.2:6002"}); err != nil {
		t.Fatal(err)
	}
	bcfg, scfg, err := brokerConfigs(ucli.NewContext(app, set, nil), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if bcfg.BrokerName != "broker-y" {
		t.Errorf("broker name %q: the flag should override the file", bcfg.BrokerName)
	}
	if scfg.DLedger.SegmentSize != 64<<20 {
		t.Errorf("segment size %d, want the file's 64 MiB", scfg.DLedger.SegmentSize)
	}
	if scfg.DLedger.CacheWindow != 32<<20 {
		t.Errorf("cache window %d, want the file's 32 MiB", scfg.DLedger.CacheWindow)
	}
	if !scfg.DLedger.WarmSegments {
		t.Error("warmMapedFileEnable=true did not reach the store's configuration")
	}
	if bcfg.MetricsExporterType != broker.MetricsProm || bcfg.MetricsPromExporterHost != "127.0.0.2" || bcfg.MetricsPromExporterPort != 6002 {
		t.Errorf("metrics exporter %q %s:%d: --metrics-listen should turn it on and override the file's port",
			bcfg.MetricsExporterType, bcfg.MetricsPromExporterHost, bcfg.MetricsPromExporterPort)
	}
	if scfg.DLedger.ID != "n1" || len(scfg.DLedger.Peers) != 3 {
		t.Errorf("raft id %q peers %v", scfg.DLedger.ID, scfg.DLedger.Peers)
	}
}
