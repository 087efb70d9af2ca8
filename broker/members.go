package broker

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/dledgermq/dledgermq/remoting"
	"github.com/dledgermq/dledgermq/store"
)

// DLEDGER_MEMBERS (40001, ours): the group's Raft membership. Ext field
// "op" is list (the default: this replica's view), add ("id" and "addr",
// the member's Raft address) or remove ("id"). Changes run on the leader;
// a follower forwards them like writes. The answer's body is JSON:
// {"leader": "<raft id>", "members": [{"id", "addr", "voter"}, ...]}, the
// configuration after the change. `dledger-broker members` is the
// operator's command (store/members.go says how to replace a replica).

// MembersReply is the body of a DLEDGER_MEMBERS answer.
type MembersReply struct {
	Leader  string         `json:"leader"`
	Members []store.Member `json:"members"`
}

func (b *Broker) handleMembers(ctx context.Context, c *remoting.Conn, req *remoting.Command) *remoting.Command {
	op, id, addr := req.Ext("op"), req.Ext("id"), req.Ext("addr")
	var change func(context.Context) error
	switch op {
	case "", "list":
	case "add":
		change = func(ctx context.Context) error { return b.store.AddVoter(ctx, id, addr) }
	case "remove":
		change = func(ctx context.Context) error { return b.store.RemoveMember(ctx, id) }
	default:
		return remoting.NewResponse(req, remoting.MessageIllegal, fmt.Sprintf("op %q is not list, add or remove", op))
	}
	if change != nil {
		if !b.store.LeaderReady() {
			return b.forwardOrRefuse(ctx, c, req)
		}
		wctx, cancel := context.WithTimeout(ctx, b.cfg.WriteTimeout)
		err := change(wctx)
		cancel()
		if err != nil {
			return b.writeFailed(ctx, c, req, err)
		}
		b.log.Info("broker: group membership changed", "op", op, "id", id, "addr", addr)
	}
	members, err := b.store.Members()
	if err != nil {
		return b.storeErrorResponse(req, err)
	}
	leader, _ := b.store.Leader()
	body, err := json.Marshal(MembersReply{Leader: leader, Members: members})
	if err != nil {
		return remoting.NewResponse(req, remoting.SystemError, err.Error())
	}
	resp := remoting.NewResponse(req, remoting.Success, "")
	resp.Body = body
	return resp
}
