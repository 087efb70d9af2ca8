package dledger

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/dledgermq/dledgermq/commitlog"
	"github.com/dledgermq/dledgermq/internal/vfs"
)

// LogStoreKind selects the raft log store.
type LogStoreKind string

const (
	// LogStoreCommitLog stores raft entries as commit-log records (the
	// design: messages are written once per replica).
	LogStoreCommitLog LogStoreKind = "commitlog"
	// LogStoreBolt stores raft entries in raft-boltdb/v2 (with raft's
	// LogCache in front). It exists as a benchmark baseline only: entries
	// have no physical offsets (Entry.DataOffset is -1).
	LogStoreBolt LogStoreKind = "bolt"
	// LogStoreMemory keeps the most recent 65,536 entries in memory and the
	// stable state in raft's InmemStore: nothing is written to disk and a
	// restart loses the node's state. It measures what hashicorp/raft itself
	// costs (the ceiling any log store reaches) and is for benchmarks only.
	LogStoreMemory LogStoreKind = "memory"
)

// Peer is one member of a raft group.
type Peer struct {
	ID   string // raft server ID, unique in the group
	Addr string // "ip:port" the node's raft transport listens on
}

// ParsePeers parses "n0=127.0.0.1:20911,n1=127.0.0.1:20912,...". Order is
// kept: it is the order of the bootstrap configuration, which must be the
// same on every node.
func ParsePeers(s string) ([]Peer, error) {
	var peers []Peer
	var errs []error
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		id, addr, ok := strings.Cut(part, "=")
		id, addr = strings.TrimSpace(id), strings.TrimSpace(addr)
		if !ok || id == "" || addr == "" {
			errs = append(errs, fmt.Errorf("%w: peer %q is not id=host:port", ErrConfig, part))
			continue
		}
		peers = append(peers, Peer{ID: id, Addr: addr})
	}
	if len(peers) == 0 && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("%w: no peers in %q", ErrConfig, s))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return peers, nil
}

// FormatPeers is the inverse of ParsePeers.
func FormatPeers(peers []Peer) string {
	parts := make([]string, len(peers))
	for i, p := range peers {
		parts[i] = p.ID + "=" + p.Addr
	}
	return strings.Join(parts, ",")
}

// Config configures a Node. Start from DefaultConfig.
type Config struct {
	// ID is this node's raft server ID; it must appear in Peers. Required.
	ID string
	// Peers is the initial membership, used to bootstrap a group that has
	// no state yet (see ParsePeers). Every node gets the same list. Required.
	Peers []Peer
	// Join makes a node without state wait to be added by the group's
	// leader (Node.AddVoter) instead of bootstrapping from Peers. A node
	// added to a running group, and a wiped node of a group whose membership
	// changed since it was bootstrapped, must start with Join: bootstrapping
	// would give it an index-1 configuration entry that differs from the
	// group's under the same index and term. Peers must still name this
	// node (its own address).
	Join bool
	// Dir holds the node's data: commitlog/, index/ (commit-log store),
	// raft.db (bolt store), stable.db, snapshots/. Required.
	Dir string
	// SegmentSize is the commit-log segment size in bytes, a multiple of
	// 4 KiB; all nodes of a group must use the same. Default 1 GiB.
	SegmentSize int64
	// Flush is the commit-log flush mode. Default commitlog.FlushSync: an
	// entry is durable on a node before the node acknowledges it.
	// FlushAsync trades that for latency: up to FlushInterval of
	// acknowledged entries can be lost if a majority loses power together.
	Flush commitlog.FlushMode
	// FlushInterval is the commit log's background flush period. Default
	// 500 ms.
	FlushInterval time.Duration
	// CacheWindow is how many bytes at the tail of the commit log keep
	// their page cache; durable bytes further back are released
	// (commitlog.Options.CacheWindow). 0 takes the commit log's default
	// (256 MiB); negative keeps everything cached.
	CacheWindow int64
	// WarmSegments writes every commit-log segment with zeros before use
	// (commitlog.Options.WarmSegments). Default false.
	WarmSegments bool
	// LogStore selects the raft log store. Default LogStoreCommitLog.
	LogStore LogStoreKind
	// LogCacheEntries is how many recent entries the log store serves from
	// memory. Default 4096; 0 disables.
	LogCacheEntries int
	// IndexSlotsPerFile is the number of entries per index file. Default
	// 1<<20.
	IndexSlotsPerFile uint64

	// HeartbeatTimeout is how long a follower waits without hearing from a
	// leader before it campaigns (raft randomises in [1x, 2x)). Default
	// 300 ms: with ElectionTimeout and LeaderLeaseTimeout below, a dead
	// leader is replaced and clients are writing again in about 0.6–0.9 s
	// on loopback (bin/bench --kill-leader-at; 400 ms gave 0.94–1.05 s).
	HeartbeatTimeout time.Duration
	// ElectionTimeout is how long a candidate waits for votes. Default
	// 300 ms; must be >= HeartbeatTimeout.
	ElectionTimeout time.Duration
	// LeaderLeaseTimeout is how long a leader stays leader without
	// contact from a quorum. Default 250 ms; must be <= HeartbeatTimeout.
	LeaderLeaseTimeout time.Duration
	// CommitTimeout is the longest an idle leader waits before telling
	// followers the commit index. Default 20 ms.
	CommitTimeout time.Duration
	// MaxAppendEntries is the most entries per AppendEntries RPC and per
	// leader batch. Default 512 (raft allows up to 1024).
	MaxAppendEntries int
	// SnapshotInterval is how often raft checks whether to snapshot.
	// Default 120 s.
	SnapshotInterval time.Duration
	// SnapshotThreshold is how many entries since the last snapshot
	// trigger one. Default 65536.
	SnapshotThreshold uint64
	// TrailingLogs is how many entries raft keeps logically after a
	// snapshot (prefix compaction stops there). Default 10240.
	TrailingLogs uint64
	// SnapshotRetain is how many snapshots are kept on disk. Default 2.
	SnapshotRetain int
	// TransportTimeout is the I/O deadline of one raft RPC. Default 2 s.
	TransportTimeout time.Duration
	// TransportMaxPool is how many idle connections are kept per peer.
	// Default 3.
	TransportMaxPool int
	// TransportMaxInFlight bounds the AppendEntries a leader on the
	// commit-log store keeps in flight to one follower. Default 8.
	TransportMaxInFlight int
	// ShutdownTransferTimeout bounds the leadership transfer Shutdown does
	// on a leader. Default 2 s.
	ShutdownTransferTimeout time.Duration

	// Logger receives the node's and raft's logs. Default: discard.
	Logger *slog.Logger
	// FS is the file system of the commit-log store. The stable store,
	// snapshots and the bolt store always use the OS file system (they are
	// synced on every write). Default vfs.OS.
	FS vfs.FS
}

// DefaultConfig returns a Config with every default filled in; set ID, Peers
// and Dir.
func DefaultConfig() Config {
	return Config{
		SegmentSize:             commitlog.DefaultSegmentSize,
		Flush:                   commitlog.FlushSync,
		FlushInterval:           commitlog.DefaultFlushInterval,
		LogStore:                LogStoreCommitLog,
		LogCacheEntries:         4096,
		IndexSlotsPerFile:       1 << 20,
		HeartbeatTimeout:        300 * time.Millisecond,
		ElectionTimeout:         300 * time.Millisecond,
		LeaderLeaseTimeout:      250 * time.Millisecond,
		CommitTimeout:           20 * time.Millisecond,
		MaxAppendEntries:        512,
		SnapshotInterval:        120 * time.Second,
		SnapshotThreshold:       65536,
		TrailingLogs:            10240,
		SnapshotRetain:          2,
		TransportTimeout:        2 * time.Second,
		TransportMaxPool:        3,
		TransportMaxInFlight:    8,
		ShutdownTransferTimeout: 2 * time.Second,
		FS:                      vfs.OS,
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...))
	}
	if c.ID == "" {
		bad("ID is empty")
	}
	if len(c.Peers) == 0 {
		bad("Peers is empty")
	}
	ids, addrs := map[string]bool{}, map[string]bool{}
	self := false
	for _, p := range c.Peers {
		if p.ID == "" {
			bad("peer with empty ID (addr %q)", p.Addr)
		}
		if ids[p.ID] {
			bad("peer ID %q appears twice", p.ID)
		}
		if addrs[p.Addr] {
			bad("peer address %q appears twice", p.Addr)
		}
		ids[p.ID], addrs[p.Addr] = true, true
		if p.ID == c.ID {
			self = true
		}
		host, port, err := net.SplitHostPort(p.Addr)
		if err != nil || port == "" || port == "0" {
			bad("peer %q address %q is not ip:port", p.ID, p.Addr)
		} else if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
			bad("peer %q address %q needs a concrete IP (it is also the dial source)", p.ID, p.Addr)
		}
	}
	if c.ID != "" && len(c.Peers) > 0 && !self {
		bad("ID %q is not among Peers", c.ID)
	}
	if c.Dir == "" {
		bad("Dir is empty")
	}
	if c.SegmentSize < commitlog.MinSegmentSize || c.SegmentSize > commitlog.MaxSegmentSize || c.SegmentSize%4096 != 0 {
		bad("SegmentSize %d must be a multiple of 4096 in [%d, %d]", c.SegmentSize, commitlog.MinSegmentSize, commitlog.MaxSegmentSize)
	}
	if c.Flush != commitlog.FlushSync && c.Flush != commitlog.FlushAsync {
		bad("Flush %d unknown", c.Flush)
	}
	if c.FlushInterval <= 0 {
		bad("FlushInterval %v must be positive", c.FlushInterval)
	}
	if c.LogStore != LogStoreCommitLog && c.LogStore != LogStoreBolt && c.LogStore != LogStoreMemory {
		bad("LogStore %q is not %q or %q", c.LogStore, LogStoreCommitLog, LogStoreBolt)
	}
	if c.LogCacheEntries < 0 {
		bad("LogCacheEntries %d must not be negative", c.LogCacheEntries)
	}
	if c.IndexSlotsPerFile == 0 || c.IndexSlotsPerFile > 1<<32 {
		bad("IndexSlotsPerFile %d must be in [1, 2^32]", c.IndexSlotsPerFile)
	}
	// The raft limits (raft.ValidateConfig), reported all at once.
	if c.HeartbeatTimeout < 5*time.Millisecond {
		bad("HeartbeatTimeout %v below 5ms", c.HeartbeatTimeout)
	}
	if c.ElectionTimeout < c.HeartbeatTimeout {
		bad("ElectionTimeout %v below HeartbeatTimeout %v", c.ElectionTimeout, c.HeartbeatTimeout)
	}
	if c.LeaderLeaseTimeout < 5*time.Millisecond || c.LeaderLeaseTimeout > c.HeartbeatTimeout {
		bad("LeaderLeaseTimeout %v must be in [5ms, HeartbeatTimeout %v]", c.LeaderLeaseTimeout, c.HeartbeatTimeout)
	}
	if c.CommitTimeout < time.Millisecond {
		bad("CommitTimeout %v below 1ms", c.CommitTimeout)
	}
	if c.MaxAppendEntries <= 0 || c.MaxAppendEntries > 1024 {
		bad("MaxAppendEntries %d must be in [1, 1024]", c.MaxAppendEntries)
	}
	if c.SnapshotInterval < 5*time.Millisecond {
		bad("SnapshotInterval %v below 5ms", c.SnapshotInterval)
	}
	if c.SnapshotRetain < 1 {
		bad("SnapshotRetain %d must be at least 1", c.SnapshotRetain)
	}
	if c.TransportTimeout <= 0 {
		bad("TransportTimeout %v must be positive", c.TransportTimeout)
	}
	if c.TransportMaxPool <= 0 {
		bad("TransportMaxPool %d must be positive", c.TransportMaxPool)
	}
	if c.TransportMaxInFlight < 2 || c.TransportMaxInFlight > 1024 {
		bad("TransportMaxInFlight %d must be in [2, 1024]", c.TransportMaxInFlight)
	}
	if c.ShutdownTransferTimeout <= 0 {
		bad("ShutdownTransferTimeout %v must be positive", c.ShutdownTransferTimeout)
	}
	if c.FS == nil {
		bad("FS is nil")
	}
	return errors.Join(errs...)
}

// self returns this node's peer entry.
func (c Config) self() Peer {
	for _, p := range c.Peers {
		if p.ID == c.ID {
			return p
		}
	}
	return Peer{}
}
