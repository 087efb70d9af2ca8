// Package compat holds end-to-end compatibility tests: the unmodified
// official Go client (github.com/apache/rocketmq-client-go/v2 v2.1.2) against
// the real `namesrv` and `dledger-broker` binaries, started as subprocesses
// on 127.0.0.1 exactly as users start them.
//
// It is a separate module so the client's dependency tree never enters the
// main module. Everything lives in _test.go files; this file only documents
// the package.
//
// How the tests run (main_test.go, cluster_test.go, process_test.go):
//
//   - TestMain (parent process) builds cmd/namesrv and cmd/dledger-broker
//     once with `go build` in the parent module, then re-executes the test
//     binary with HOME set to a fresh directory: the client computes its
//     broadcasting offset-store directory ($HOME/.rocketmq_client_go) in a
//     package init, before TestMain could change HOME. The child also gets
//     GORACE=suppressions=... naming the known data races inside the client
//     (clientRaceSuppressions); races anywhere else still fail the run.
//   - The child routes the client's log to a file, sets rlog level "error"
//     and installs primitive.PanicHandler, which records the panic so the
//     running tests fail.
//   - A cluster is one NameServer plus a three-node broker group, every port
//     picked free on 127.0.0.1; process output goes to files whose tails are
//     printed (and which are kept) on failure; every process is SIGKILLed in
//     t.Cleanup, and by the parent-death signal on Linux should the test
//     binary die. Topics are created with the client's admin package
//     (UPDATE_AND_CREATE_TOPIC to the leader) and waited for in the route.
//   - TestSharedCluster runs the independent cases as parallel subtests on
//     one cluster (distinct topics and groups); TestFailoverLeaderKill gets
//     its own cluster because it kills the leader.
//   - TestRepro* reproduce broker bugs found here; they are skipped unless
//     DLEDGERMQ_COMPAT_REPRO=1.
//
// Run: `cd compat && go test -race -timeout 15m ./...` (also part of
// `make test`); about a minute. DLEDGERMQ_COMPAT_KEEP=1 keeps the logs of
// a passing run too.
package compat
