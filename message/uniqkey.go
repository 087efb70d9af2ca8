package message

import (
	"encoding"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"
)

// UniqID is the client-side message id a producer puts in the UNIQ_KEY
// property (RocketMQ MessageClientIDSetter). Text form: upper-case hex of
// ip(4|16) ‖ pid uint16 ‖ salt int32 ‖ delta uint32 ‖ counter uint16 — 32
// chars for IPv4, 56 for IPv6. Brokers treat it as opaque.
type UniqID struct {
	IP      netip.Addr // producer host
	PID     uint16     // low 16 bits of the producer's process id
	Salt    int32      // Java: class-loader hash code; Go client v2.1.2: 0; ours: random per generator
	Delta   uint32     // ms since the start of the producer's local month (Go client: whole seconds × 1000)
	Counter uint16     // per-process sequence number
}

var (
	_ fmt.Stringer             = UniqID{}
	_ encoding.TextAppender    = UniqID{}
	_ encoding.TextMarshaler   = UniqID{}
	_ encoding.TextUnmarshaler = (*UniqID)(nil)
)

const (
	uniqIDLenV4 = 2 * (4 + 2 + 4 + 4 + 2)  // 32
	uniqIDLenV6 = 2 * (16 + 2 + 4 + 4 + 2) // 56
)

// AppendText implements encoding.TextAppender. A non-IPv4 address takes the
// 16-byte form; an invalid one is written as 0.0.0.0.
func (id UniqID) AppendText(dst []byte) ([]byte, error) {
	return appendHex(dst, id.appendPrefix(make([]byte, 0, 28), id.Delta, id.Counter)), nil
}

func (id UniqID) appendPrefix(raw []byte, delta uint32, counter uint16) []byte {
	switch {
	case id.IP.Is4():
		b := id.IP.As4()
		raw = append(raw, b[:]...)
	case id.IP.IsValid():
		b := id.IP.As16()
		raw = append(raw, b[:]...)
	default:
		raw = append(raw, 0, 0, 0, 0)
	}
	raw = binary.BigEndian.AppendUint16(raw, id.PID)
	raw = binary.BigEndian.AppendUint32(raw, uint32(id.Salt))
	raw = binary.BigEndian.AppendUint32(raw, delta)
	return binary.BigEndian.AppendUint16(raw, counter)
}

// MarshalText implements encoding.TextMarshaler.
func (id UniqID) MarshalText() ([]byte, error) { return id.AppendText(nil) }

// String returns the 32- or 56-char id.
func (id UniqID) String() string {
	b, _ := id.AppendText(make([]byte, 0, uniqIDLenV6))
	return string(b)
}

// UnmarshalText implements encoding.TextUnmarshaler (see ParseUniqID).
func (id *UniqID) UnmarshalText(b []byte) error {
	v, err := ParseUniqID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// ParseUniqID parses a 32- or 56-char UNIQ_KEY, hex in either case (Java
// writes upper case, the Go client v2.1.2 lower-cases the last 12 chars).
// Errors wrap ErrBadMsgID.
func ParseUniqID(s string) (UniqID, error) {
	var raw [28]byte
	var ipLen int
	switch len(s) {
	case uniqIDLenV4:
		ipLen = 4
	case uniqIDLenV6:
		ipLen = 16
	default:
		return UniqID{}, fmt.Errorf("%w: UNIQ_KEY %q has %d chars, want %d or %d",
			ErrBadMsgID, s, len(s), uniqIDLenV4, uniqIDLenV6)
	}
	b := raw[:len(s)/2]
	if !decodeHex(b, s) {
		return UniqID{}, fmt.Errorf("%w: UNIQ_KEY %q is not hex", ErrBadMsgID, s)
	}
	var ip netip.Addr
	if ipLen == 4 {
		ip = netip.AddrFrom4([4]byte(b[:4]))
	} else {
		ip = netip.AddrFrom16([16]byte(b[:16]))
	}
	b = b[ipLen:]
	return UniqID{
		IP:      ip,
		PID:     binary.BigEndian.Uint16(b),
		Salt:    int32(binary.BigEndian.Uint32(b[2:])),
		Delta:   binary.BigEndian.Uint32(b[6:]),
		Counter: binary.BigEndian.Uint16(b[10:]),
	}, nil
}

// monthStart returns 00:00 on the first day of t's month in t's location.
func monthStart(t time.Time) time.Time {
	y, m, _ := t.Date()
	return time.Date(y, m, 1, 0, 0, 0, 0, t.Location())
}

// NearlyTime reconstructs the id's creation time as Java's
// getNearlyTimeFromID does: the start of now's month (in now's location)
// plus Delta, or the previous month's start plus Delta when that would not
// be before now. Pass now in the producer's time zone.
func (id UniqID) NearlyTime(now time.Time) time.Time {
	start := monthStart(now)
	span := time.Duration(id.Delta) * time.Millisecond
	if !start.Add(span).Before(now) {
		start = start.AddDate(0, -1, 0)
	}
	return start.Add(span)
}

// IDGeneratorConfig configures an IDGenerator.
type IDGeneratorConfig struct {
	// IP is the producer address put in every id. Default: the first
	// non-loopback IPv4 address of this host, else a stand-in derived from
	// the clock (as Java does).
	IP netip.Addr
	// PID is the process id; only its low 16 bits are used. Default os.Getpid().
	PID int
	// Salt fills Java's class-loader-hash slot. Default: random, so two
	// processes with equal PIDs (containers run as PID 1) still differ.
	Salt int32
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Location defines month boundaries for Delta. Default time.Local (Java
	// uses the JVM's default time zone).
	Location *time.Location
}

// DefaultIDGeneratorConfig returns the defaults described on the fields.
func DefaultIDGeneratorConfig() IDGeneratorConfig {
	c := IDGeneratorConfig{
		PID:      os.Getpid(),
		Salt:     rand.Int32(),
		Now:      time.Now,
		Location: time.Local,
	}
	c.IP = localIPv4()
	if !c.IP.IsValid() {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(time.Now().UnixMilli()))
		c.IP = netip.AddrFrom4([4]byte(b[4:]))
	}
	return c
}

// localIPv4 returns the first non-loopback, non-link-local IPv4 address of
// this host, or the zero Addr.
func localIPv4() netip.Addr {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return netip.Addr{}
	}
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(n.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		if ip.Is4() && !ip.IsLoopback() && !ip.IsLinkLocalUnicast() {
			return ip
		}
	}
	return netip.Addr{}
}

// Validate reports every problem with c.
func (c IDGeneratorConfig) Validate() error {
	var errs []error
	if !c.IP.IsValid() {
		errs = append(errs, errors.New("message: IDGeneratorConfig.IP is not a valid address"))
	}
	if c.Now == nil {
		errs = append(errs, errors.New("message: IDGeneratorConfig.Now is nil"))
	}
	if c.Location == nil {
		errs = append(errs, errors.New("message: IDGeneratorConfig.Location is nil"))
	}
	return errors.Join(errs...)
}

// IDGenerator creates UNIQ_KEY values. It is safe for concurrent use.
type IDGenerator struct {
	prefix UniqID // IP, PID, Salt
	now    func() time.Time
	loc    *time.Location

	mu        sync.Mutex
	counter   uint16
	start     int64 // ms: this month's start
	nextStart int64 // ms: next month's start
}

// NewIDGenerator returns a generator for c.
func NewIDGenerator(c IDGeneratorConfig) (*IDGenerator, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	ip := c.IP.Unmap()
	return &IDGenerator{
		prefix: UniqID{IP: ip, PID: uint16(c.PID), Salt: c.Salt},
		now:    c.Now,
		loc:    c.Location,
	}, nil
}

// NextID returns the next id.
func (g *IDGenerator) NextID() UniqID {
	now := g.now().UnixMilli()
	g.mu.Lock()
	if now >= g.nextStart || now < g.start-1_000_000 {
		s := monthStart(time.UnixMilli(now).In(g.loc))
		g.start, g.nextStart = s.UnixMilli(), s.AddDate(0, 1, 0).UnixMilli()
	}
	diff := now - g.start
	if diff < 0 { // clock stepped back a little across a month boundary
		diff = 0
	}
	id := g.prefix
	id.Delta = uint32(diff)
	id.Counter = g.counter
	g.counter++
	g.mu.Unlock()
	return id
}

// Next returns the next id as text.
func (g *IDGenerator) Next() string { return g.NextID().String() }
