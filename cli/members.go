package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/dledgermq/dledgermq/broker"
	"github.com/dledgermq/dledgermq/remoting"
)

// membersCommand is `dledger-broker members`: the broker group's Raft
// membership, through any of its brokers (DLEDGER_MEMBERS; changes go to
// the leader). Replacing a dead replica: `members remove --id n2`, start
// the new replica with --join, `members add --id n3 --raft-addr host:port`.
func membersCommand() *cli.Command {
	brokerFlag := &cli.StringFlag{Name: "broker", Required: true, Usage: "client-facing address (host:port) of any broker of the group"}
	timeout := &cli.DurationFlag{Name: "timeout", Value: 10 * time.Second, Usage: "how long to wait for the answer"}
	idFlag := &cli.StringFlag{Name: "id", Required: true, Usage: "the member's Raft id"}
	return &cli.Command{
		Name:  "members",
		Usage: "list, add or remove members of a broker group (one change at a time)",
		Subcommands: []*cli.Command{
			{
				Name: "list", Usage: "print the group's members as the asked broker knows them",
				Flags:  []cli.Flag{brokerFlag, timeout},
				Action: func(c *cli.Context) error { return runMembers(c, "list", "", "") },
			},
			{
				Name: "add", Usage: "add a voting member (start it with --join first)",
				Flags: []cli.Flag{brokerFlag, timeout, idFlag,
					&cli.StringFlag{Name: "raft-addr", Required: true, Usage: "the member's Raft address (host:port), as in --peers"}},
				Action: func(c *cli.Context) error { return runMembers(c, "add", c.String("id"), c.String("raft-addr")) },
			},
			{
				Name: "remove", Usage: "remove a member (a leader removing itself steps down)",
				Flags:  []cli.Flag{brokerFlag, timeout, idFlag},
				Action: func(c *cli.Context) error { return runMembers(c, "remove", c.String("id"), "") },
			},
		},
	}
}

// runMembers sends one DLEDGER_MEMBERS request and prints the membership
// it answers with.
func runMembers(c *cli.Context, op, id, addr string) error {
	cl, err := remoting.NewClient(c.String("broker"), remoting.DefaultClientConfig())
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
	defer cancel()
	resp, err := cl.Invoke(ctx, remoting.NewRequest(remoting.DLedgerMembers,
		map[string]string{"op": op, "id": id, "addr": addr}, nil))
	if err != nil {
		return fmt.Errorf("members %s: %w", op, err)
	}
	if resp.ResponseCode() != remoting.Success {
		return fmt.Errorf("members %s: %s: %s", op, resp.ResponseCode(), resp.Remark)
	}
	var reply broker.MembersReply
	if err := json.Unmarshal(resp.Body, &reply); err != nil {
		return fmt.Errorf("members %s: answer %q: %w", op, resp.Body, err)
	}
	if len(reply.Members) == 0 {
		return errors.New("members: the broker knows no members")
	}
	w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tRAFT ADDR\tVOTER\tLEADER")
	for _, m := range reply.Members {
		lead := ""
		if m.ID == reply.Leader {
			lead = "*"
		}
		fmt.Fprintf(w, "%s\t%s\t%v\t%s\n", m.ID, m.Addr, m.Voter, lead)
	}
	return w.Flush()
}
