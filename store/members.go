package store

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/raft"
)

// Membership. A group's members change one at a time through Raft
// (hashicorp/raft's single-server changes, each a configuration entry
// committed by the old and new majorities' overlap). To replace a dead
// replica: remove it, then start the new one with dledger.Config.Join
// (so it does not bootstrap a configuration of its own) and add it; the
// leader brings it up to date as it does a wiped replica. Changes run on
// the leader only (ErrNotLeader elsewhere).

// Member is one server of the group's Raft configuration.
type Member struct {
	ID    string `json:"id"`
	Addr  string `json:"addr"`
	Voter bool   `json:"voter"`
}

// Members returns the latest Raft configuration this replica knows.
func (s *Store) Members() ([]Member, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	servers, err := s.node.Members()
	if err != nil {
		return nil, mapRaftErr(err)
	}
	out := make([]Member, len(servers))
	for i, sv := range servers {
		out[i] = Member{ID: string(sv.ID), Addr: string(sv.Address), Voter: sv.Suffrage == raft.Voter}
	}
	return out, nil
}

// AddVoter adds the server id at addr (its Raft address) as a voting
// member, or updates its address. It returns once the configuration entry
// is committed; the new member then catches up from the leader.
func (s *Store) AddVoter(ctx context.Context, id, addr string) error {
	if id == "" {
		return fmt.Errorf("%w: member id is required", ErrInvalid)
	}
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
		return fmt.Errorf("%w: member address %q is not host:port", ErrInvalid, addr)
	}
	return s.changeMembers(ctx, func(timeout time.Duration) error { return s.node.AddVoter(id, addr, timeout) })
}

// RemoveMember removes the server id from the group. Removing the leader
// itself makes it step down once the change commits.
func (s *Store) RemoveMember(ctx context.Context, id string) error {
	if id == "" {
		return fmt.Errorf("%w: member id is required", ErrInvalid)
	}
	return s.changeMembers(ctx, func(timeout time.Duration) error { return s.node.RemoveServer(id, timeout) })
}

// changeMembers runs one membership change on the leader within ctx.
func (s *Store) changeMembers(ctx context.Context, change func(timeout time.Duration) error) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if !s.node.IsLeader() {
		return ErrNotLeader
	}
	timeout := s.cfg.ApplyTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(d))
	}
	// raft answers a change only once it commits, and never if it stops
	// first.
	how, err := s.awaitRaft(ctx, func() error { return change(timeout) })
	switch {
	case how == raftTimedOut:
		return fmt.Errorf("store: membership change proposed, outcome unknown: %w", err)
	case how == raftStopped:
		return fmt.Errorf("store: membership change: %w", errStoppedInFlight)
	case err != nil:
		return fmt.Errorf("store: membership change: %w", mapRaftErr(err))
	}
	return nil
}
