package broker

import (
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDefaultConfigValid(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := DefaultConfig()
	c.BrokerName = "bad name"
	c.BrokerIP1 = "::1"
	c.NamesrvAddr = "localhost:9876;127.0.0.1:9876"
	c.MaxMessageSize = 5 << 20
	c.MaxLongPollingTime = 30 * time.Second
	c.MessageDelayLevel = "1s 2x"
	c.FlushDiskType = "SOMETIMES"
	c.ServerChannelMaxIdleTime = -time.Second
	c.Logger = nil
	err := c.Validate()
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("err %v does not wrap ErrConfig", err)
	}
	for _, want := range []string{"brokerName", "brokerIP1", "localhost:9876", "maxMessageSize", "maxLongPollingTime",
		"messageDelayLevel", "flushDiskType", "serverChannelMaxIdleTimeSeconds", "Logger"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), `namesrvAddr "127.0.0.1:9876"`) {
		t.Errorf("a valid namesrv address was reported: %v", err)
	}
}

func TestLoadProperties(t *testing.T) {
	conf := `
# a RocketMQ broker.conf
brokerClusterName = ClusterX
brokerName=broker-b
brokerId=0
! another comment style
namesrv.addr=127.0.0.1:9876;127.0.0.1:9877
listenPort: 30911
brokerIP1=127.0.0.1
deleteWhen=04;16
fileReservedTime=48
diskMaxUsedSpaceRatio=80
brokerRole=ASYNC_MASTER
flushDiskType=ASYNC_FLUSH
autoCreateTopicEnable=false
defaultTopicQueueNums=4
maxMessageSize=65536
shortPollingTimeMills=500
registerNameServerPeriod=10000
channelExpiredTimeout=2m
messageDelayLevel=1s 2s 3s
mapedFileSizeCommitLog=1073741824
pageCacheWindowCommitLog=67108864
warmMapedFileEnable=true
enableDLegerCommitLog=true
dLegerGroup=RaftNode00
dLegerPeers=n0-127.0.0.1:40911;n1-127.0.0.1:40912;n2-127.0.0.1:40913
dLegerSelfId=n2
serverChannelMaxIdleTimeSeconds=90
someTypoKey=1
`
	cfg, warnings, err := LoadProperties(strings.NewReader(conf))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"cluster", cfg.BrokerClusterName, "ClusterX"},
		{"name", cfg.BrokerName, "broker-b"},
		{"namesrv", cfg.NamesrvAddrs(), []string{"127.0.0.1:9876", "127.0.0.1:9877"}},
		{"port", cfg.ListenPort, 30911},
		{"autoCreate", cfg.AutoCreateTopicEnable, false},
		{"queues", cfg.DefaultTopicQueueNums, 4},
		{"maxMessageSize", cfg.MaxMessageSize, 65536},
		{"shortPolling", cfg.ShortPollingTimeMills, 500 * time.Millisecond},
		{"registerPeriod", cfg.RegisterNameServerPeriod, 10 * time.Second},
		{"channelExpired", cfg.ChannelExpiredTimeout, 2 * time.Minute},
		{"delays", cfg.MessageDelayLevel, "1s 2s 3s"},
		{"segment", cfg.MappedFileSizeCommitLog, int64(1 << 30)},
		{"cache window", cfg.PageCacheWindowCommitLog, int64(64 << 20)},
		{"warm", cfg.WarmMapedFileEnable, true},
		{"flush", cfg.FlushDiskType, "ASYNC_FLUSH"},
		{"dledger group", cfg.DLedgerGroup, "RaftNode00"},
		{"self", cfg.DLedgerSelfID, "n2"},
		{"follower id", cfg.FollowerBrokerID(""), int64(3)},
		{"idle", cfg.ServerChannelMaxIdleTime, 90 * time.Second},
		{"reserved", cfg.FileReservedTime, 48 * time.Hour},
		{"deleteWhen", cfg.DeleteWhen, "04;16"},
		{"disk ratio", cfg.DiskMaxUsedSpaceRatio, 80},
	}
	for _, c := range checks {
		if g, w := c.got, c.want; !equalAny(g, w) {
			t.Errorf("%s = %v, want %v", c.name, g, w)
		}
	}
	joined := strings.Join(warnings, "\n")
	for _, want := range []string{"someTypoKey", "brokerRole", "enableDLegerCommitLog"} {
		if !strings.Contains(joined, want) {
			t.Errorf("no warning for %s: %v", want, warnings)
		}
	}
	if len(warnings) != 3 {
		t.Errorf("%d warnings, want 3: %v", len(warnings), warnings)
	}
	if h, err := ParseDeleteWhen(cfg.DeleteWhen); err != nil || !slices.Equal(h, []int{4, 16}) {
		t.Errorf("ParseDeleteWhen(%q) = %v, %v", cfg.DeleteWhen, h, err)
	}
	for _, bad := range []string{"", "25", "4;x", ";"} {
		if _, err := ParseDeleteWhen(bad); err == nil {
			t.Errorf("ParseDeleteWhen(%q) accepted", bad)
		}
	}
}

func equalAny(a, b any) bool {
	if as, ok := a.([]string); ok {
		bs, ok := b.([]string)
		return ok && slices.Equal(as, bs)
	}
	return a == b
}

func TestLoadPropertiesErrors(t *testing.T) {
	_, _, err := LoadProperties(strings.NewReader("listenPort=abc\nautoCreateTopicEnable=maybe\nnot a pair\n"))
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("err %v", err)
	}
	for _, want := range []string{"line 1", "line 2", "line 3"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s: %v", want, err)
		}
	}
}

func TestParseDelayLevels(t *testing.T) {
	got, err := ParseDelayLevels(DefaultMessageDelayLevel)
	if err != nil || len(got) != 18 || got[0] != time.Second || got[4] != time.Minute || got[17] != 2*time.Hour {
		t.Fatalf("default levels %v %v", got, err)
	}
	got, err = ParseDelayLevels("100ms 1d")
	if err != nil || got[0] != 100*time.Millisecond || got[1] != 24*time.Hour {
		t.Fatalf("ms/d levels %v %v", got, err)
	}
	for _, bad := range []string{"", "0s", "5", "-1s", "1w"} {
		if _, err := ParseDelayLevels(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestFollowerBrokerID(t *testing.T) {
	c := DefaultConfig()
	for self, want := range map[string]int64{"n0": 1, "n1": 2, "node12": 13, "leader": 1, "": 1} {
		if got := c.FollowerBrokerID(self); got != want {
			t.Errorf("FollowerBrokerID(%q) = %d, want %d", self, got, want)
		}
	}
	c.BrokerID = 7
	if got := c.FollowerBrokerID("n0"); got != 7 {
		t.Errorf("explicit brokerId: %d", got)
	}
}

func TestValidateBrokerVIP(t *testing.T) {
	for _, tc := range []struct {
		vip, ip string
		port    int
		bad     string // "" = valid
	}{
		{vip: "127.0.0.2:10911", ip: "127.0.0.1", port: 10911},
		{vip: "127.0.0.1:10999", ip: "127.0.0.1", port: 10911},
		{vip: "127.0.0.1:10999", ip: "", port: 0},
		{vip: "127.0.0.1:10911", ip: "127.0.0.1", port: 10911, bad: "collides"},
		{vip: "127.0.0.1:10911", ip: "", port: 10911, bad: "collides"},
		{vip: "localhost:10911", ip: "127.0.0.1", port: 10911, bad: "not ip:port"},
		{vip: "127.0.0.2", ip: "127.0.0.1", port: 10911, bad: "not ip:port"},
		{vip: "127.0.0.2:0", ip: "127.0.0.1", port: 10911, bad: "not ip:port"},
		{vip: "0.0.0.0:10999", ip: "127.0.0.1", port: 10911, bad: "not ip:port"},
		{vip: "[::1]:10999", ip: "127.0.0.1", port: 10911, bad: "not ip:port"},
	} {
		c := DefaultConfig()
		c.BrokerVIP, c.BrokerIP1, c.ListenPort = tc.vip, tc.ip, tc.port
		err := c.Validate()
		switch {
		case tc.bad == "" && err != nil:
			t.Errorf("%s on %s:%d: %v", tc.vip, tc.ip, tc.port, err)
		case tc.bad != "" && (!errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.bad)):
			t.Errorf("%s on %s:%d: err %v, want one about %q", tc.vip, tc.ip, tc.port, err, tc.bad)
		}
	}
	// A pre-bound listener is checked too.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c := DefaultConfig()
	c.ListenPort, c.Listener, c.BrokerVIP = 0, ln, ln.Addr().String()
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "collides") {
		t.Errorf("group address equal to the listener's: %v", err)
	}
	cfg, _, err := LoadProperties(strings.NewReader("brokerVIP=127.0.0.9:10911\nlistenPort=10911\nbrokerIP1=127.0.0.1\n"))
	if err != nil || cfg.BrokerVIP != "127.0.0.9:10911" || cfg.Validate() != nil {
		t.Errorf("brokerVIP from broker.conf: %q, %v, %v", cfg.BrokerVIP, err, cfg.Validate())
	}
}
