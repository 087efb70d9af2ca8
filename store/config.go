package store

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"time"

	"github.com/dledgermq/dledgermq/consumequeue"
	"github.com/dledgermq/dledgermq/dledger"
	"github.com/dledgermq/dledgermq/internal/vfs"
)

// Config configures a Store. Start from DefaultConfig and set Dir,
// DLedger.ID, DLedger.Peers and StoreHost.
type Config struct {
	// Dir is the store's root directory. The consume queues live in
	// Dir/consumequeue and the key index in Dir/index; the Raft node's
	// data (commit log, Raft index, stable store, snapshots) in DLedger.Dir,
	// which defaults to Dir/dledger. Required.
	Dir string
	// DLedger configures this replica's Raft node (ID, Peers, timeouts,
	// segment size, flush mode). Dir, Logger and FS are filled from the
	// store's when empty. LogStore must be dledger.LogStoreCommitLog: the
	// store reads messages back from the commit log by physical offset.
	// Default dledger.DefaultConfig().
	DLedger dledger.Config
	// StoreHost is the broker's client-facing address, stamped into every
	// stored message (STOREHOSTADDRESS) and so into its offset msg id. Use
	// an IPv4 address (the Go client mis-prints IPv6 hosts). Required.
	StoreHost netip.AddrPort

	// ConsumeQueueEntriesPerFile is the number of 32-byte entries per
	// consume-queue file. Default consumequeue.DefaultEntriesPerFile
	// (300,000).
	ConsumeQueueEntriesPerFile int
	// Index configures the key index (package indexfile); zero fields take
	// its defaults. Default DefaultIndexConfig(): RocketMQ's 5,000,000
	// slots and 20,000,000 entries per file, a ~660 MB file preallocated
	// when the first key is indexed — tests want much smaller values.
	Index IndexConfig
	// FlushInterval is how often the consume queues and the key index are
	// made durable (their checkpoints advanced). They are derived state:
	// after a crash they are caught up from the commit log, so a longer
	// interval only means a longer catch-up. Default 1 s.
	FlushInterval time.Duration

	// GroupCommit packs concurrently arriving writes into one Raft entry
	// (see PutMessages). Off, every PutMessages call is its own entry
	// (a baseline for benchmarks). Default true.
	GroupCommit bool
	// MaxBatchMessages is the most messages one Raft entry carries; a
	// single PutMessages call larger than this still goes in one entry.
	// Default 4096.
	MaxBatchMessages int
	// MaxBatchBytes is the most encoded message bytes one Raft entry
	// carries when it packs several calls; a single larger call still goes
	// in one entry if it fits a commit-log record. Clamped to the commit
	// log's record limit. Default 4 MiB.
	MaxBatchBytes int
	// MaxInflight is how many group-commit entries may be proposed and not
	// yet applied at once (pipelining). While all are in flight, arriving
	// writes accumulate into the next entry. Default 4.
	MaxInflight int
	// ApplyTimeout bounds how long a proposal may wait for Raft to accept
	// it (raft.Apply's enqueue timeout); the caller's context bounds the
	// whole write. Default 5 s.
	ApplyTimeout time.Duration
	// LeaderBarrierTimeout bounds the barrier a new leader runs before the
	// store reports it as leader (OnLeaderChange), so that everything
	// committed by earlier leaders is applied first. Default 10 s.
	LeaderBarrierTimeout time.Duration

	// MaxGetBytes caps the bytes one GetMessages call returns (the first
	// message is returned even if larger). Default 256 KiB (RocketMQ's
	// maxTransferBytesOnMessageInMemory).
	MaxGetBytes int
	// MaxGetScan is the fewest consume-queue entries one GetMessages call
	// examines when the filter skips messages (RocketMQ's
	// maxFilterMessageCount: 16000 bytes of 20-byte entries). Default 800.
	MaxGetScan int

	// FileReservedTime is how long messages are kept (broker.conf
	// fileReservedTime, in hours): the retention loop drops the commit-log
	// segments whose every entry its leader appended longer ago than this,
	// at an hour listed in DeleteWhen or at once while the disk is fuller
	// than DiskMaxUsedSpaceRatio (see retention.go). 0 keeps everything.
	// Default 72 h (RocketMQ's).
	FileReservedTime time.Duration
	// DeleteWhen lists the hours of the day, local time, at which expired
	// segments are dropped (deleteWhen, "04" or "04;16"). Default [4].
	DeleteWhen []int
	// DiskMaxUsedSpaceRatio is the percentage of the commit log's file
	// system in use above which expired segments are dropped whatever the
	// hour (diskMaxUsedSpaceRatio, 10-95). Default 75.
	DiskMaxUsedSpaceRatio int
	// RetentionInterval is how often the retention loop looks. Default
	// 10 s (RocketMQ's cleanResourceInterval).
	RetentionInterval time.Duration

	// Clock gives the leader's store timestamp. It is called only on the
	// leader, before a message is proposed, never while applying. Default
	// time.Now.
	Clock func() time.Time
	// Logger receives the store's logs (and the node's, unless
	// DLedger.Logger is set). Default: discard.
	Logger *slog.Logger
	// FS is the file system of the consume queues and the key index (and of
	// the commit log, unless DLedger.FS is set). Default vfs.OS.
	FS vfs.FS
}

// DefaultConfig returns a Config with every default filled in.
func DefaultConfig() Config {
	return Config{
		DLedger:                    dledger.DefaultConfig(),
		ConsumeQueueEntriesPerFile: consumequeue.DefaultEntriesPerFile,
		Index:                      DefaultIndexConfig(),
		FlushInterval:              time.Second,
		GroupCommit:                true,
		MaxBatchMessages:           4096,
		MaxBatchBytes:              4 << 20,
		MaxInflight:                4,
		ApplyTimeout:               5 * time.Second,
		LeaderBarrierTimeout:       10 * time.Second,
		MaxGetBytes:                256 << 10,
		MaxGetScan:                 800,
		FileReservedTime:           72 * time.Hour,
		DeleteWhen:                 []int{4},
		DiskMaxUsedSpaceRatio:      75,
		RetentionInterval:          10 * time.Second,
		Clock:                      time.Now,
		FS:                         vfs.OS,
	}
}

// withDefaults fills the fields the store derives from others.
func (c Config) withDefaults() Config {
	if c.DLedger.Dir == "" && c.Dir != "" {
		c.DLedger.Dir = filepath.Join(c.Dir, "dledger")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.DLedger.Logger == nil {
		c.DLedger.Logger = c.Logger
	}
	if c.FS == nil {
		c.FS = vfs.OS
	}
	if c.DLedger.FS == nil {
		c.DLedger.FS = c.FS
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	return c
}

// Validate reports every problem at once (after filling the derived
// defaults Open fills: DLedger.Dir, loggers, FS, Clock).
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...))
	}
	if c.Dir == "" {
		bad("Dir is empty")
	}
	if c.FileReservedTime < 0 {
		bad("FileReservedTime %v is negative", c.FileReservedTime)
	}
	for _, h := range c.DeleteWhen {
		if h < 0 || h > 23 {
			bad("DeleteWhen hour %d not in [0, 23]", h)
		}
	}
	if c.DiskMaxUsedSpaceRatio < 10 || c.DiskMaxUsedSpaceRatio > 95 {
		bad("DiskMaxUsedSpaceRatio %d not in [10, 95]", c.DiskMaxUsedSpaceRatio)
	}
	if c.RetentionInterval < 10*time.Millisecond {
		bad("RetentionInterval %v below 10ms", c.RetentionInterval)
	}
	if err := c.DLedger.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("%w: DLedger: %w", ErrConfig, err))
	}
	if c.DLedger.LogStore != dledger.LogStoreCommitLog {
		bad("DLedger.LogStore is %q; the store needs %q (it reads messages by physical offset)",
			c.DLedger.LogStore, dledger.LogStoreCommitLog)
	}
	if !c.StoreHost.IsValid() || c.StoreHost.Addr().IsUnspecified() {
		bad("StoreHost %v must be a concrete ip:port", c.StoreHost)
	}
	if c.ConsumeQueueEntriesPerFile < 1 {
		bad("ConsumeQueueEntriesPerFile %d must be positive", c.ConsumeQueueEntriesPerFile)
	}
	if err := c.Index.validate(); err != nil {
		errs = append(errs, err)
	}
	if c.FlushInterval <= 0 {
		bad("FlushInterval %v must be positive", c.FlushInterval)
	}
	if c.MaxBatchMessages < 1 || c.MaxBatchMessages > maxEntryItems {
		bad("MaxBatchMessages %d must be in [1, %d]", c.MaxBatchMessages, maxEntryItems)
	}
	if c.MaxBatchBytes < 4096 {
		bad("MaxBatchBytes %d below 4096", c.MaxBatchBytes)
	}
	if c.MaxInflight < 1 {
		bad("MaxInflight %d must be positive", c.MaxInflight)
	}
	if c.ApplyTimeout <= 0 {
		bad("ApplyTimeout %v must be positive", c.ApplyTimeout)
	}
	if c.LeaderBarrierTimeout <= 0 {
		bad("LeaderBarrierTimeout %v must be positive", c.LeaderBarrierTimeout)
	}
	if c.MaxGetBytes < 1 {
		bad("MaxGetBytes %d must be positive", c.MaxGetBytes)
	}
	if c.MaxGetScan < 1 {
		bad("MaxGetScan %d must be positive", c.MaxGetScan)
	}
	return errors.Join(errs...)
}
