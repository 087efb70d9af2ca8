package jepsen

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// BinDirEnv names a directory holding prebuilt namesrv and dledger-broker
// binaries; when set, BuildBinaries uses them as they are.
const BinDirEnv = "JEPSEN_BIN_DIR"

// Binaries are the programs a cluster runs.
type Binaries struct {
	Namesrv string // path of namesrv
	Broker  string // path of dledger-broker
}

// BuildBinaries builds ./cmd/namesrv and ./cmd/dledger-broker of the module
// that contains the working directory into dir (go build; the build cache
// makes repeated builds cheap), or, when JEPSEN_BIN_DIR is set, returns
// the binaries there.
func BuildBinaries(ctx context.Context, dir string) (Binaries, error) {
	if pre := os.Getenv(BinDirEnv); pre != "" {
		b := Binaries{Namesrv: filepath.Join(pre, "namesrv"), Broker: filepath.Join(pre, "dledger-broker")}
		for _, p := range []string{b.Namesrv, b.Broker} {
			if fi, err := os.Stat(p); err != nil || fi.Mode()&0o111 == 0 {
				return Binaries{}, fmt.Errorf("%w: %s=%s: %s is not an executable", ErrInvalidConfig, BinDirEnv, pre, p)
			}
		}
		return b, nil
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out, err := runCmd(exec.CommandContext(ctx, goBin, "env", "GOMOD"))
	if err != nil {
		return Binaries{}, err
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return Binaries{}, fmt.Errorf("%w: not inside the module (go env GOMOD is %q)", ErrInvalidConfig, gomod)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Binaries{}, fmt.Errorf("jepsen: build dir: %w", err)
	}
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", dir+string(filepath.Separator), "./cmd/namesrv", "./cmd/dledger-broker")
	cmd.Dir = filepath.Dir(gomod)
	if _, err := runCmd(cmd); err != nil {
		return Binaries{}, err
	}
	return Binaries{Namesrv: filepath.Join(dir, "namesrv"), Broker: filepath.Join(dir, "dledger-broker")}, nil
}
