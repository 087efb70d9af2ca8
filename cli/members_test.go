package cli

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dledgermq/dledgermq/bench"
	"github.com/dledgermq/dledgermq/commitlog"
)

// TestMembersCommand drives `dledger-broker members` against a real group
// (through a follower, so changes are forwarded to the leader): list,
// remove a member, add it back.
func TestMembersCommand(t *testing.T) {
	cfg := bench.DefaultClusterConfig(t.TempDir())
	cfg.SegmentSize = commitlog.MinSegmentSize
	cl, err := bench.StartCluster(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	master, err := cl.WaitReady(ctx, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	via, viaID := "", ""
	for i, a := range cl.BrokerAddrs() { // all alive: node i is n<i>
		if a != master {
			via, viaID = a, "n"+strconv.Itoa(i)
			break
		}
	}
	run := func(args ...string) (string, error) {
		app := BrokerApp()
		var out bytes.Buffer
		app.Writer = &out
		err := app.Run(append([]string{"dledger-broker", "members"}, args...))
		return out.String(), err
	}
	rows := func(out string) []string {
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) == 0 || !strings.HasPrefix(lines[0], "ID") {
			t.Fatalf("no header in %q", out)
		}
		return lines[1:]
	}
	out, err := run("list", "--broker", via)
	if err != nil {
		t.Fatal(err)
	}
	members := rows(out)
	if len(members) != 3 || strings.Count(out, "*") != 1 {
		t.Fatalf("list: want 3 members and one leader:\n%s", out)
	}
	// Remove the follower that is not the broker asked.
	var victim, victimAddr string
	for _, r := range members {
		f := strings.Fields(r)
		if len(f) == 3 && f[0] != viaID { // 3 fields: no leader mark
			victim, victimAddr = f[0], f[1]
		}
	}
	if victim == "" {
		t.Fatalf("no follower in:\n%s", out)
	}
	if out, err = run("remove", "--broker", via, "--id", victim); err != nil {
		t.Fatalf("remove %s: %v", victim, err)
	}
	if got := rows(out); len(got) != 2 || strings.Contains(out, victim+" ") {
		t.Fatalf("after removing %s:\n%s", victim, out)
	}
	if out, err = run("add", "--broker", via, "--id", victim, "--raft-addr", victimAddr); err != nil {
		t.Fatalf("add %s back: %v", victim, err)
	}
	if got := rows(out); len(got) != 3 || !strings.Contains(out, victim) {
		t.Fatalf("after adding %s back:\n%s", victim, out)
	}
	if _, err := run("add", "--broker", via, "--id", "n9", "--raft-addr", "no-port"); err == nil {
		t.Error("add with a bad address accepted")
	}
	if _, err := run("list"); err == nil {
		t.Error("list without --broker accepted")
	}
}
