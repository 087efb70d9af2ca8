package jepsen

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// firewallChain is the iptables chain that holds every rule the Firewall
// adds; INPUT and OUTPUT jump to it, so Heal is one flush.
const firewallChain = "JEPSEN"

// Firewall cuts traffic between addresses inside one Netns with iptables.
// Loopback packets cross OUTPUT and then INPUT, and both jump to the
// JEPSEN chain, so a rule matches whichever hook sees the packet first.
// Rules match source and destination addresses: nodes must bind their
// outgoing connections to their own address (see DESIGN.md: hashicorp's
// TCP stream layer does not, so the broker uses its own).
//
// Safe for concurrent use; rules are applied one command at a time.
type Firewall struct {
	ns     *Netns
	reject bool

	mu    sync.Mutex
	rules [][]string // rule specs currently in the chain, for Rules()
}

// FirewallTools are the external commands a Firewall needs.
var FirewallTools = []string{"iptables"}

// NewFirewall creates the JEPSEN chain in ns. With reject, blocked packets
// are refused at once (TCP reset, ICMP unreachable) instead of dropped
// (the default: a partition looks like a silent network, connections and
// requests time out).
func NewFirewall(ctx context.Context, ns *Netns, reject bool) (*Firewall, error) {
	if err := CheckTools(FirewallTools...); err != nil {
		return nil, err
	}
	f := &Firewall{ns: ns, reject: reject}
	steps := [][]string{
		{"-N", firewallChain},
		{"-I", "INPUT", "-j", firewallChain},
		{"-I", "OUTPUT", "-j", firewallChain},
	}
	for _, s := range steps {
		if err := f.iptables(ctx, s...); err != nil {
			return nil, err
		}
	}
	return f, nil
}

func (f *Firewall) iptables(ctx context.Context, args ...string) error {
	_, err := f.ns.Run(ctx, "iptables", append([]string{"-w", "5"}, args...)...)
	return err
}

func (f *Firewall) target() []string {
	if f.reject {
		return []string{"-j", "REJECT"}
	}
	return []string{"-j", "DROP"}
}

// addLocked appends one rule. f.mu is held.
func (f *Firewall) addLocked(ctx context.Context, match ...string) error {
	spec := slices.Concat(match, f.target())
	if err := f.iptables(ctx, append([]string{"-A", firewallChain}, spec...)...); err != nil {
		return err
	}
	f.rules = append(f.rules, spec)
	return nil
}

// Block drops packets from one address to another (one direction).
func (f *Firewall) Block(ctx context.Context, from, to netip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.addLocked(ctx, "-s", from.String(), "-d", to.String())
}

// BlockPort drops packets from one address to one destination port of
// another (from may be the zero Addr: any source). Use it to cut one
// service (raft, remoting) of a node and leave the others.
func (f *Firewall) BlockPort(ctx context.Context, from netip.Addr, to netip.AddrPort) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := []string{"-p", "tcp", "-d", to.Addr().String(), "--dport", strconv.Itoa(int(to.Port()))}
	if from.IsValid() {
		m = append([]string{"-s", from.String()}, m...)
	}
	return f.addLocked(ctx, m...)
}

// Partition cuts every pair (a, b) with a in side1 and b in side2, both
// ways. Addresses in neither side keep talking to everyone: a partial
// partition is Partition({n0}, {n1}) with n2 still bridging.
func (f *Firewall) Partition(ctx context.Context, side1, side2 []netip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range side1 {
		for _, b := range side2 {
			if err := f.addLocked(ctx, "-s", a.String(), "-d", b.String()); err != nil {
				return err
			}
			if err := f.addLocked(ctx, "-s", b.String(), "-d", a.String()); err != nil {
				return err
			}
		}
	}
	return nil
}

// Isolate cuts addr from every other address, clients included (traffic
// from addr to itself still flows).
func (f *Firewall) Isolate(ctx context.Context, addr netip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := addr.String()
	if err := f.addLocked(ctx, "-s", a, "!", "-d", a); err != nil {
		return err
	}
	return f.addLocked(ctx, "!", "-s", a, "-d", a)
}

// Heal removes every rule.
func (f *Firewall) Heal(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.iptables(ctx, "-F", firewallChain); err != nil {
		return err
	}
	f.rules = nil
	return nil
}

// Rules returns the rules in effect as iptables prints them (-S), for logs
// and assertions.
func (f *Firewall) Rules(ctx context.Context) ([]string, error) {
	out, err := f.ns.Run(ctx, "iptables", "-w", "5", "-S", firewallChain)
	if err != nil {
		return nil, err
	}
	var rules []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.HasPrefix(l, "-A ") {
			rules = append(rules, l)
		}
	}
	return rules, nil
}

// String describes the rules the firewall added.
func (f *Firewall) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var b strings.Builder
	for _, r := range f.rules {
		fmt.Fprintf(&b, "%s; ", strings.Join(r, " "))
	}
	return strings.TrimSuffix(b.String(), "; ")
}
