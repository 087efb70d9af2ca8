package compat

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/dledgermq/dledgermq/remoting"
)

// TestRegressionGhostMemberAfterClose: a HEART_BEAT whose connection closes
// before its handler has run registers the client on the closed connection
// AFTER the close hook (broker.connClosed) already ran, so the group keeps
// a ghost member until the next housekeeping scan (ClientScanInterval,
// 10 s). While it is there, GET_CONSUMER_LIST_BY_GROUP names it and the
// live consumers take only their share of the queues: the ghost's queues
// are not consumed for up to 10 s. The official client hits this when a
// consumer shuts down while a heartbeat is in flight (e.g. its 1 s
// heartbeat timer, or the heartbeat that follows a rebalance).
//
// Reproduction: write a HEART_BEAT frame for a consumer group and close the
// socket at once, many times; then ask the leader for the group's members.
func TestRegressionGhostMemberAfterClose(t *testing.T) {
	c := startCluster(t, clusterOptions{})
	topic := uniqueName("GhostT")
	group := uniqueName("ghost_cg")
	c.createTopic(topic, 4)
	leader := c.waitLeader(10*time.Second, "")

	const attempts = 30
	for i := 0; i < 2*attempts; i++ {
		// Even i: close before the answer (the bug). Odd i: the control,
		// wait for the answer, then close; those must leave at once.
		body := fmt.Sprintf(`{"clientID":"127.0.0.1@ghost-%d","producerDataSet":[],"consumerDataSet":[{"groupName":%q,`+
			`"consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING","consumeFromWhere":"CONSUME_FROM_FIRST_OFFSET",`+
			`"unitMode":false,"subscriptionDataSet":[{"classFilterMode":false,"topic":%q,"subString":"*","tagsSet":[],`+
			`"codeSet":[],"subVersion":1,"expressionType":"TAG"}]}]}`, i, group, topic)
		req := remoting.NewRequest(remoting.HeartBeat, nil, []byte(body))
		req.Opaque = 1
		frame, err := remoting.AppendFrame(nil, req, 16<<20)
		if err != nil {
			t.Fatal(err)
		}
		nc, err := net.Dial("tcp", leader)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := nc.Write(frame); err != nil {
			t.Fatal(err)
		}
		if i%2 == 1 {
			_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
			fr := remoting.NewFrameReader(nc, remoting.DefaultLimits())
			for {
				resp, err := fr.Next()
				if err != nil {
					t.Fatalf("control heartbeat: %v", err)
				}
				if !resp.IsResponse() {
					continue // NOTIFY_CONSUMER_IDS_CHANGED for earlier members
				}
				if resp.Code != int32(remoting.Success) {
					t.Fatalf("control heartbeat: %v", resp)
				}
				break
			}
		}
		_ = nc.Close()
	}
	time.Sleep(500 * time.Millisecond) // every handler and close hook has run
	ids, err := c.consumerIDs(group)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		var n int
		if _, err := fmt.Sscanf(id, "127.0.0.1@ghost-%d", &n); err == nil && n%2 == 1 {
			t.Errorf("control client %s (closed after its answer) is still a member", id)
		}
	}
	if len(ids) > 0 {
		start := time.Now()
		eventually(t, 30*time.Second, "the ghosts to expire", func() (bool, string) {
			left, err := c.consumerIDs(group)
			return err == nil && len(left) == 0, fmt.Sprint(left, err)
		})
		t.Errorf("%d of %d clients whose connection had closed are still members 500 ms later (they expired after another %v): %v",
			len(ids), attempts, time.Since(start).Round(time.Millisecond), ids)
	}
}
