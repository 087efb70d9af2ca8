package dledger

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParsePeers(t *testing.T) {
	peers, err := ParsePeers(" n0=127.0.0.1:20911, n1=127.0.0.1:20912,n2=127.0.0.1:20913 ")
	if err != nil {
		t.Fatal(err)
	}
	want := []Peer{{"n0", "127.0.0.1:20911"}, {"n1", "127.0.0.1:20912"}, {"n2", "127.0.0.1:20913"}}
	if len(peers) != len(want) {
		t.Fatalf("got %v", peers)
	}
	for i := range want {
		if peers[i] != want[i] {
			t.Fatalf("peer %d = %v, want %v", i, peers[i], want[i])
		}
	}
	if got := FormatPeers(peers); got != "n0=127.0.0.1:20911,n1=127.0.0.1:20912,n2=127.0.0.1:20913" {
		t.Fatalf("FormatPeers = %q", got)
	}
	for _, bad := range []string{"", "n0", "=1.2.3.4:5", "n0=", "n0=1.2.3.4:5,oops"} {
		if _, err := ParsePeers(bad); !errors.Is(err, ErrConfig) {
			t.Errorf("ParsePeers(%q) err = %v", bad, err)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	good := DefaultConfig()
	good.ID, good.Dir = "n0", "/tmp/x"
	good.Peers, _ = ParsePeers("n0=127.0.0.1:1,n1=127.0.0.1:2,n2=127.0.0.1:3")
	if err := good.Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}

	bad := good
	bad.ID = "n9"
	bad.Dir = ""
	bad.Peers = append(bad.Peers, Peer{"n1", "0.0.0.0:4"})
	bad.SegmentSize = 1000
	bad.LogStore = "leveldb"
	bad.ElectionTimeout = 100 * time.Millisecond
	bad.LeaderLeaseTimeout = time.Second
	bad.MaxAppendEntries = 5000
	bad.FS = nil
	err := bad.Validate()
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{
		"not among Peers", "Dir is empty", `"n1" appears twice`, "concrete IP", "SegmentSize",
		"LogStore", "ElectionTimeout", "LeaderLeaseTimeout", "MaxAppendEntries", "FS is nil",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate does not report %q:\n%v", want, err)
		}
	}
}
