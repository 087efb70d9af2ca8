// Package integration holds the client's tests against the real name
// server and a three-node broker group (integration_test.go). It has no
// code of its own.
package integration
