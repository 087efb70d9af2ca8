package namesrv

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/dledgermq/dledgermq/remoting"
)

// Config configures a name server.
type Config struct {
	// ListenAddr is the TCP address ListenAndServe listens on. Default
	// ":9876", RocketMQ's.
	ListenAddr string
	// BrokerExpiry drops a broker registration that has not been renewed
	// for this long. Default 120 s, RocketMQ's.
	BrokerExpiry time.Duration
	// ScanInterval is how often expired registrations are looked for.
	// Default 10 s; must not exceed BrokerExpiry.
	ScanInterval time.Duration
	// SynthesizeTBW102, when no broker registered the TBW102 topic, answers
	// its route with every broker group that has a master, perm 7 (read,
	// write, inherit) and AutoCreateQueueNums queues, so producers can
	// auto-create topics. Default true.
	SynthesizeTBW102 bool
	// AutoCreateQueueNums is the queue count per broker group of a
	// synthesized TBW102 route. Default 8.
	AutoCreateQueueNums int
	// Conn configures the client connections (limits, idle timeout, ...).
	// Default remoting.DefaultConnConfig(); a nil Conn.Logger means Logger.
	Conn remoting.ConnConfig
	// Logger receives the name server's log. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	conn := remoting.DefaultConnConfig()
	conn.Logger = nil
	return Config{
		ListenAddr:          ":9876",
		BrokerExpiry:        120 * time.Second,
		ScanInterval:        10 * time.Second,
		SynthesizeTBW102:    true,
		AutoCreateQueueNums: 8,
		Conn:                conn,
		Logger:              slog.Default(),
		Now:                 time.Now,
	}
}

// Validate reports every invalid field.
func (c Config) Validate() error {
	var errs []error
	if c.ListenAddr == "" {
		errs = append(errs, errors.New("ListenAddr is empty"))
	}
	if c.BrokerExpiry <= 0 {
		errs = append(errs, fmt.Errorf("BrokerExpiry %v must be positive", c.BrokerExpiry))
	}
	if c.ScanInterval <= 0 || c.ScanInterval > c.BrokerExpiry {
		errs = append(errs, fmt.Errorf("ScanInterval %v must be in (0, BrokerExpiry %v]", c.ScanInterval, c.BrokerExpiry))
	}
	if c.AutoCreateQueueNums < 1 || c.AutoCreateQueueNums > 1024 {
		errs = append(errs, fmt.Errorf("AutoCreateQueueNums %d out of range [1, 1024]", c.AutoCreateQueueNums))
	}
	if c.Logger == nil {
		errs = append(errs, errors.New("Logger is nil"))
	}
	if c.Now == nil {
		errs = append(errs, errors.New("Now is nil"))
	}
	conn := c.Conn
	if conn.Logger == nil {
		conn.Logger = slog.Default() // filled in from Logger by New
	}
	if err := conn.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("namesrv: invalid config: %w", errors.Join(errs...))
	}
	return nil
}
