package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/dledgermq/dledgermq/message"
	"github.com/dledgermq/dledgermq/remoting"
)

// DefaultMessageDelayLevel is RocketMQ's delay level table (level 1 = "1s").
const DefaultMessageDelayLevel = "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h"

// Perm bits of a topic (RocketMQ PermName). Frozen: they travel on the wire.
const (
	PermPriority = 8
	PermRead     = 4
	PermWrite    = 2
	PermInherit  = 1
)

// Config configures a Broker. Names in parentheses are the broker.conf keys
// (RocketMQ's BrokerConfig / MessageStoreConfig / NettyServerConfig names)
// understood by LoadProperties. Start from DefaultConfig.
type Config struct {
	// BrokerName names the broker group (brokerName); every replica of a
	// group has the same one. Default "broker-a".
	BrokerName string
	// BrokerClusterName is the cluster the group belongs to
	// (brokerClusterName). Default "DefaultCluster".
	BrokerClusterName string
	// BrokerID is the id this node registers with while it is a follower
	// (brokerId); the Raft leader always registers as 0. 0 = derive it from
	// DLedgerSelfID as RocketMQ does ("n0" -> 1, "n2" -> 3), or 1 when that
	// has no numeric suffix. Default 0.
	BrokerID int64
	// BrokerIP1 is the IPv4 address clients reach this broker at
	// (brokerIP1); it is also the bind address when set. "" = bind every
	// interface and advertise the first non-loopback IPv4 address. Default "".
	BrokerIP1 string
	// ListenPort is the TCP port of the client-facing remoting server
	// (listenPort). 0 picks a free port (tests). Default 10911.
	ListenPort int
	// BrokerVIP is the group address, "ip:port" (brokerVIP, ours): a
	// floating master address like a virtual IP. While this node is the
	// ready Raft leader it also listens there, serves it like its own
	// address and registers it (instead of its own) as brokerId 0; on
	// losing leadership or shutting down it closes that listener and every
	// connection accepted on it, so clients reconnect and reach the next
	// leader. Producers that cache the master address (the Go client, for
	// 30 s) so keep working across a failover. Every replica of a group
	// must have the same one. The IP must be local to the leader's host
	// when clients connect: on one host any 127.x.y.z address works (port
	// equal to or different from ListenPort); across hosts a VIP manager
	// (keepalived) must move the IP to the leader's host (the broker binds
	// with IP_FREEBIND on Linux, so it can bind before the IP arrives). It
	// must differ from this node's own listen address. See "Group address"
	// in the package documentation. Default "" (off: the leader registers
	// its own address).
	BrokerVIP string
	// NamesrvAddr lists the NameServers, "ip:port;ip:port" (namesrvAddr,
	// also namesrv.addr / rocketmq.namesrv.addr). Default "" (register
	// nowhere).
	NamesrvAddr string

	// AutoCreateTopicEnable lets a SEND create an unknown topic from the
	// TBW102 template (autoCreateTopicEnable). Default true.
	AutoCreateTopicEnable bool
	// AutoCreateSubscriptionGroup creates a subscription group on its first
	// heartbeat (autoCreateSubscriptionGroup). Default true.
	AutoCreateSubscriptionGroup bool
	// DefaultTopicQueueNums is the queue count of auto-created topics and of
	// TBW102 (defaultTopicQueueNums). Default 8 (clients cap it at 4).
	DefaultTopicQueueNums int
	// BrokerPermission is the perm advertised for every topic, ANDed with
	// the topic's own (brokerPermission). Default 6 (read|write).
	BrokerPermission int
	// MaxMessageSize bounds a message body and a batch body in bytes
	// (maxMessageSize). Default 4 MiB; at most 4 MiB (message.MaxBodySize).
	MaxMessageSize int
	// RegionID is sent back as MSG_REGION (regionId). Default "DefaultRegion".
	RegionID string
	// TraceOn is sent back as TRACE_ON (traceOn). Default true.
	TraceOn bool

	// LongPollingEnable holds a PULL that finds nothing until a message
	// arrives or the client's suspend time passes (longPollingEnable).
	// Default true.
	LongPollingEnable bool
	// ShortPollingTimeMills is the hold when long polling is disabled
	// (shortPollingTimeMills). Default 1 s.
	ShortPollingTimeMills time.Duration
	// MaxLongPollingTime caps the hold a client asks for with
	// suspendTimeoutMillis (maxLongPollingTimeMills, ours). Must stay below
	// the Go client's 30 s pull timeout. Default 20 s.
	MaxLongPollingTime time.Duration
	// PullMaxMsgNums caps maxMsgNums of one PULL (pullMaxMsgNums, ours).
	// Default 64.
	PullMaxMsgNums int
	// PullThreads bounds concurrently running PULL handlers (held ones
	// included) across all connections (pullMessageThreadPoolNums).
	// Default 4096.
	PullThreads int

	// RegisterNameServerPeriod is the re-registration period
	// (registerNameServerPeriod). Default 30 s.
	RegisterNameServerPeriod time.Duration
	// RegisterBrokerTimeoutMills bounds one REGISTER_BROKER call
	// (registerBrokerTimeoutMills). Default 6 s.
	RegisterBrokerTimeoutMills time.Duration

	// ChannelExpiredTimeout drops a client that has not sent a heartbeat for
	// this long (channelExpiredTimeout). Default 120 s.
	ChannelExpiredTimeout time.Duration
	// ClientScanInterval is how often expired clients are looked for
	// (clientScanInterval, ours). Default 10 s.
	ClientScanInterval time.Duration
	// NotifyConsumerIdsChangedEnable pushes NOTIFY_CONSUMER_IDS_CHANGED to
	// a group's members when its membership changes
	// (notifyConsumerIdsChangedEnable). Default true.
	NotifyConsumerIdsChangedEnable bool

	// MessageDelayLevel is the delay of each level, space separated, units
	// ms/s/m/h/d (messageDelayLevel). Default DefaultMessageDelayLevel.
	MessageDelayLevel string
	// MaxReconsumeTimes is the retry budget of a consumer that does not send
	// its own (maxReconsumeTimes; RocketMQ's subscription-group
	// retryMaxTimes). Default 16.
	MaxReconsumeTimes int
	// RetryQueueNums is the queue count of %RETRY% and %DLQ% topics
	// (retryQueueNums). Default 1.
	RetryQueueNums int
	// ScheduleIdleInterval is how often an idle delay level looks for work
	// when no arrival woke it (scheduleIdleInterval, ours). Default 1 s.
	ScheduleIdleInterval time.Duration

	// TransactionTimeOut is how old a half message without END_TRANSACTION
	// must be before its producer is asked about it
	// (transactionTimeOut). Default 6 s.
	TransactionTimeOut time.Duration
	// TransactionCheckInterval is how often the leader looks for such half
	// messages (transactionCheckInterval). Default 60 s.
	TransactionCheckInterval time.Duration
	// TransactionCheckMax is how many times a half message is checked
	// before it is rolled back (transactionCheckMax). Default 15.
	TransactionCheckMax int

	// WriteTimeout bounds one store write (a SEND, an offset commit, a
	// topic change) on the leader (sendMessageTimeout, ours). Keep it below
	// the clients' 3 s send timeout. Default 2.5 s.
	WriteTimeout time.Duration

	// Store settings. The broker itself does not read these: the binary
	// that builds the store (broker.New takes a ready one) does.
	//
	// StorePathRootDir is the data directory (storePathRootDir). Default
	// "store".
	StorePathRootDir string
	// StorePathCommitLog is the commit-log directory (storePathCommitLog);
	// "" = <StorePathRootDir>/commitlog. Default "".
	StorePathCommitLog string
	// MappedFileSizeCommitLog is the commit-log segment size in bytes
	// (mappedFileSizeCommitLog, old spelling mapedFileSizeCommitLog).
	// Default 1 GiB.
	MappedFileSizeCommitLog int64
	// FlushDiskType is SYNC_FLUSH or ASYNC_FLUSH (flushDiskType). Default
	// SYNC_FLUSH.
	FlushDiskType string
	// PageCacheWindowCommitLog is how many bytes at the tail of the commit
	// log keep their page cache (pageCacheWindowCommitLog; this broker's
	// own key). Durable bytes further back are released, so new writes
	// reuse warm pages; consumers lagging further read from disk. 0 takes
	// the default, 256 MiB; -1 keeps everything cached.
	PageCacheWindowCommitLog int64
	// WarmMapedFileEnable writes every commit-log segment with zeros and
	// syncs it before records go into it (RocketMQ's warmMapedFileEnable;
	// commitlog.Options.WarmSegments): syncs of appended records then cost
	// less, at the price of writing each segment twice. Default false.
	WarmMapedFileEnable bool
	// FileReservedTime is how long messages are kept (fileReservedTime,
	// whole hours): commit-log segments whose messages are all older are
	// dropped at the DeleteWhen hours, or at once while the disk is fuller
	// than DiskMaxUsedSpaceRatio (store.Config.FileReservedTime). 0 keeps
	// everything. Default 72 h.
	FileReservedTime time.Duration
	// DeleteWhen lists the hours, local time, at which expired segments
	// are dropped (deleteWhen, "04" or "04;16"). Default "04".
	DeleteWhen string
	// DiskMaxUsedSpaceRatio is the percentage of the commit log's disk in
	// use above which expired segments are dropped whatever the hour
	// (diskMaxUsedSpaceRatio, 10-95). Default 75.
	DiskMaxUsedSpaceRatio int
	// MetricsExporterType turns the Prometheus exporter on ("PROM", or
	// RocketMQ's enum value 2) or off ("DISABLE", 0; the default) (RocketMQ
	// 5's metricsExporterType; metrics.go lists the metrics).
	MetricsExporterType string
	// MetricsPromExporterHost and MetricsPromExporterPort are where the
	// exporter listens (metricsPromExporterHost, default the broker's
	// address; metricsPromExporterPort, default 5557; 0 picks a free port).
	MetricsPromExporterHost string
	MetricsPromExporterPort int
	// DLedgerGroup, DLedgerPeers and DLedgerSelfID describe the Raft group
	// (dLegerGroup, dLegerPeers "n0-127.0.0.1:40911;n1-...", dLegerSelfId;
	// also spelled dLedger...). Defaults "", "", "".
	DLedgerGroup  string
	DLedgerPeers  string
	DLedgerSelfID string

	// ServerChannelMaxIdleTime closes a client connection from which no
	// complete frame has arrived for this long: a half-open peer, one that
	// connected and sent nothing, or one that stopped inside a frame
	// (serverChannelMaxIdleTimeSeconds, whole seconds; a Go duration such
	// as "500ms" is accepted too). It replaces Server.Conn.IdleTimeout. The
	// Go client heartbeats every 30 s, so keep it well above that and
	// above MaxLongPollingTime. 0 disables it. Default 120 s (RocketMQ's
	// serverChannelMaxIdleTimeSeconds and the Go client's read deadline).
	ServerChannelMaxIdleTime time.Duration

	// Listener, if set, is served instead of listening on
	// BrokerIP1:ListenPort (tests pre-listen on 127.0.0.1:0 so the store
	// can be given the address before the broker exists). The broker owns
	// it. Default nil.
	Listener net.Listener
	// Server configures the remoting server. Default
	// remoting.DefaultServerConfig(); the broker installs its own OnClose
	// and a PULL_MESSAGE executor, keeping any OnClose set here.
	Server remoting.ServerConfig
	// Client configures connections to the NameServers and to the leader.
	// Default remoting.DefaultClientConfig().
	Client remoting.ClientConfig
	// Logger receives the broker's logs. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// DefaultConfig returns a Config with every default documented on Config.
func DefaultConfig() Config {
	return Config{
		BrokerName:                     "broker-a",
		BrokerClusterName:              "DefaultCluster",
		ListenPort:                     10911,
		AutoCreateTopicEnable:          true,
		AutoCreateSubscriptionGroup:    true,
		DefaultTopicQueueNums:          8,
		BrokerPermission:               PermRead | PermWrite,
		MaxMessageSize:                 message.MaxBodySize,
		RegionID:                       "DefaultRegion",
		TraceOn:                        true,
		LongPollingEnable:              true,
		ShortPollingTimeMills:          time.Second,
		MaxLongPollingTime:             20 * time.Second,
		PullMaxMsgNums:                 64,
		PullThreads:                    4096,
		RegisterNameServerPeriod:       30 * time.Second,
		RegisterBrokerTimeoutMills:     6 * time.Second,
		ChannelExpiredTimeout:          120 * time.Second,
		ClientScanInterval:             10 * time.Second,
		NotifyConsumerIdsChangedEnable: true,
		MessageDelayLevel:              DefaultMessageDelayLevel,
		MaxReconsumeTimes:              16,
		RetryQueueNums:                 1,
		ScheduleIdleInterval:           time.Second,
		TransactionTimeOut:             6 * time.Second,
		TransactionCheckInterval:       60 * time.Second,
		TransactionCheckMax:            15,
		WriteTimeout:                   2500 * time.Millisecond,
		StorePathRootDir:               "store",
		MappedFileSizeCommitLog:        1 << 30,
		FlushDiskType:                  "SYNC_FLUSH",
		FileReservedTime:               72 * time.Hour,
		DeleteWhen:                     "04",
		DiskMaxUsedSpaceRatio:          75,
		MetricsExporterType:            MetricsDisable,
		MetricsPromExporterPort:        5557,
		ServerChannelMaxIdleTime:       120 * time.Second,
		Server:                         remoting.DefaultServerConfig(),
		Client:                         remoting.DefaultClientConfig(),
		Logger:                         slog.Default(),
		Now:                            time.Now,
	}
}

// Validate reports every invalid field at once; each error wraps ErrConfig.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...))
	}
	if c.BrokerName == "" {
		bad("brokerName is empty")
	} else if err := message.ValidateTopic(c.BrokerName); err != nil {
		bad("brokerName %q: allowed characters are [%%|a-zA-Z0-9_-]", c.BrokerName)
	}
	if c.FileReservedTime < 0 {
		bad("fileReservedTime %v is negative", c.FileReservedTime)
	}
	if _, err := ParseDeleteWhen(c.DeleteWhen); err != nil {
		bad("%v", err)
	}
	if c.DiskMaxUsedSpaceRatio < 10 || c.DiskMaxUsedSpaceRatio > 95 {
		bad("diskMaxUsedSpaceRatio %d not in [10, 95]", c.DiskMaxUsedSpaceRatio)
	}
	if c.MetricsExporterType != MetricsDisable && c.MetricsExporterType != MetricsProm {
		bad("metricsExporterType %q is not DISABLE or PROM (the only exporter served)", c.MetricsExporterType)
	}
	if c.MetricsPromExporterPort < 0 || c.MetricsPromExporterPort > 65535 {
		bad("metricsPromExporterPort %d is not a port", c.MetricsPromExporterPort)
	}
	if c.BrokerClusterName == "" {
		bad("brokerClusterName is empty")
	}
	if c.BrokerID < 0 {
		bad("brokerId %d is negative", c.BrokerID)
	}
	if c.BrokerIP1 != "" {
		if a, err := netip.ParseAddr(c.BrokerIP1); err != nil || !a.Is4() {
			bad("brokerIP1 %q is not an IPv4 address (clients print only IPv4 store hosts)", c.BrokerIP1)
		}
	}
	if c.ListenPort < 0 || c.ListenPort > 65535 {
		bad("listenPort %d out of range [0, 65535]", c.ListenPort)
	}
	if c.BrokerVIP != "" {
		c.validateVIP(bad)
	}
	for _, a := range c.NamesrvAddrs() {
		if _, err := netip.ParseAddrPort(a); err != nil {
			bad("namesrvAddr %q is not ip:port (clients reject host names)", a)
		}
	}
	if c.DefaultTopicQueueNums < 1 || c.DefaultTopicQueueNums > 1024 {
		bad("defaultTopicQueueNums %d out of range [1, 1024]", c.DefaultTopicQueueNums)
	}
	if c.BrokerPermission&^(PermRead|PermWrite|PermInherit|PermPriority) != 0 || c.BrokerPermission < 0 {
		bad("brokerPermission %d has bits outside 0..15", c.BrokerPermission)
	}
	if c.MaxMessageSize < 1 || c.MaxMessageSize > message.MaxBodySize {
		bad("maxMessageSize %d out of range [1, %d]", c.MaxMessageSize, message.MaxBodySize)
	}
	positive := func(name string, d time.Duration) {
		if d <= 0 {
			bad("%s %v must be positive", name, d)
		}
	}
	positive("shortPollingTimeMills", c.ShortPollingTimeMills)
	positive("maxLongPollingTime", c.MaxLongPollingTime)
	if c.MaxLongPollingTime >= 30*time.Second {
		bad("maxLongPollingTime %v must stay below the clients' 30 s pull timeout", c.MaxLongPollingTime)
	}
	if c.PullMaxMsgNums < 1 {
		bad("pullMaxMsgNums %d < 1", c.PullMaxMsgNums)
	}
	if c.PullThreads < 1 {
		bad("pullThreads %d < 1", c.PullThreads)
	}
	positive("registerNameServerPeriod", c.RegisterNameServerPeriod)
	positive("registerBrokerTimeoutMills", c.RegisterBrokerTimeoutMills)
	positive("channelExpiredTimeout", c.ChannelExpiredTimeout)
	positive("clientScanInterval", c.ClientScanInterval)
	if _, err := ParseDelayLevels(c.MessageDelayLevel); err != nil {
		bad("messageDelayLevel: %v", err)
	}
	if c.MaxReconsumeTimes < 0 {
		bad("maxReconsumeTimes %d is negative", c.MaxReconsumeTimes)
	}
	if c.RetryQueueNums < 1 {
		bad("retryQueueNums %d < 1", c.RetryQueueNums)
	}
	positive("scheduleIdleInterval", c.ScheduleIdleInterval)
	positive("transactionTimeOut", c.TransactionTimeOut)
	positive("transactionCheckInterval", c.TransactionCheckInterval)
	if c.TransactionCheckMax < 1 {
		bad("transactionCheckMax %d < 1", c.TransactionCheckMax)
	}
	positive("writeTimeout", c.WriteTimeout)
	if c.MappedFileSizeCommitLog < 4096 || c.MappedFileSizeCommitLog%4096 != 0 {
		bad("mappedFileSizeCommitLog %d must be a positive multiple of 4096", c.MappedFileSizeCommitLog)
	}
	if c.FlushDiskType != "SYNC_FLUSH" && c.FlushDiskType != "ASYNC_FLUSH" {
		bad("flushDiskType %q is neither SYNC_FLUSH nor ASYNC_FLUSH", c.FlushDiskType)
	}
	if c.ServerChannelMaxIdleTime < 0 {
		bad("serverChannelMaxIdleTimeSeconds %v is negative", c.ServerChannelMaxIdleTime)
	}
	if err := c.Server.Validate(); err != nil {
		bad("server: %v", err)
	}
	if err := c.Client.Validate(); err != nil {
		bad("client: %v", err)
	}
	if c.Logger == nil {
		bad("Logger is nil")
	}
	if c.Now == nil {
		bad("Now is nil")
	}
	return errors.Join(errs...)
}

// validateVIP checks BrokerVIP: an IPv4 ip:port with a non-zero port that
// does not collide with this node's own listen address (BrokerIP1 or every
// interface, ListenPort; or the pre-bound Listener's address).
func (c Config) validateVIP(bad func(format string, args ...any)) {
	vip, err := netip.ParseAddrPort(c.BrokerVIP)
	if err != nil || !vip.Addr().Is4() || vip.Addr().IsUnspecified() || vip.Port() == 0 {
		bad("brokerVIP %q is not ip:port with an IPv4 address and a non-zero port (clients reject host names)", c.BrokerVIP)
		return
	}
	collides := func(ip string, port int) bool {
		if port != int(vip.Port()) {
			return false
		}
		a, err := netip.ParseAddr(ip)
		return ip == "" || err == nil && (a.IsUnspecified() || a.Unmap() == vip.Addr())
	}
	if c.ListenPort != 0 && collides(c.BrokerIP1, c.ListenPort) {
		bad("brokerVIP %s collides with this node's listen address %s:%d", c.BrokerVIP, c.BrokerIP1, c.ListenPort)
	}
	if c.Listener != nil {
		if tcp, ok := c.Listener.Addr().(*net.TCPAddr); ok {
			ip := ""
			if tcp.IP != nil {
				ip = tcp.IP.String()
			}
			if collides(ip, tcp.Port) {
				bad("brokerVIP %s collides with this node's listener %s", c.BrokerVIP, tcp)
			}
		}
	}
}

// NamesrvAddrs splits NamesrvAddr on ';' (and ',' for convenience),
// dropping empty pieces.
func (c Config) NamesrvAddrs() []string {
	var out []string
	for _, p := range strings.FieldsFunc(c.NamesrvAddr, func(r rune) bool { return r == ';' || r == ',' }) {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// FollowerBrokerID is the id this node registers with while it follows:
// BrokerID when set, else RocketMQ's DLedger rule (numeric suffix of the
// self id + 1), else 1.
func (c Config) FollowerBrokerID(selfID string) int64 {
	if c.BrokerID > 0 {
		return c.BrokerID
	}
	if selfID == "" {
		selfID = c.DLedgerSelfID
	}
	i := len(selfID)
	for i > 0 && selfID[i-1] >= '0' && selfID[i-1] <= '9' {
		i--
	}
	if n, err := strconv.ParseInt(selfID[i:], 10, 32); err == nil && i < len(selfID) {
		return n + 1
	}
	return 1
}

// ParseDelayLevels parses a messageDelayLevel table: space-separated
// durations with unit ms, s, m, h or d (RocketMQ's units; "ms" is ours).
func ParseDelayLevels(s string) ([]time.Duration, error) {
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return nil, errors.New("no levels")
	}
	out := make([]time.Duration, 0, len(fields))
	for i, f := range fields {
		unit := time.Duration(0)
		num := f
		switch {
		case strings.HasSuffix(f, "ms"):
			unit, num = time.Millisecond, f[:len(f)-2]
		case strings.HasSuffix(f, "s"):
			unit, num = time.Second, f[:len(f)-1]
		case strings.HasSuffix(f, "m"):
			unit, num = time.Minute, f[:len(f)-1]
		case strings.HasSuffix(f, "h"):
			unit, num = time.Hour, f[:len(f)-1]
		case strings.HasSuffix(f, "d"):
			unit, num = 24*time.Hour, f[:len(f)-1]
		}
		n, err := strconv.ParseInt(num, 10, 64)
		if unit == 0 || err != nil || n <= 0 {
			return nil, fmt.Errorf("level %d %q: want a positive number with unit ms, s, m, h or d", i+1, f)
		}
		out = append(out, time.Duration(n)*unit)
	}
	return out, nil
}

// advertiseHost returns the IPv4 address clients reach the broker at.
func (c Config) advertiseHost() (netip.Addr, error) {
	if c.BrokerIP1 != "" {
		return netip.ParseAddr(c.BrokerIP1)
	}
	ifaces, err := net.InterfaceAddrs()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("broker: list interface addresses: %w", err)
	}
	for _, a := range ifaces {
		if pn, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(pn.IP); ok {
				ip = ip.Unmap()
				if ip.Is4() && !ip.IsLoopback() && !ip.IsLinkLocalUnicast() {
					return ip, nil
				}
			}
		}
	}
	return netip.AddrFrom4([4]byte{127, 0, 0, 1}), nil
}
